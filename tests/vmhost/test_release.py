"""Guest images as release artifacts: packed reproducibly, fetched from a (loopback) release location,
resumed after a cut, verified before unpacking, refused when corrupted. No VM is booted."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vmhost.release_server import Served, release_server
from vmhost import cli
from vmhost.image import GuestImage
from vmhost.machine import MachineError
from vmhost.machines import Machines
from vmhost.release import (
    Download,
    ReleaseError,
    archive_name,
    fetch,
    load_manifest,
    manifest_name,
    pack,
    pack_rootfs,
    problems,
    rootfs_name,
    unpack,
    write_manifest,
)

pytestmark = pytest.mark.unit

ARCH = "x86_64"
REPO = Path(__file__).resolve().parents[2]


def fake_image(directory: Path, arch: str = ARCH) -> GuestImage:
    directory.mkdir(parents=True)
    (directory / "vmlinuz").write_bytes(b"kernel" * 1000)
    (directory / "initrd.img").write_bytes(b"initrd" * 1000)
    # Big enough that a download takes several reads and a cut lands in the middle.
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(directory / "rootfs.qcow2"), "1G"], check=True)
    with (directory / "rootfs.qcow2").open("ab") as f:
        f.write(bytes(range(256)) * 12_000)
    (directory / "manifest.json").write_text(json.dumps({"arch": arch, "kernel": "6.1.0-fake", "berthd": "0.1.0",
                                                          "source_date_epoch": 1700000000, "key": "k"}))
    return GuestImage(directory)


@pytest.fixture
def release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Served, Path]]:
    """A release with one x86_64 archive, served from loopback, and the pin naming it."""
    if not shutil.which("qemu-img"):
        pytest.skip("needs qemu-img (qemu-utils)")
    www = tmp_path / "www"
    archive, entry = pack(fake_image(tmp_path / "built"), www, "0.1.0")
    pin = tmp_path / "guest-image.json"
    write_manifest(pin, "0.1.0", {ARCH: entry}, "https://releases.invalid/berth/0.1.0")
    monkeypatch.setenv("BERTH_GUEST_MANIFEST", str(pin))
    monkeypatch.setenv("BERTH_GUEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERTH_GUEST_URL", raising=False)
    monkeypatch.setattr("vmhost.machines.host_arch", lambda: __import__("vmhost.arch").arch.arch(ARCH))
    # init makes the machine's disk with the qemu-img next to QEMU: a stand-in QEMU beside the real one.
    qemu = tmp_path / "bin" / "qemu-system-x86_64"
    qemu.parent.mkdir()
    qemu.write_text("#!/bin/sh\nexit 0\n")
    qemu.chmod(0o755)
    (qemu.parent / "qemu-img").symlink_to(shutil.which("qemu-img") or "qemu-img")
    monkeypatch.setenv("BERTH_QEMU", str(qemu))
    with release_server(www) as served:
        yield served, archive


def test_pack_is_reproducible_and_the_pin_is_complete(tmp_path: Path) -> None:
    if not shutil.which("qemu-img"):
        pytest.skip("needs qemu-img (qemu-utils)")
    image = fake_image(tmp_path / "built")
    first, entry = pack(image, tmp_path / "a", "0.1.0")
    second, again = pack(image, tmp_path / "b", "0.1.0")
    assert first.name == archive_name("0.1.0", ARCH) == "berth-guest-0.1.0-x86_64.tar"
    assert first.read_bytes() == second.read_bytes() and entry == again
    assert entry["size"] == first.stat().st_size and entry["berthd"] == "0.1.0"
    manifest = tmp_path / manifest_name("0.1.0")
    write_manifest(manifest, "0.1.0", {ARCH: entry}, "https://releases.invalid/0.1.0")
    assert problems(load_manifest(manifest)) == []
    with tarfile.open(first) as tar:
        assert [(m.name, m.uid, m.mtime) for m in tar.getmembers()] == [
            (name, 0, 1700000000) for name in ("vmlinuz", "initrd.img", "rootfs.qcow2", "manifest.json")]


def test_the_committed_pin_has_two_architectures_and_a_format() -> None:
    pin = load_manifest(Path(__file__).resolve().parents[2] / "packaging" / "guest-image.json")
    assert pin["format"] == 2 and set(pin["images"]) == {"x86_64", "aarch64"}
    # Unpinned until a release fills it in: a Mac or Windows app build refuses it (packaging check).
    assert any("not pinned" in problem for problem in problems(pin)) or problems(pin) == []


def test_first_run_fetches_the_hosts_image_from_the_release_location(release: tuple[Served, Path],
                                                                     tmp_path: Path) -> None:
    served, archive = release
    seen: list[Download] = []
    machines = Machines(tmp_path / "machines")
    machine = machines.init("dev", shares=[], image_url=served.base, download=seen.append)
    guest = GuestImage(Path(machine.image))
    assert guest.complete() and guest.arch == ARCH and machine.arch == ARCH
    assert guest.rootfs.read_bytes() == (tmp_path / "built" / "rootfs.qcow2").read_bytes()
    assert seen[-1].received == seen[-1].total == archive.stat().st_size
    assert not list((tmp_path / "cache" / "downloads").iterdir())  # the archive goes once unpacked
    # A second machine reuses the unpacked image: no second download.
    machines.init("two", shares=[], image_url=served.base)
    assert served.ranges == [""]


def test_an_interrupted_download_resumes_where_it_stopped(release: tuple[Served, Path], tmp_path: Path) -> None:
    served, archive = release
    served.cut_next = 1
    seen: list[Download] = []
    machine = Machines(tmp_path / "machines").init("dev", shares=[], image_url=served.base, download=seen.append)
    assert GuestImage(Path(machine.image)).complete()
    half = (archive.stat().st_size) // 2
    assert served.ranges == ["", f"bytes={half}-"]
    assert any(d.resumed_from == half for d in seen)
    assert "resumed at" in seen[-1].describe()


def test_a_download_cut_off_is_kept_and_the_next_run_resumes(release: tuple[Served, Path], tmp_path: Path) -> None:
    served, archive = release
    entry = load_manifest(tmp_path / "guest-image.json")["images"][ARCH]
    dest = tmp_path / "dl" / archive.name
    served.cut_next = 1
    with pytest.raises(ReleaseError, match="the next try resumes there"):
        fetch(f"{served.base}/{archive.name}", dest, entry["size"], entry["sha256"], attempts=1)
    assert dest.with_name(dest.name + ".part").stat().st_size == archive.stat().st_size // 2
    fetch(f"{served.base}/{archive.name}", dest, entry["size"], entry["sha256"])
    assert dest.read_bytes() == archive.read_bytes()
    assert served.ranges[-1] == f"bytes={archive.stat().st_size // 2}-"


def test_a_corrupted_archive_is_deleted_and_no_machine_is_made(release: tuple[Served, Path],
                                                                 tmp_path: Path) -> None:
    served, _ = release
    served.corrupt = True
    machines = Machines(tmp_path / "machines")
    with pytest.raises(MachineError, match=r"does not match its pinned digest.*deleted and will not be booted"):
        machines.init("dev", shares=[], image_url=served.base)
    cache = tmp_path / "cache"
    assert list((cache / "downloads").iterdir()) == []
    assert not list(cache.glob("release-*"))
    assert machines.all() == []


def test_cli_init_shows_download_progress(release: tuple[Served, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    served, _ = release
    out = io.StringIO()
    assert cli.run(["init", "dev", "--no-share", "--image-url", served.base], out,
                   Machines(tmp_path / "machines")) == 0
    err = capsys.readouterr().err
    assert "fetching the x86_64 guest image" in err
    assert "downloading berth-guest-0.1.0-x86_64.tar:" in err and "(100 %)" in err and "MB/s" in err
    assert "guest image release-" in err
    assert "created machine dev" in out.getvalue()


def test_guest_url_from_the_environment_and_a_local_directory(release: tuple[Served, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _, archive = release
    monkeypatch.setenv("BERTH_GUEST_URL", str(archive.parent))  # a directory holding the release
    machine = Machines(tmp_path / "machines").init("dev", shares=[])
    assert GuestImage(Path(machine.image)).complete()


def test_a_local_archive_is_verified_against_its_manifest(tmp_path: Path, release: tuple[Served, Path]) -> None:
    _, archive = release
    local = tmp_path / "mine" / archive.name
    local.parent.mkdir()
    shutil.copy(archive, local)
    machines = Machines(tmp_path / "machines")
    assert GuestImage(Path(machines.init("dev", local, shares=[]).image)).complete()
    data = bytearray(local.read_bytes())
    data[-100] ^= 0xFF
    local.write_bytes(bytes(data))
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(MachineError, match="does not match the digest"):
        machines.init("bad", local, shares=[])


def test_an_unpinned_build_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pin = tmp_path / "guest-image.json"
    pin.write_text(json.dumps({"format": 2, "version": "0.1.0", "base_url": None,
                               "images": {"x86_64": {"file": None, "size": None, "sha256": None}}}))
    monkeypatch.setenv("BERTH_GUEST_MANIFEST", str(pin))
    monkeypatch.setenv("BERTH_GUEST_URL", "http://127.0.0.1:9")
    with pytest.raises(MachineError, match="pins no guest image for"):
        Machines(tmp_path / "machines").init("dev", shares=[])


def test_unpack_takes_only_the_image_files(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        for name in ("vmlinuz", "initrd.img", "manifest.json"):
            tar.addfile(tarfile.TarInfo(name))
        link = tarfile.TarInfo("rootfs.qcow2")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(ReleaseError, match="not a regular file"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_one_command_builds_packs_and_pins_both_arches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not shutil.which("qemu-img"):
        pytest.skip("needs qemu-img (qemu-utils)")
    import vmhost.image
    import vmhost.wslmachine
    from vmhost.release import main

    built = {arch: fake_image(tmp_path / arch, arch) for arch in ("x86_64", "aarch64")}
    monkeypatch.setattr(vmhost.image, "build", lambda progress, guest_arch: built[guest_arch])
    # The root file system's export loop-mounts the image's disk (root, a real image): a tar of files stands in.
    monkeypatch.setattr(vmhost.wslmachine, "export_rootfs", lambda image_dir: fake_rootfs_tar(image_dir))
    pin = tmp_path / "guest-image.json"
    assert main(["build", "--out", str(tmp_path / "dist"), "--base-url", "https://r.invalid/berth/0.1.0",
                 "--pin", str(pin)]) == 0
    release = load_manifest(tmp_path / "dist" / manifest_name("0.1.0"))
    assert load_manifest(pin) == release and problems(release, require_rootfs=True) == []
    for arch in ("x86_64", "aarch64"):
        entry = release["images"][arch]
        assert (tmp_path / "dist" / entry["file"]).stat().st_size == entry["size"]
        assert entry["file"] == archive_name("0.1.0", arch) and entry["berthd"] == "0.1.0"
        rootfs = release["rootfs"][arch]
        assert rootfs["file"] == rootfs_name("0.1.0", arch) == f"berth-wsl-0.1.0-{arch}.tar.gz"
        assert (rootfs["arch"], rootfs["berthd"]) == (arch, "0.1.0")
        assert (tmp_path / "dist" / rootfs["file"]).stat().st_size == rootfs["size"]
        with tarfile.open(tmp_path / "dist" / rootfs["file"]) as tar:  # gzip'd, as wsl --import reads it
            assert "./etc/os-release" in tar.getnames()


# ---- the WSL machine's root file system, a release artifact beside the guest image ----

def fake_rootfs_tar(image_dir: Path) -> Path:
    """What vmhost.wslmachine.export_rootfs writes beside a guest image: its root file system as a tar."""
    out = image_dir / "rootfs.tar"
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (("./etc/os-release", b"PRETTY_NAME=\"Berth guest\"\n"),
                           ("./opt/berth/engine/__init__.py", b"__version__ = \"0.1.0\"\n" * 2000)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1700000000
            tar.addfile(info, io.BytesIO(data))
    return out


def fake_manifest_only_image(directory: Path, arch: str) -> GuestImage:
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps({"arch": arch, "berthd": "0.1.0", "key": "k"}))
    return GuestImage(directory)


def test_the_wsl_root_file_system_is_packed_reproducibly_and_pinned(tmp_path: Path) -> None:
    image = fake_manifest_only_image(tmp_path / "built", ARCH)
    tar = fake_rootfs_tar(image.path)
    first, entry = pack_rootfs(image, tar, tmp_path / "a", "0.1.0")
    second, again = pack_rootfs(image, tar, tmp_path / "b", "0.1.0")
    assert first.name == "berth-wsl-0.1.0-x86_64.tar.gz"
    assert first.read_bytes() == second.read_bytes() and entry == again
    assert entry["size"] == first.stat().st_size and (entry["arch"], entry["berthd"]) == (ARCH, "0.1.0")
    with tarfile.open(first, "r:gz") as packed, tarfile.open(tar) as plain:
        assert [(m.name, m.size) for m in packed.getmembers()] == [(m.name, m.size) for m in plain.getmembers()]
    manifest = tmp_path / manifest_name("0.1.0")
    write_manifest(manifest, "0.1.0", {}, "https://r.invalid/0.1.0")
    images = {"file": archive_name("0.1.0", ARCH), "size": 1, "sha256": "0" * 64}
    write_manifest(manifest, "0.1.0", {ARCH: images})
    assert problems(load_manifest(manifest)) == []  # the macOS build needs no WSL root file system
    assert problems(load_manifest(manifest), require_rootfs=True) == ["rootfs x86_64: no entry"]
    write_manifest(manifest, "0.1.0", {}, rootfs={ARCH: entry})
    data = load_manifest(manifest)
    assert data["rootfs"][ARCH] == entry and data["images"][ARCH] == images
    assert problems(data, require_rootfs=True) == []
    write_manifest(manifest, "0.2.0", {})  # another release: no digest of this one is kept
    assert "rootfs" not in load_manifest(manifest) and load_manifest(manifest)["images"] == {}


def test_the_windows_build_refuses_a_pin_without_the_wsl_root_file_system(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("guest_image", REPO / "packaging" / "guest_image.py")
    assert spec is not None and spec.loader is not None
    guest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guest)
    entry = {"file": "berth-guest-0.1.0-x86_64.tar", "size": 10, "sha256": "0" * 64}
    pinned = tmp_path / "guest-image.json"
    pinned.write_text(json.dumps({"format": 2, "version": "0.1.0", "base_url": "https://r.invalid/0.1.0",
                                  "images": {"x86_64": entry}}))
    assert guest.main(["check", str(pinned)]) == 0
    assert guest.main(["check", "--wsl", str(pinned)]) == 1
    data = json.loads(pinned.read_text())
    data["rootfs"] = {"x86_64": {"file": "berth-wsl-0.1.0-x86_64.tar.gz", "size": 10, "sha256": "1" * 64}}
    pinned.write_text(json.dumps(data))
    assert guest.main(["check", "--wsl", str(pinned)]) == 0
    committed = load_manifest(REPO / "packaging" / "guest-image.json")
    assert set(committed["rootfs"]) == {"x86_64", "aarch64"}
    assert any(p.startswith("rootfs ") and "not pinned" in p for p in problems(committed, require_rootfs=True))


@pytest.fixture
def wsl_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Served, Path]]:
    """Windows faked, wsl.exe's stand-in on BERTH_WSL, no guest image here, and a release serving the host's
    WSL root file system from loopback, pinned."""
    from tests.support import wsl_standin
    from vmhost import localend
    from vmhost.arch import host_arch

    arch = host_arch().name
    www = tmp_path / "www"
    image = fake_manifest_only_image(tmp_path / "built", arch)
    archive, entry = pack_rootfs(image, fake_rootfs_tar(image.path), www, "0.1.0")
    pin = tmp_path / "guest-image.json"
    write_manifest(pin, "0.1.0", {}, "https://releases.invalid/berth/0.1.0", rootfs={arch: entry})
    monkeypatch.setattr(localend, "system", lambda: "Windows")
    monkeypatch.setenv("BERTH_GUEST_MANIFEST", str(pin))
    monkeypatch.setenv("BERTH_GUEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERTH_GUEST_URL", raising=False)
    state = tmp_path / "wsl-state"
    monkeypatch.setenv("BERTH_WSL", str(wsl_standin.write_shim(tmp_path / "wsl", state)))
    monkeypatch.setenv("BERTH_WSL_STANDIN", str(state))
    with release_server(www) as served:
        yield served, archive


def wsl_distro_files(machines: Machines, name: str) -> Path:
    """Where the stand-in unpacked the distro's root file system (WSL's ext4.vhdx on Windows)."""
    return machines.root / name / "distro" / "rootfs"


def test_wsl_first_run_imports_the_release_root_file_system(wsl_release: tuple[Served, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from vmhost.arch import host_arch
    from vmhost.wsl import Wsl, distro_name, find_wsl

    served, archive = wsl_release
    machines = Machines(tmp_path / "machines")
    out = io.StringIO()
    assert cli.run(["init", "dev", "--backend", "wsl", "--image-url", served.base], out, machines) == 0
    err = capsys.readouterr().err
    assert f"fetching the {host_arch().name} root file system for WSL" in err
    assert f"downloading {archive.name}:" in err and "(100 %)" in err
    assert f"importing {archive.name} as WSL distro berth-dev" in err
    machine = machines.get("dev")
    installed = Path(machine.image)
    assert machine.backend == "wsl" and installed.name == archive.name
    assert installed.parent.name.startswith("wsl-") and installed.read_bytes() == archive.read_bytes()
    assert not list((tmp_path / "cache" / "downloads").iterdir())
    distro = Wsl(find_wsl() or "").get(distro_name("dev"))
    assert distro is not None and distro.version == 2
    assert (wsl_distro_files(machines, "dev") / "etc" / "os-release").read_bytes().startswith(b"PRETTY_NAME")
    # A second machine imports the same verified file: no second download.
    machines.init("two", backend="wsl", image_url=served.base)
    assert served.ranges == [""]
    for name in ("dev", "two"):
        machines.remove(name)
    assert Wsl(find_wsl() or "").distros() == []


def test_wsl_root_file_system_from_a_local_directory(wsl_release: tuple[Served, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, archive = wsl_release
    monkeypatch.setenv("BERTH_GUEST_URL", archive.parent.as_uri())  # file://, as a mirror on a share would be
    machines = Machines(tmp_path / "machines")
    machine = machines.init("dev", backend="wsl")
    assert Path(machine.image).read_bytes() == archive.read_bytes()
    machines.remove("dev")


def test_a_corrupted_wsl_root_file_system_is_deleted_and_never_imported(wsl_release: tuple[Served, Path],
                                                                       tmp_path: Path) -> None:
    from vmhost.wsl import Wsl, find_wsl

    served, _ = wsl_release
    served.corrupt = True
    machines = Machines(tmp_path / "machines")
    with pytest.raises(MachineError, match=r"does not match its pinned digest.*will not be booted"):
        machines.init("dev", backend="wsl", image_url=served.base)
    assert list((tmp_path / "cache" / "downloads").iterdir()) == []
    assert not list((tmp_path / "cache").glob("wsl-*"))
    assert machines.all() == [] and Wsl(find_wsl() or "").distros() == []


def test_a_build_that_pins_no_wsl_root_file_system_says_what_to_do(wsl_release: tuple[Served, Path],
                                                                   tmp_path: Path) -> None:
    served, _ = wsl_release
    pin = tmp_path / "guest-image.json"
    data = load_manifest(pin)
    data.pop("rootfs")
    pin.write_text(json.dumps(data))
    with pytest.raises(MachineError, match=r"pins no WSL root file system for .*pass --image"):
        Machines(tmp_path / "machines").init("dev", backend="wsl", image_url=served.base)
    assert served.ranges == []
