"""Run bundles built by spec.build_config through the real runc.

The container's own view (/proc/self/status, hostname, limits) is the evidence that
the config says what we meant and that runc accepts it on this host.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.runtime.rlimits import host_hard_limit
from engine.runtime.spec import DEFAULT_CAPABILITIES, RuntimeSpec, build_config, capability_mask, probe_host

BUSYBOX = Path("/bin/busybox")
RUNC = shutil.which("runc")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="runc needs root"),
    pytest.mark.skipif(RUNC is None, reason="runc is not installed"),
    pytest.mark.skipif(not BUSYBOX.exists(), reason="/bin/busybox (busybox-static) is not installed"),
]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A bundle directory with a busybox rootfs: the static binary plus a link per applet."""
    bin_dir = tmp_path / "bundle" / "rootfs" / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(BUSYBOX, bin_dir / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True, text=True).stdout
    for applet in applets.split():
        if applet != "busybox":
            (bin_dir / applet).symlink_to("busybox")
    for directory in ("proc", "sys", "dev", "tmp", "etc"):
        (tmp_path / "bundle" / "rootfs" / directory).mkdir()
    return tmp_path / "bundle"


@pytest.fixture
def runc_root(tmp_path: Path) -> Iterator[Path]:
    """A private runc state directory, so the host's /run/runc is left alone."""
    root = tmp_path / "runc-state"
    root.mkdir()
    yield root


def run_container(bundle: Path, runc_root: Path, script: str, **spec_fields: Any) -> tuple[str, list[str]]:
    """Run `sh -c script` in a fresh container; return its stdout and the build warnings."""
    container_id = f"berth-test-{uuid.uuid4().hex[:12]}"
    spec = RuntimeSpec(
        container_id=container_id,
        rootfs=bundle / "rootfs",
        args=["sh", "-c", script],
        env=[],
        # A top-level cgroup of its own, so runc removes all of it on delete.
        cgroups_path=f"/{container_id}",
        **spec_fields,
    )
    config, warnings = build_config(spec)
    (bundle / "config.json").write_text(json.dumps(config))
    runc = [str(RUNC), "--root", str(runc_root)]
    try:
        result = subprocess.run(
            [*runc, "run", "--bundle", str(bundle), container_id],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        subprocess.run([*runc, "delete", "--force", container_id], capture_output=True, timeout=60)
    assert result.returncode == 0, f"runc failed ({result.returncode}): {result.stderr}"
    return result.stdout, warnings


def status_field(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} not in output:\n{output}")


def test_default_container_has_dockers_caps_seccomp_and_hostname(bundle: Path, runc_root: Path) -> None:
    out, warnings = run_container(
        bundle,
        runc_root,
        "cat /proc/self/status; echo host=$(hostname); echo nofile=$(ulimit -n);"
        " echo timer_list=$(wc -c < /proc/timer_list);"
        " if echo 1 > /proc/sys/kernel/domainname 2>/dev/null; then echo sys=rw; else echo sys=ro; fi;"
        " if mount -t tmpfs none /tmp 2>/dev/null; then echo mount=ok; else echo mount=denied; fi",
        hostname="berth-box",
    )
    assert warnings == []
    assert int(status_field(out, "CapEff"), 16) == capability_mask(DEFAULT_CAPABILITIES) == 0xA80425FB
    assert int(status_field(out, "CapBnd"), 16) == 0xA80425FB
    assert status_field(out, "Seccomp") == "2"
    assert status_field(out, "NoNewPrivs") == "0"
    assert "host=berth-box" in out
    assert f"nofile={min(1048576, host_hard_limit(resource.RLIMIT_NOFILE))}" in out
    if Path("/proc/timer_list").exists():  # masked paths the kernel lacks are skipped
        assert "timer_list=0" in out
    assert "sys=ro" in out
    assert "mount=denied" in out  # no CAP_SYS_ADMIN, and seccomp filters mount too


def test_custom_seccomp_profile_is_enforced(bundle: Path, runc_root: Path) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }
    out, _ = run_container(bundle, runc_root, "mkdir /tmp/x 2>&1; echo rc=$?", seccomp=profile)
    assert "Permission denied" in out
    assert "rc=1" in out


def test_privileged_gets_host_capabilities_without_seccomp(bundle: Path, runc_root: Path) -> None:
    out, _ = run_container(bundle, runc_root, "cat /proc/self/status", privileged=True)
    expected = capability_mask(sorted(probe_host().bounding_capabilities))
    assert int(status_field(out, "CapEff"), 16) == expected
    assert status_field(out, "Seccomp") == "0"


def test_non_root_user_limits_and_no_new_privileges(bundle: Path, runc_root: Path) -> None:
    out, _ = run_container(
        bundle,
        runc_root,
        "cat /proc/self/status; id;"
        " cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
        uid=1000,
        gid=1000,
        additional_gids=[5],
        cap_add=["NET_ADMIN"],
        no_new_privileges=True,
        pids_limit=42,
    )
    assert int(status_field(out, "CapEff"), 16) == 0
    assert int(status_field(out, "CapBnd"), 16) & (1 << 12)  # NET_ADMIN stays in the bounding set
    assert status_field(out, "NoNewPrivs") == "1"
    assert "uid=1000 gid=1000 groups=5" in out
    assert out.strip().splitlines()[-1] == "42"
