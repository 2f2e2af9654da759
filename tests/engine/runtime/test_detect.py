from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine.errors import InvalidArgument, RuntimeFailure
from engine.runtime import detect

ROOT = "23 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
TMPFS = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
V1 = "".join(
    f"{32 + i} 31 0:{29 + i} / /sys/fs/cgroup/{name} rw,relatime shared:{i} - cgroup cgroup rw,{opt}\n"
    for i, (name, opt) in enumerate([("cpu", "cpu"), ("memory", "memory"), ("systemd", "name=systemd")])
)
UNIFIED = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
PURE_V2 = "31 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"


def fake_host(tmp_path: Path, mountinfo: str, unified_controllers: str | None = None) -> tuple[Path, Path]:
    """A mountinfo file and a tree to read cgroup.controllers from."""
    info = tmp_path / "mountinfo"
    info.write_text(mountinfo)
    root = tmp_path / "root"
    if unified_controllers is not None:
        unified = root / "sys/fs/cgroup/unified"
        unified.mkdir(parents=True)
        (unified / "cgroup.controllers").write_text(unified_controllers)
    return info, root


def fake_runtimes(tmp_path: Path, *names: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        path = bin_dir / name
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return str(bin_dir)


@pytest.mark.unit
def test_pure_v2(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + PURE_V2)
    assert detect.cgroup_mode(info) == "v2"
    assert detect.hybrid_v2_controllers(info, root) == []


@pytest.mark.unit
def test_pure_v1(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + TMPFS + V1)
    assert detect.cgroup_mode(info) == "v1"
    assert detect.hybrid_v2_controllers(info, root) == []


@pytest.mark.unit
def test_hybrid_with_controllers(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + TMPFS + V1 + UNIFIED, "hugetlb\n")
    assert detect.cgroup_mode(info) == "hybrid"
    assert detect.hybrid_v2_controllers(info, root) == ["hugetlb"]


@pytest.mark.unit
def test_hybrid_empty(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + TMPFS + V1 + UNIFIED, "\n")
    assert detect.cgroup_mode(info) == "hybrid"
    assert detect.hybrid_v2_controllers(info, root) == []


@pytest.mark.unit
def test_no_cgroups_at_all_reads_as_v1(tmp_path: Path) -> None:
    info, _ = fake_host(tmp_path, ROOT)
    assert detect.cgroup_mode(info) == "v1"


@pytest.mark.unit
def test_mount_points_with_escaped_spaces(tmp_path: Path) -> None:
    info, _ = fake_host(tmp_path, "41 31 0:38 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n")
    assert detect.cgroup_mounts(info) == [detect.CgroupMount("/mnt/my cgroups", "cgroup2", ("rw",))]


@pytest.mark.unit
def test_crun_preferred_on_pure_v2(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + PURE_V2)
    bin_dir = fake_runtimes(tmp_path, "crun", "runc")
    choice = detect.detect_runtime(search_path=bin_dir, mountinfo=info, fs_root=root)
    assert choice == detect.RuntimeChoice("crun", f"{bin_dir}/crun", "crun is the preferred runtime")


@pytest.mark.unit
def test_crun_on_hybrid_without_v2_controllers(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + TMPFS + V1 + UNIFIED, "")
    bin_dir = fake_runtimes(tmp_path, "crun", "runc")
    assert detect.detect_runtime(search_path=bin_dir, mountinfo=info, fs_root=root).name == "crun"


@pytest.mark.unit
def test_runc_on_hybrid_with_controllers_says_why(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + TMPFS + V1 + UNIFIED, "hugetlb\n")
    bin_dir = fake_runtimes(tmp_path, "crun", "runc")
    choice = detect.detect_runtime(search_path=bin_dir, mountinfo=info, fs_root=root)
    assert (choice.name, choice.path) == ("runc", f"{bin_dir}/runc")
    assert "hybrid cgroups" in choice.reason
    assert "hugetlb" in choice.reason
    assert "crun cannot run here" in choice.reason


@pytest.mark.unit
def test_runc_when_crun_is_missing(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + PURE_V2)
    bin_dir = fake_runtimes(tmp_path, "runc")
    choice = detect.detect_runtime(search_path=bin_dir, mountinfo=info, fs_root=root)
    assert choice.name == "runc"
    assert choice.reason == "crun is not installed; using runc"


@pytest.mark.unit
def test_no_runtime_at_all(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + PURE_V2)
    with pytest.raises(RuntimeFailure, match="install crun or runc"):
        detect.detect_runtime(search_path=fake_runtimes(tmp_path), mountinfo=info, fs_root=root)


@pytest.mark.unit
def test_only_crun_on_a_host_it_refuses(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + TMPFS + V1 + UNIFIED, "hugetlb")
    with pytest.raises(RuntimeFailure, match="runc is missing"):
        detect.detect_runtime(search_path=fake_runtimes(tmp_path, "crun"), mountinfo=info, fs_root=root)


@pytest.mark.unit
def test_preferred_runc_is_honoured_even_where_crun_works(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + PURE_V2)
    bin_dir = fake_runtimes(tmp_path, "crun", "runc")
    choice = detect.detect_runtime("runc", search_path=bin_dir, mountinfo=info, fs_root=root)
    assert choice == detect.RuntimeChoice("runc", f"{bin_dir}/runc", "runc was asked for")


@pytest.mark.unit
def test_preferred_by_path(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + PURE_V2)
    bin_dir = fake_runtimes(tmp_path, "crun")
    choice = detect.detect_runtime(f"{bin_dir}/crun", search_path="", mountinfo=info, fs_root=root)
    assert (choice.name, choice.path) == ("crun", f"{bin_dir}/crun")


@pytest.mark.unit
def test_preferred_crun_on_hybrid_host_is_refused(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + TMPFS + V1 + UNIFIED, "hugetlb")
    bin_dir = fake_runtimes(tmp_path, "crun", "runc")
    with pytest.raises(InvalidArgument, match=r"crun cannot run here: .*hybrid cgroups.*; use runc"):
        detect.detect_runtime("crun", search_path=bin_dir, mountinfo=info, fs_root=root)


@pytest.mark.unit
def test_preferred_missing_runtime_is_refused(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + PURE_V2)
    bin_dir = fake_runtimes(tmp_path, "runc")
    with pytest.raises(InvalidArgument, match="'crun' was not found"):
        detect.detect_runtime("crun", search_path=bin_dir, mountinfo=info, fs_root=root)
    with pytest.raises(InvalidArgument, match="was not found or is not executable"):
        detect.detect_runtime(f"{tmp_path}/nowhere/runc", mountinfo=info, fs_root=root)


@pytest.mark.unit
def test_preferred_unknown_runtime_is_refused(tmp_path: Path) -> None:
    info, root = fake_host(tmp_path, ROOT + PURE_V2)
    with pytest.raises(InvalidArgument, match="unknown runtime 'kata': berthd runs crun or runc"):
        detect.detect_runtime("kata", mountinfo=info, fs_root=root)


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
def test_this_host_is_hybrid_and_gets_runc() -> None:
    # The verified host: v1 controllers plus /sys/fs/cgroup/unified with hugetlb.
    unified = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    if not unified.exists() or not unified.read_text().split():
        pytest.skip("this host is not a hybrid-cgroup host with v2 controllers")
    assert detect.cgroup_mode() == "hybrid"
    choice = detect.detect_runtime()
    assert choice.name == "runc"
    assert os.path.samefile(choice.path, shutil.which("runc") or "")
    assert "hybrid cgroups" in choice.reason
