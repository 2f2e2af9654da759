"""Bad input: every malformed request gets a 4xx whose message says what is wrong, never a 500,
and nothing stored changes."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import tarfile
from typing import Any

import pytest

from tests.support.daemon import Berthd

pytestmark = pytest.mark.integration

CREATE = "/containers/create"

# (method, path, body, headers): each must be refused with a 4xx and a message
CASES: list[tuple[str, str, bytes | str | dict[str, Any] | None, dict[str, str]]] = [
    ("POST", CREATE, b"{not json", {"Content-Type": "application/json"}),
    ("POST", CREATE, b"[1, 2, 3]", {"Content-Type": "application/json"}),
    ("POST", CREATE, b"\xff\xfe\x00garbage", {"Content-Type": "application/json"}),
    ("POST", CREATE, {"Image": 42}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": 7}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"], "HostConfig": "yes"}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": "lots"}}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"], "Env": [1, 2]}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"], "WorkingDir": "relative/dir"}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"], "WorkingDir": "/proc/self/fd/7"}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"], "WorkingDir": "/proc/1/../self/./fd/3"}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": ["/tmp:relative"]}}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": ["../../etc:/x"]}}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"],
                      "HostConfig": {"Mounts": [{"Type": "volume", "Source": "../../x", "Target": "/x"}]}}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"],
                      "HostConfig": {"Mounts": [{"Type": "nope", "Target": "/x"}]}}, {}),
    ("POST", CREATE + "?name=../../etc", {"Image": "busybox", "Cmd": ["true"]}, {}),
    ("POST", CREATE + "?name=a/b", {"Image": "busybox", "Cmd": ["true"]}, {}),
    ("POST", CREATE, {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"PidsLimit": True}}, {}),
    ("POST", CREATE, {"Image": "UPPER/Case:tag", "Cmd": ["true"]}, {}),
    ("POST", CREATE, {"Image": "busybox:bad tag", "Cmd": ["true"]}, {}),
    ("POST", CREATE, {"Image": "busybox@sha256:short", "Cmd": ["true"]}, {}),
    ("POST", "/images/create?fromImage=../../etc/passwd", None, {}),
    ("POST", "/images/create?fromImage=busybox&tag=" + "t" * 200, None, {}),
    ("POST", "/images/busybox/tag?repo=Bad%20Repo&tag=x", None, {}),
    ("POST", "/images/busybox/tag?repo=ok&tag=-bad", None, {}),
    ("GET", "/images/..%2F..%2Fetc/json", None, {}),
    ("POST", "/volumes/create", {"Name": "../escape"}, {}),
    ("POST", "/volumes/create", {"Name": "a/b"}, {}),
    ("POST", "/volumes/create", {"Name": ".."}, {}),
    ("POST", "/volumes/create", {"Name": 5}, {}),
    ("POST", "/volumes/create", {"Name": "ok", "Labels": "x"}, {}),
    ("POST", "/volumes/create", b"{", {"Content-Type": "application/json"}),
    ("POST", "/networks/create", {"Name": ""}, {}),
    ("POST", "/networks/create", {"Name": "n", "IPAM": {"Config": [{"Subnet": "not-a-subnet"}]}}, {}),
    ("POST", "/networks/create", {"Name": "n", "Driver": "weird"}, {}),
    ("POST", "/networks/create", b"nope", {"Content-Type": "application/json"}),
    ("GET", "/containers/json?filters=notjson", None, {}),
    ("GET", "/containers/json?filters={\"status\":[\"bogus\"]}", None, {}),
    ("GET", "/images/json?filters=[1]", None, {}),
    ("GET", "/containers/json?limit=abc", None, {}),
    ("GET", "/v9.99/_ping", None, {}),
    ("GET", "/vabc/version", None, {}),
    ("POST", "/build", b"this is not a tar", {"Content-Type": "application/x-tar"}),
]


def _snapshot(d: Berthd) -> tuple[Any, ...]:
    return tuple(d.api.json("GET", p) for p in ("/containers/json?all=1", "/images/json", "/volumes", "/networks"))


def _assert_clear_4xx(status: int, body: bytes, what: str) -> None:
    assert 400 <= status < 500, f"{what}: {status} {body!r}"
    assert b"Traceback" not in body and b"internal error" not in body, f"{what}: {body!r}"
    message = json.loads(body)["message"]
    assert isinstance(message, str) and len(message) > 5, f"{what}: {body!r}"


def test_bad_requests_get_clear_4xx_and_change_nothing(berthd: Berthd, busybox_image: str) -> None:
    before = _snapshot(berthd)
    failures = []
    for method, path, body, headers in CASES:
        status, _, data = berthd.api.request(method, path, body, headers)
        try:
            _assert_clear_4xx(status, data, f"{method} {path} {body!r}"[:300])
        except AssertionError as e:
            failures.append(str(e).splitlines()[0])
            if status == 201:
                berthd.api.request("DELETE", f"/containers/{json.loads(data)['Id']}?force=1")
    assert not failures, "\n".join(failures)
    assert _snapshot(berthd) == before


def _tar(entries: list[tuple[str, bytes | None, str | None]]) -> bytes:
    """A tar of (name, content, symlink target) entries, names taken as given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            else:
                info.size = len(data or b"")
                tar.addfile(info, io.BytesIO(data or b""))
    return buf.getvalue()


@pytest.mark.parametrize("entries", [
    [("../../../../tmp/berth-escape", b"x", None)],
    [("/etc/berth-absolute", b"x", None)],
    [("link", None, "/etc"), ("link/berth-through-link", b"x", None)],
], ids=["dotdot", "absolute", "through-symlink"])
def test_hostile_tar_entries_in_cp_and_import(berthd: Berthd, busybox_image: str,
                                              entries: list[tuple[str, bytes | None, str | None]]) -> None:
    status, _, body = berthd.api.request("POST", CREATE, {"Image": busybox_image, "Cmd": ["true"]})
    assert status == 201, body
    cid = json.loads(body)["Id"]
    try:
        payload = _tar(entries)
        status, _, data = berthd.api.request("PUT", f"/containers/{cid}/archive?path=/tmp", payload,
                                             {"Content-Type": "application/x-tar"})
        assert status != 500 and b"Traceback" not in data, data
        status, _, data = berthd.api.request("POST", "/images/create?fromSrc=-&repo=hostile&tag=1", payload,
                                             {"Content-Type": "application/x-tar"})
        assert status != 500 and b"Traceback" not in data, data
        import os

        for host_path in ("/tmp/berth-escape", "/etc/berth-absolute", "/etc/berth-through-link"):
            assert not os.path.exists(host_path), f"a tar entry escaped to {host_path}"
    finally:
        berthd.api.request("DELETE", f"/containers/{cid}?force=1")
        berthd.api.request("DELETE", "/images/hostile:1?force=1")


@pytest.mark.parametrize("path", ["../../../../etc", "/proc/../../etc/shadow/..", "relative/../../x"])
def test_cp_paths_never_leave_the_container(berthd: Berthd, busybox_image: str, path: str) -> None:
    status, _, body = berthd.api.request("POST", CREATE, {"Image": busybox_image, "Cmd": ["true"]})
    cid = json.loads(body)["Id"]
    try:
        status, _, data = berthd.api.request("GET", f"/containers/{cid}/archive?path={path}")
        assert status != 500, data
        if status == 200:  # resolved inside the container's root: never the host's /etc/shadow
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                names = tar.getnames()
            assert "shadow" not in " ".join(names), names
    finally:
        berthd.api.request("DELETE", f"/containers/{cid}?force=1")


def _raw(d: Berthd, payload: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(str(d.socket))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(payload)  # the server may answer and close before it has read it all
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def test_oversized_headers_and_bodies_are_refused(berthd: Berthd) -> None:
    huge_header = b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    answer = _raw(berthd, huge_header)
    assert answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")) or answer == b"", answer[:200]
    many = b"GET /_ping HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(20000)) + b"\r\n"
    answer = _raw(berthd, many)
    assert answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")) or answer == b"", answer[:200]
    # a JSON body far bigger than any config: refused before it is read, not buffered into memory
    head = (b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (64 << 20))
    answer = _raw(berthd, head + b'{"Image": "busybox", "Labels": {"x": "' + b"y" * 65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # the same without a length (chunked): refused once it passes the limit
    try:
        chunks = iter([b'{"Labels": {"x": "'] + [b"y" * (1 << 20)] * 20)  # http.client sends an iterable chunked
        status, _, data = berthd.api.request("POST", CREATE, chunks,  # type: ignore[arg-type]
                                             {"Content-Type": "application/json"})
        assert status == 413, data
    except (BrokenPipeError, ConnectionResetError):
        pass  # answered 413 and closed while the rest was still being sent
    assert berthd.api.request("GET", "/_ping")[0] == 200
