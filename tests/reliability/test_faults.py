"""Faults: berthd killed mid-operation, conmon killed, a full disk. After each, the store is
consistent (`berthd --check` finds nothing it cannot repair) and nothing is left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    bridge_ports,
    import_tar,
    mounts_under,
    oci_layout_with_big_layer,
    private_berthd,
    run_check,
    runtime_ids,
    sigkill,
    stream_lines,
    wait_until,
)
from tests.support.daemon import Berthd, prerequisites_missing
from tests.support.registry import require, running_registry, skopeo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)


def _containers(d: Berthd) -> list[dict[str, object]]:
    return list(d.api.json("GET", "/containers/json?all=1"))


def _leftovers(d: Berthd) -> list[str]:
    """Everything mounted, namespaced or plugged that belongs to no running container."""
    running = {str(c["Id"]) for c in _containers(d) if c["State"] == "running"}
    found = [f"orphaned mount {point}" for point in mounts_under(d.base) if not any(cid in point for cid in running)]
    netns = d.exec_root / "netns"
    left = {p.name for p in netns.iterdir()} if netns.is_dir() else set()
    found += [f"orphaned network namespace {name}" for name in left - running]
    if len(bridge_ports(d)) > len(running):
        found.append(f"orphaned veths {bridge_ports(d)} for {len(running)} running")
    live = {cid for cid, status in runtime_ids(d).items() if status != "stopped"}
    found += [f"runtime has a container berthd does not run: {cid}" for cid in live - running]
    return found


def _assert_no_leftovers(d: Berthd) -> None:
    # berthd serves while it removes what a crash left of the networks' kernel side: wait for that.
    wait_until(lambda: not _leftovers(d), timeout=30)
    assert _leftovers(d) == []


def test_sigkill_during_pull_leaves_no_partial_image(tmp_path: Path) -> None:
    require("skopeo")
    layout = oci_layout_with_big_layer(tmp_path / "oci", 160 << 20)
    with running_registry(tmp_path / "registry") as registry:
        name = f"{registry.host}/faults/big"
        out = skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:big", f"docker://{name}:1", timeout=120)
        assert out.returncode == 0, out.stderr
        with private_berthd(tmp_path / "d") as d:
            killed_at = ""
            for event in stream_lines(d, "POST", f"/images/create?fromImage={name}&tag=1"):
                status = str(event.get("status", ""))
                assert "error" not in event, event
                if status in ("Downloading", "Extracting"):
                    killed_at = status
                    sigkill(d)
                    break
            assert killed_at, "the pull finished before it could be interrupted"
            code, report = run_check(d)
            assert code == 0, report  # only crash leftovers, all repaired
            code, report = run_check(d, "--no-repair")
            assert report["clean"], report
            d.start()
            assert d.api.request("GET", f"/images/{name}:1/json")[0] == 404
            assert all(f"{name}:1" not in (i.get("RepoTags") or []) for i in d.api.json("GET", "/images/json"))
            # the same pull then completes, from scratch
            last = list(stream_lines(d, "POST", f"/images/create?fromImage={name}&tag=1"))[-1]
            assert "error" not in last and "Downloaded newer image" in str(last.get("status")), last
            assert d.api.request("GET", f"/images/{name}:1/json")[0] == 200


def test_sigkill_during_create_and_start(tmp_path: Path, busybox_tar: Path) -> None:
    with private_berthd(tmp_path / "d") as d:
        import_tar(d, busybox_tar.read_bytes(), "busybox")
        stop = threading.Event()
        errors: list[str] = []

        def churn() -> None:
            while not stop.is_set():
                try:
                    status, _, body = d.api.request("POST", "/containers/create", {
                        "Image": "busybox", "Cmd": ["sleep", "300"], "StopSignal": "SIGKILL"})
                    if status != 201:
                        continue
                    cid = json.loads(body)["Id"]
                    d.api.request("POST", f"/containers/{cid}/start")
                except OSError as e:  # the daemon went away under us: expected
                    errors.append(str(e))
                    return

        threads = [threading.Thread(target=churn) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(2.5)
        sigkill(d)
        stop.set()
        for t in threads:
            t.join(30)
        d.start()  # berthd's own restore, no check first: it must settle interrupted starts itself
        containers = _containers(d)
        assert containers, "nothing was created before the kill"
        _assert_no_leftovers(d)
        # every container the daemon lists can be driven: started, then removed
        for c in containers:
            if c["State"] != "running":
                status, _, body = d.api.request("POST", f"/containers/{c['Id']}/start")
                assert status in (204, 304), body
        d.remove_all_containers()
        assert _containers(d) == []
        assert mounts_under(d.base) == []
        # The kernel destroys an unbound namespace, and the veths with an end in it, in its own time
        # (tens of ms here, seconds on a loaded host): wait for it, bounded.
        wait_until(lambda: bridge_ports(d) == [], timeout=30)
        assert bridge_ports(d) == []
        d.stop()
        _code, report = run_check(d, "--no-repair")
        assert report["clean"], report


def test_sigkill_during_volume_prune(tmp_path: Path) -> None:
    with private_berthd(tmp_path / "d") as d:
        names = [f"v{i}" for i in range(300)]
        for n in names:
            d.api.json("POST", "/volumes/create", {"Name": n})
            data = Path(d.api.json("GET", f"/volumes/{n}")["Mountpoint"])
            for j in range(20):
                (data / f"f{j}").write_bytes(b"x" * 4096)
        result: list[object] = []

        def prune() -> None:
            with contextlib.suppress(OSError):
                result.append(d.api.request("POST", '/volumes/prune?filters={"all":["true"]}'))

        volumes_dir = d.root / "volumes"

        def dirs() -> int:
            return sum(1 for p in volumes_dir.iterdir() if p.is_dir())

        t = threading.Thread(target=prune)
        t.start()
        # Kill as soon as the prune has removed something: a fixed sleep loses the race on a fast machine.
        deadline = time.monotonic() + 30
        while dirs() >= len(names) and time.monotonic() < deadline:
            time.sleep(0.002)
        sigkill(d)
        t.join(30)
        assert not result, "the prune finished before the kill: make it bigger"
        code, report = run_check(d)
        assert code == 0, report
        d.start()
        listed = {v["Name"] for v in d.api.json("GET", "/volumes")["Volumes"] or []}
        assert len(names) - len(listed) > 0, "the prune removed nothing before the kill"
        on_disk = {p.name for p in (d.root / "volumes").iterdir() if p.is_dir()}
        # a listed volume still has its data; a volume gone from the list may leave no dir behind for long
        for n in listed:
            assert (d.root / "volumes" / n / "_data").is_dir(), n
            assert len(list((d.root / "volumes" / n / "_data").iterdir())) == 20, n
        stale = on_disk - listed
        assert len(stale) <= 1, f"volume dirs without a row: {stale}"
        d.api.request("POST", '/volumes/prune?filters={"all":["true"]}')
        assert not (d.api.json("GET", "/volumes")["Volumes"] or [])


def test_conmon_killed_marks_the_container_exited(berthd: Berthd, busybox_image: str) -> None:
    status, _, body = berthd.api.request("POST", "/containers/create",
                                         {"Image": busybox_image, "Cmd": ["sleep", "300"]})
    assert status == 201, body
    cid = json.loads(body)["Id"]
    try:
        assert berthd.api.request("POST", f"/containers/{cid}/start")[0] == 204
        info = berthd.api.json("GET", f"/containers/{cid}/json")
        conmon = int(Path(f"/proc/{info['State']['Pid']}/stat").read_text().rpartition(")")[2].split()[1])
        assert "conmon" in Path(f"/proc/{conmon}/comm").read_text()
        os.kill(conmon, signal.SIGKILL)
        assert wait_until(lambda: not berthd.api.json("GET", f"/containers/{cid}/json")["State"]["Running"], 20)
        state = berthd.api.json("GET", f"/containers/{cid}/json")["State"]
        assert state["Status"] == "exited"
        assert state["ExitCode"] == 255
        assert "conmon exited without recording" in state["Error"]
        # nothing of it is left running or mounted
        assert wait_until(lambda: cid not in {k for k, s in runtime_ids(berthd).items() if s != "stopped"}, 10)
        assert not [p for p in mounts_under(berthd.base) if cid in p]
        # and it starts again
        assert berthd.api.request("POST", f"/containers/{cid}/start")[0] == 204
    finally:
        berthd.api.request("DELETE", f"/containers/{cid}?force=1")


@contextlib.contextmanager
def small_filesystem(where: Path, size_mb: int) -> Iterator[Path]:
    """An ext4 filesystem of `size_mb` on a loop device, mounted on `where`; always undone."""
    image = where.with_suffix(".img")
    with open(image, "wb") as f:
        f.truncate(size_mb << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True, capture_output=True, timeout=60)
    where.mkdir(parents=True)
    loop = subprocess.run(["losetup", "--find", "--show", str(image)], check=True, capture_output=True,
                          text=True, timeout=30).stdout.strip()
    try:
        subprocess.run(["mount", loop, str(where)], check=True, capture_output=True, timeout=30)
        try:
            yield where
        finally:
            subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)
    finally:
        subprocess.run(["losetup", "-d", loop], capture_output=True, timeout=30)
        image.unlink(missing_ok=True)


def test_full_disk_during_pull_and_log_write(tmp_path: Path, busybox_tar: Path) -> None:
    require("skopeo", "mkfs.ext4", "losetup")
    layout = oci_layout_with_big_layer(tmp_path / "oci", 96 << 20)
    with running_registry(tmp_path / "registry") as registry, \
            small_filesystem(tmp_path / "small", 48) as small:
        name = f"{registry.host}/faults/big"
        out = skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:big", f"docker://{name}:1", timeout=120)
        assert out.returncode == 0, out.stderr
        with private_berthd(tmp_path / "d", start=False) as d:
            d.root = small / "root"  # the data root on the small filesystem; run dir and socket elsewhere
            d.start()
            import_tar(d, busybox_tar.read_bytes(), "busybox")
            last = list(stream_lines(d, "POST", f"/images/create?fromImage={name}&tag=1"))[-1]
            assert "no space left on device" in str(last.get("error", "")).lower(), last
            assert d.api.request("GET", "/_ping")[0] == 200
            assert d.api.request("GET", f"/images/{name}:1/json")[0] == 404
            assert "internal error" not in last["error"], last
            # a container whose log fills the disk: its log stops, berthd does not
            status, _, body = d.api.request("POST", "/containers/create", {
                "Image": "busybox", "Cmd": ["sh", "-c", "yes 0123456789abcdef0123456789abcdef | head -c 6000000"]})
            assert status == 201, body
            cid = json.loads(body)["Id"]
            free = os.statvfs(small).f_bavail * os.statvfs(small).f_frsize
            filler = small / "filler"
            with open(filler, "wb") as f:
                f.truncate(0)
                os.posix_fallocate(f.fileno(), 0, max(free - (2 << 20), 0))
            assert d.api.request("POST", f"/containers/{cid}/start")[0] == 204
            time.sleep(3)
            assert d.api.request("GET", "/_ping")[0] == 200
            filler.unlink()  # space back: berthd records the exit it could not write while the disk was full
            assert wait_until(lambda: d.api.json("GET", f"/containers/{cid}/json")["State"]["Status"] == "exited",
                              30), \
                subprocess.run(f"df {small}; du -a {small} | sort -n | tail", shell=True, capture_output=True,
                               text=True).stdout
            status, _, logs = d.api.request("GET", f"/containers/{cid}/logs?stdout=1&tail=3")
            assert status == 200, logs
            # what is stored still verifies, and the busybox image still runs once space is back
            assert d.api.request("DELETE", f"/containers/{cid}?force=1")[0] == 204
            status, _, body = d.api.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]})
            assert status == 201, body
            cid = json.loads(body)["Id"]
            assert d.api.request("POST", f"/containers/{cid}/start")[0] == 204
            assert d.api.json("POST", f"/containers/{cid}/wait")["StatusCode"] == 0
            d.remove_all_containers()
            d.stop()
            code, report = run_check(d, "--no-repair")
            assert code == 0 and report["clean"], report
