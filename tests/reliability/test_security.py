"""Security: the socket, TCP refusal, the sandbox every container gets, CVE-2024-21626 (working
directory and descriptor leaks), a hostile image's /etc/passwd, credentials kept out of logs."""

from __future__ import annotations

import base64
import grp
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.reliability.helpers import import_tar, wait_until
from tests.support.daemon import REPO, Berthd, prerequisites_missing
from tests.support.registry import htpasswd_file, running_registry

pytestmark = pytest.mark.integration

# Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
# NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
DOCKER_DEFAULT_CAPS = 0x00000000A80425FB


def _run(d: Berthd, image: str, cmd: list[str], **extra: object) -> tuple[int, str]:
    """Create, start, wait; the exit code and the output."""
    body = {"Image": image, "Cmd": cmd, **extra}
    status, _, data = d.api.request("POST", "/containers/create", body)
    assert status == 201, data
    cid = json.loads(data)["Id"]
    try:
        status, _, data = d.api.request("POST", f"/containers/{cid}/start")
        assert status == 204, data
        code = d.api.json("POST", f"/containers/{cid}/wait")["StatusCode"]
        _, _, logs = d.api.request("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
        out = b""
        while len(logs) >= 8:  # demultiplex the 8-byte frames
            size = int.from_bytes(logs[4:8], "big")
            out += logs[8:8 + size]
            logs = logs[8 + size:]
        return code, out.decode()
    finally:
        d.api.request("DELETE", f"/containers/{cid}?force=1")


def _status_field(text: str, field: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(field + ":"))


def test_socket_is_0660_with_the_configured_group(tmp_path: Path) -> None:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    group = "berth" if any(g.gr_name == "berth" for g in grp.getgrall()) else "nogroup"
    sock = tmp_path / "s.sock"
    proc = subprocess.Popen([sys.executable, "-m", "engine.daemon", "--root", str(tmp_path / "root"), "--exec-root",
                             str(tmp_path / "run"), "--host", f"unix://{sock}", "--group", group],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "BERTH_DNS_FORWARDERS": ""})
    try:
        assert wait_until(sock.exists, 20)
        assert wait_until(lambda: stat.S_IMODE(sock.stat().st_mode) == 0o660, 5), oct(sock.stat().st_mode)
        assert wait_until(lambda: sock.stat().st_gid == grp.getgrnam(group).gr_gid, 5)
        assert sock.stat().st_uid == 0
    finally:
        proc.terminate()
        proc.wait(15)
        from tests.support.daemon import teardown_networks

        teardown_networks(tmp_path / "run")


def test_tcp_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    out = subprocess.run([sys.executable, "-m", "engine.daemon", "--root", str(tmp_path / "root"), "--exec-root",
                          str(tmp_path / "run"), "--host", "tcp://127.0.0.1:2375"],
                         cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "TCP needs mutual TLS" in out.stderr, out.stderr
    assert not (tmp_path / "run" / "berthd.pid").exists()  # refused before touching anything


def test_default_sandbox_from_inside_a_container(berthd: Berthd, busybox_image: str) -> None:
    script = ("cat /proc/self/status; echo ---; "
              "cat /proc/kcore 2>/dev/null | wc -c; ls /sys/firmware 2>/dev/null | wc -l; "
              "(echo 1 > /proc/sys/kernel/panic) 2>&1 || true; "
              "(echo x > /proc/sysrq-trigger) 2>&1 || true; "
              "(mount -t tmpfs none /mnt) 2>&1 || true")
    _code, out = _run(berthd, busybox_image, ["sh", "-c", script])
    status, _, rest = out.partition("---")
    assert int(_status_field(status, "CapEff"), 16) == DOCKER_DEFAULT_CAPS
    assert int(_status_field(status, "CapBnd"), 16) == DOCKER_DEFAULT_CAPS
    assert _status_field(status, "Seccomp") == "2"  # filter mode: the default profile
    assert _status_field(status, "NoNewPrivs") == "0"
    lines = rest.split()
    assert lines[0] == "0" and lines[1] == "0"  # /proc/kcore and /sys/firmware masked
    assert "Read-only file system" in rest  # /proc/sys and /proc/sysrq-trigger read-only
    assert "mount: permission denied" in rest.lower()  # no mount without CAP_SYS_ADMIN


def test_no_new_privileges_and_privileged_are_honoured(berthd: Berthd, busybox_image: str) -> None:
    _, out = _run(berthd, busybox_image, ["cat", "/proc/self/status"],
                  HostConfig={"SecurityOpt": ["no-new-privileges"]})
    assert _status_field(out, "NoNewPrivs") == "1"
    _, out = _run(berthd, busybox_image, ["cat", "/proc/self/status"],
                  HostConfig={"SecurityOpt": ["seccomp=unconfined"], "CapDrop": ["ALL"]})
    assert _status_field(out, "Seccomp") == "0"
    assert int(_status_field(out, "CapEff"), 16) == 0


@pytest.mark.parametrize("workdir", ["/proc/self/fd/3", "/proc/self/fd/7/", "/proc/1/cwd",
                                     "/proc/thread-self/../self/fd/5"])
def test_workdir_under_proc_fd_is_refused(berthd: Berthd, busybox_image: str, workdir: str) -> None:
    status, _, body = berthd.api.request("POST", "/containers/create",
                                         {"Image": busybox_image, "Cmd": ["true"], "WorkingDir": workdir})
    assert status == 400, body
    assert "working directory" in json.loads(body)["message"]


def test_docker_run_w_proc_self_fd_is_refused(berthd: Berthd, busybox_image: str, docker_env: dict[str, str],
                                              docker_cli: str) -> None:
    out = subprocess.run(["docker", "run", "--rm", "-w", "/proc/self/fd/8", busybox_image, "true"], env=docker_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "working directory" in out.stderr and "/proc/self/fd/8" in out.stderr, out.stderr


def _fd_targets(pid: int) -> dict[str, str]:
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
    return out


def test_conmon_and_the_container_inherit_no_berthd_descriptor(berthd: Berthd, busybox_image: str) -> None:
    assert berthd.proc is not None
    _, _, data = berthd.api.request("POST", "/containers/create", {"Image": busybox_image, "Cmd": ["sleep", "60"]})
    cid = json.loads(data)["Id"]
    try:
        assert berthd.api.request("POST", f"/containers/{cid}/start")[0] == 204
        pid = berthd.api.json("GET", f"/containers/{cid}/json")["State"]["Pid"]
        conmon = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
        daemon = _fd_targets(berthd.proc.pid)
        # what berthd holds that no child may: its database, its log, the API socket, its lock file
        private = {t for t in daemon.values() if t.startswith(("socket:", "anon_inode:"))
                   or t.endswith((".db", ".db-wal", ".db-shm", "berthd.pid", "berthd.log"))}
        leaked = {fd: t for fd, t in _fd_targets(conmon).items() if t in private}
        assert not leaked, f"conmon inherited berthd's {leaked}"
        inside = _fd_targets(pid)
        assert set(inside) <= {"0", "1", "2"}, f"the container's process holds extra descriptors: {inside}"
        assert not {fd: t for fd, t in inside.items() if t in private}
    finally:
        berthd.api.request("DELETE", f"/containers/{cid}?force=1")


def test_hostile_passwd_symlink_is_not_followed_out_of_the_root(berthd: Berthd, busybox_tar: Path,
                                                                tmp_path: Path) -> None:
    """An image whose /etc/passwd points at a host file: `-u name` must not read the host's file."""
    host_passwd = tmp_path / "host-passwd"
    host_passwd.write_text("berthhostile:x:4242:4242::/:/bin/sh\n")
    buf = io.BytesIO()
    with tarfile.open(busybox_tar) as src, tarfile.open(fileobj=buf, mode="w") as dst:
        for member in src.getmembers():
            if member.name != "etc/passwd":
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        link = tarfile.TarInfo("etc/passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = str(host_passwd)
        dst.addfile(link)
    import_tar(berthd, buf.getvalue(), "hostile-passwd")
    try:
        status, _, data = berthd.api.request("POST", "/containers/create",
                                             {"Image": "hostile-passwd", "Cmd": ["id", "-u"], "User": "berthhostile"})
        assert status == 201, data
        cid = json.loads(data)["Id"]
        status, _, data = berthd.api.request("POST", f"/containers/{cid}/start")
        assert status >= 400 and b"4242" not in data, data
        assert "berthhostile" in json.loads(data)["message"], data
        berthd.api.request("DELETE", f"/containers/{cid}?force=1")
    finally:
        berthd.api.request("DELETE", "/images/hostile-passwd?force=1")


def test_registry_credentials_never_reach_the_log(berthd: Berthd, busybox_image: str, tmp_path: Path) -> None:
    password = "s3cret-" + os.urandom(6).hex()
    auth = {"username": "rel", "password": password, "serveraddress": ""}
    with running_registry(tmp_path / "reg", htpasswd=htpasswd_file(tmp_path / "htpasswd", "rel", password)) as reg:
        auth["serveraddress"] = reg.host
        assert berthd.api.request("POST", "/auth", auth)[0] == 200
        assert berthd.api.request("POST", "/auth", {**auth, "password": password + "x"})[0] in (401, 403, 500)
        header = base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()
        name = f"{reg.host}/rel/busybox"
        assert berthd.api.request("POST", f"/images/{busybox_image}/tag?repo={name}&tag=1")[0] == 201
        status, _, body = berthd.api.request("POST", f"/images/{name}:1/push", None, {"X-Registry-Auth": header})
        assert status == 200 and b'"error"' not in body, body
        status, _, body = berthd.api.request("POST", f"/images/create?fromImage={name}&tag=1", None,
                                             {"X-Registry-Auth": header})
        assert status == 200 and b'"error"' not in body, body
        berthd.api.request("DELETE", f"/images/{name}:1")
    text = berthd.log.read_text(errors="replace")
    basic = base64.b64encode(f"rel:{password}".encode()).decode()
    for secret in (password, basic, header, base64.b64encode(password.encode()).decode()):
        assert secret not in text, "a credential reached the daemon's log"
