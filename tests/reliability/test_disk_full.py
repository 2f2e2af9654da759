"""A full disk under berthd's data root during commit, build and pull (test_faults covers a pull and a
log write failing): each fails with an error that names the full disk, stores nothing half-made (no
image, no blob or layer that does not verify), berthd goes on serving, and the same work succeeds
once space is back."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    import_tar,
    oci_layout_with_big_layer,
    private_berthd,
    run_check,
    stream_lines,
    wait_for_no_leftovers,
)
from tests.reliability.test_faults import small_filesystem
from tests.support.daemon import Berthd, prerequisites_missing
from tests.support.registry import require, running_registry, skopeo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BIG = 12 << 20  # what each operation stores: more than is left while the disk is "full"
LEFT = 3 << 20


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)


def _fill(fs: Path, leave: int) -> Path:
    """A file taking all but `leave` bytes of the filesystem."""
    filler = fs / "filler"
    filler.unlink(missing_ok=True)
    st = os.statvfs(fs)
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, max(st.f_bavail * st.f_frsize - leave, 1))
    return filler


def _says_disk_full(message: str, root: Path | None = None) -> None:
    text = message.lower()
    assert "no space left on device" in text, message
    assert "internal error" not in text, message  # a full disk is the user's to fix, and said so
    assert "data root" in text, message  # which disk
    if root is not None:
        assert str(root) in message, message


def _image_ids(d: Berthd) -> set[str]:
    return {i["Id"] for i in d.api.json("GET", "/images/json?all=1")}


def _context(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _run(d: Berthd, image: str, cmd: list[str]) -> tuple[int, bytes]:
    status, _, body = d.api.request("POST", "/containers/create", {"Image": image, "Cmd": cmd})
    assert status == 201, body
    cid = json.loads(body)["Id"]
    assert d.api.request("POST", f"/containers/{cid}/start")[0] == 204
    code = d.api.json("POST", f"/containers/{cid}/wait")["StatusCode"]
    logs = d.api.request("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")[2]
    assert d.api.request("DELETE", f"/containers/{cid}?force=1")[0] == 204
    return code, logs


@contextlib.contextmanager
def _daemon_on_small_disk(tmp_path: Path, busybox_tar: Path) -> Iterator[tuple[Berthd, Path]]:
    require("mkfs.ext4", "losetup")
    with small_filesystem(tmp_path / "small", 96) as small, private_berthd(tmp_path / "d", start=False) as d:
        d.root = small / "root"  # the data root on the small filesystem; run dir and socket elsewhere
        d.start()
        import_tar(d, busybox_tar.read_bytes(), "busybox")
        yield d, small
        d.remove_all_containers()
        d.stop()
        code, report = run_check(d, "--no-repair")
        assert code == 0 and report["clean"], report


def test_full_disk_during_commit_names_the_disk_then_resumes(tmp_path: Path, busybox_tar: Path) -> None:
    with _daemon_on_small_disk(tmp_path, busybox_tar) as (d, small):
        # a stopped container with BIG bytes of changes, written while there was room
        status, _, body = d.api.request("POST", "/containers/create", {
            "Image": "busybox", "Cmd": ["dd", "if=/dev/urandom", "of=/big", "bs=1M", f"count={BIG >> 20}"]})
        assert status == 201, body
        writer = json.loads(body)["Id"]
        assert d.api.request("POST", f"/containers/{writer}/start")[0] == 204
        assert d.api.json("POST", f"/containers/{writer}/wait")["StatusCode"] == 0
        before = _image_ids(d)
        filler = _fill(small, LEFT)
        try:
            status, _, body = d.api.request("POST", f"/commit?container={writer}&repo=diskfull/commit&tag=1")
            assert status >= 400, body
            assert d.api.request("GET", "/_ping")[0] == 200
            assert _image_ids(d) == before
            assert d.api.request("GET", "/images/diskfull/commit:1/json")[0] == 404
            assert wait_for_no_leftovers(d) == []
            message = json.loads(body)["message"]
            print(message)
        finally:
            filler.unlink()
        status, _, body = d.api.request("POST", f"/commit?container={writer}&repo=diskfull/commit&tag=1")
        assert status == 201, body
        code, logs = _run(d, "diskfull/commit:1", ["sh", "-c", "wc -c < /big"])
        assert code == 0 and f"{BIG}".encode() in logs, logs
        _says_disk_full(message, d.root)


def _build(d: Berthd, context: bytes) -> str:
    """The build's error message ("" when it succeeded): a refusal before the stream, or its last line."""
    status, _, body = d.api.request("POST", "/build?t=diskfull/build:1", context, {"Content-Type": "application/x-tar"})
    if status != 200:
        return str(json.loads(body)["message"])
    last = json.loads(body.decode().strip().splitlines()[-1])
    return str(last.get("error", ""))


def test_full_disk_during_build_names_the_disk_then_resumes(tmp_path: Path, busybox_tar: Path) -> None:
    with _daemon_on_small_disk(tmp_path, busybox_tar) as (d, small):
        before = _image_ids(d)
        context = _context({"Dockerfile": b"FROM busybox\nCOPY big /big\n", "big": os.urandom(BIG)})
        filler = _fill(small, LEFT)
        try:
            message = _build(d, context)
            assert message, "the build succeeded on a full disk"
            assert d.api.request("GET", "/_ping")[0] == 200
            assert _image_ids(d) == before
            assert d.api.request("GET", "/images/diskfull/build:1/json")[0] == 404
            assert wait_for_no_leftovers(d) == []
        finally:
            filler.unlink()
        assert _build(d, context) == ""
        code, logs = _run(d, "diskfull/build:1", ["sh", "-c", "wc -c < /big"])
        assert code == 0 and f"{BIG}".encode() in logs, logs
        _says_disk_full(message)  # last: what is known broken does not hide the rest


def test_full_disk_during_pull_then_resume(tmp_path: Path, busybox_tar: Path) -> None:
    require("skopeo")
    layout = oci_layout_with_big_layer(tmp_path / "oci", BIG)
    with running_registry(tmp_path / "registry") as registry, \
            _daemon_on_small_disk(tmp_path, busybox_tar) as (d, small):
        name = f"{registry.host}/diskfull/big"
        out = skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:big", f"docker://{name}:1", timeout=120)
        assert out.returncode == 0, out.stderr
        before = _image_ids(d)
        filler = _fill(small, LEFT)
        try:
            last = list(stream_lines(d, "POST", f"/images/create?fromImage={name}&tag=1"))[-1]
            _says_disk_full(str(last.get("error", "")))
            assert d.api.request("GET", "/_ping")[0] == 200
            assert _image_ids(d) == before
            assert d.api.request("GET", f"/images/{name}:1/json")[0] == 404
            assert wait_for_no_leftovers(d) == []
        finally:
            filler.unlink()
        # space back: the same pull succeeds, and what it stored is whole (the check at the end re-hashes it)
        last = list(stream_lines(d, "POST", f"/images/create?fromImage={name}&tag=1"))[-1]
        assert "error" not in last, last
        assert d.api.request("GET", f"/images/{name}:1/json")[0] == 200
        assert _run(d, "busybox", ["true"])[0] == 0
