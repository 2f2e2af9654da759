"""The Windows paths, tested on Linux with the platform faked: WSL output, backend choice, path translation,
where tunnels listen (never AF_UNIX), the docker context and pipe choices."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from vmhost import backend, dockercontext, localend
from vmhost.localend import BERTH_PIPE, DOCKER_PIPE, LocalEnd, context_endpoint, docker_pipes, engine_end
from vmhost.machine import Machine
from vmhost.winpaths import to_wsl, translate_bind
from vmhost.wsl import decode, parse_list, start_script

pytestmark = pytest.mark.unit

LISTING = "  NAME                   STATE           VERSION\r\n* Ubuntu                 Running         2\r\n" \
          "  berth-default          Stopped         2\r\n  Legacy Distro          Stopped         1\r\n"


def test_wsl_listing_in_utf16le_is_decoded_and_parsed() -> None:
    # wsl.exe writes its listing in UTF-16LE, with or without a BOM.
    for raw in (LISTING.encode("utf-16-le"), b"\xff\xfe" + LISTING.encode("utf-16-le")):
        distros = parse_list(decode(raw))
        assert [(d.name, d.state, d.version, d.default) for d in distros] == [
            ("Ubuntu", "Running", 2, True), ("berth-default", "Stopped", 2, False),
            ("Legacy Distro", "Stopped", 1, False)]
    assert decode(b"berthd ok\n") == "berthd ok\n"  # a command's own UTF-8 output stays as is


def test_wsl_listing_of_nothing_is_empty() -> None:
    assert parse_list(decode("  NAME STATE VERSION\r\n".encode("utf-16-le"))) == []


@pytest.mark.parametrize(("windows", "wsl"), [
    (r"C:\Users\me\app", "/mnt/c/Users/me/app"),
    ("D:/data/x", "/mnt/d/data/x"),
    ("c:\\", "/mnt/c"),
    (r"C:\Users\me\.\app\\", "/mnt/c/Users/me/app"),
    (r"\\wsl$\berth-default\var\lib", "/var/lib"),
    (r"\\wsl.localhost\Ubuntu\home\me", "/home/me"),
    ("/already/posix", "/already/posix"),
])
def test_windows_paths_become_wsl_paths(windows: str, wsl: str) -> None:
    assert to_wsl(windows) == wsl


def test_network_shares_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="network shares"):
        to_wsl(r"\\server\share\dir")


@pytest.mark.parametrize(("spec", "translated"), [
    (r"C:\Users\me\app:/app", "/mnt/c/Users/me/app:/app"),
    (r"C:\Users\me\app:/app:ro", "/mnt/c/Users/me/app:/app:ro"),
    ("C:/src:/src:rw,z", "/mnt/c/src:/src:rw,z"),
    ("myvolume:/data", "myvolume:/data"),
    ("/host/dir:/dir", "/host/dir:/dir"),
    ("/anonymous", "/anonymous"),
])
def test_bind_specs_translate_only_their_windows_source(spec: str, translated: str) -> None:
    assert translate_bind(spec) == translated


def test_backend_is_wsl2_on_windows_when_it_works() -> None:
    choice = backend.choose(host_system="Windows", wsl_exe=lambda: "wsl.exe", probe=lambda exe: (True, ""))
    assert choice.backend == "wsl"
    assert "WSL2" in choice.reason


def test_backend_falls_back_to_qemu_and_says_why() -> None:
    missing = backend.choose(host_system="Windows", wsl_exe=lambda: None)
    assert missing.backend == "qemu" and "not installed" in missing.reason
    broken = backend.choose(host_system="Windows", wsl_exe=lambda: "wsl.exe",
                            probe=lambda exe: (False, "virtualization is disabled in the firmware"))
    assert broken.backend == "qemu" and "virtualization is disabled" in broken.reason
    assert backend.choose(host_system="Darwin", wsl_exe=lambda: None).backend == "qemu"
    assert backend.choose("qemu", host_system="Windows", wsl_exe=lambda: "wsl.exe").backend == "qemu"
    with pytest.raises(ValueError, match="wsl --install"):
        backend.choose("wsl", host_system="Windows", wsl_exe=lambda: None)


def test_engine_end_is_loopback_tcp_on_windows_and_a_socket_elsewhere(tmp_path: Path) -> None:
    windows = engine_end(tmp_path, "default", 50123, "Windows")
    assert windows == LocalEnd("tcp", "127.0.0.1:50123")
    assert windows.docker_host == "tcp://127.0.0.1:50123"
    linux = engine_end(tmp_path, "default", 50123, "Linux")
    assert linux == LocalEnd("unix", str(tmp_path / "berth.sock"))
    deep = engine_end(tmp_path / ("d" * 120), "default", 0, "Darwin")
    assert deep.kind == "unix" and len(deep.address) < localend.MAX_SOCKET_PATH


class NoUnix:
    """socket.socket that fails the test if anything asks for AF_UNIX."""

    real = socket.socket

    def __call__(self, family: int = socket.AF_INET, *args: Any, **kwargs: Any) -> socket.socket:
        assert family != getattr(socket, "AF_UNIX", object()), "AF_UNIX reached on the Windows path"
        return self.real(family, *args, **kwargs)


def test_no_af_unix_on_the_windows_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vmhost import ports, wslagent

    monkeypatch.setattr(localend, "system", lambda: "Windows")
    monkeypatch.setattr(socket, "socket", NoUnix())
    machine = Machine(name="default", image="rootfs.tar", ssh_port=2222, backend="wsl", engine_port=0)
    machine.dir = tmp_path
    end = machine.engine_end
    assert end.kind == "tcp" and machine.docker_host.startswith("tcp://127.0.0.1:")
    # The tunnel's listener: loopback TCP. The connection is not used until a client connects.
    forward = localend.forward_engine(object(), end, "/run/berth/berth.sock")  # type: ignore[arg-type]
    try:
        port = forward._listener.getsockname()[1]
        assert forward._listener.family == socket.AF_INET
    finally:
        forward.close()
    # Reaching the engine through that end: TCP too (connection refused here, never AF_UNIX).
    tcp = LocalEnd("tcp", f"127.0.0.1:{port}")
    assert not isinstance(ports.engine_connection(tcp), ports.UnixHTTPConnection)
    with pytest.raises(OSError):
        wslagent.ping(tcp, timeout=1)
    with pytest.raises(ValueError, match="named pipe"):
        localend.forward_engine(object(), LocalEnd("npipe", BERTH_PIPE), "/x")  # type: ignore[arg-type]


def test_named_pipes_served_on_windows() -> None:
    assert [p.address for p in docker_pipes(docker_desktop_present=True)] == [BERTH_PIPE]
    assert [p.address for p in docker_pipes(docker_desktop_present=False)] == [BERTH_PIPE, DOCKER_PIPE]
    assert LocalEnd("npipe", BERTH_PIPE).docker_host == "npipe:////./pipe/berth"


def test_docker_desktop_is_found_where_it_installs(tmp_path: Path) -> None:
    env = {"ProgramFiles": str(tmp_path)}
    assert not localend.docker_desktop_present(env)
    exe = tmp_path / "Docker" / "Docker" / "Docker Desktop.exe"
    exe.parent.mkdir(parents=True)
    exe.touch()
    assert localend.docker_desktop_present(env)


def test_context_endpoint_per_system(tmp_path: Path) -> None:
    sock = tmp_path / "berth.sock"
    assert context_endpoint(None, sock, "Linux") == f"unix://{sock}"
    mac = LocalEnd("unix", "/Users/me/.config/berth/machines/default/berth.sock")
    assert context_endpoint(mac, sock, "Darwin") == f"unix://{mac.address}"
    win = LocalEnd("tcp", "127.0.0.1:50123")
    assert context_endpoint(win, sock, "Windows") == "tcp://127.0.0.1:50123"
    assert context_endpoint(win, sock, "Windows", pipe_served=True) == "npipe:////./pipe/berth"
    with pytest.raises(ValueError):
        context_endpoint(None, sock, "Darwin")


def test_docker_context_store_layout(tmp_path: Path) -> None:
    config = tmp_path / "docker"
    (config).mkdir()
    (config / "config.json").write_text(json.dumps({"auths": {"r.example": {"auth": "x"}}}))
    meta = dockercontext.ensure("unix:///run/b.sock", config=config)
    assert meta == config / "contexts" / "meta" / hashlib.sha256(b"berth").hexdigest() / "meta.json"
    data = json.loads(meta.read_text())
    assert data["Name"] == "berth"
    assert data["Endpoints"]["docker"]["Host"] == "unix:///run/b.sock"
    assert dockercontext.current(config) == "default"
    dockercontext.use(config=config)
    kept = json.loads((config / "config.json").read_text())
    assert kept["currentContext"] == "berth" and kept["auths"] == {"r.example": {"auth": "x"}}
    assert not dockercontext.forget_context("unix:///elsewhere.sock", config=config)
    assert dockercontext.endpoint(config=config) == "unix:///run/b.sock"
    assert dockercontext.forget_context("unix:///run/b.sock", config=config)
    assert not meta.parent.exists()
    assert "currentContext" not in json.loads((config / "config.json").read_text())


def test_docker_config_env_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "elsewhere"))
    assert dockercontext.config_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("DOCKER_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert dockercontext.config_dir() == tmp_path / ".docker"


def test_start_script_keeps_sshd_on_loopback_with_berths_keys_only() -> None:
    script = start_script(2299)
    assert "ListenAddress=127.0.0.1:2299" in script
    assert "PasswordAuthentication=no" in script
    assert "-f /dev/null" in script  # no distro sshd_config is read
    assert "--host unix:///run/berth/berth.sock" in script


def test_context_points_at_the_pipe_while_served_and_goes_with_the_last_machine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import os

    from vmhost import cli, procs
    from vmhost.machines import Machines

    monkeypatch.setattr(localend, "system", lambda: "Windows")
    monkeypatch.setattr(socket, "socket", NoUnix())
    monkeypatch.setattr(procs, "_windows_alive", lambda pid: pid == os.getpid())  # OpenProcess, faked
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    machines = Machines(tmp_path / "machines")
    machine = Machine(name="default", image="guest", ssh_port=2222, engine_port=50123)
    machine.dir = machines.root / "default"
    machine.dir.mkdir(parents=True)
    machines.save(machine)
    # A supervisor (this process stands in for it) that serves Berth's pipe.
    (machine.dir / "agent.pid").write_text(f"{os.getpid()}\n")
    (machine.dir / "status.json").write_text(json.dumps({"state": "running", "pipes": [BERTH_PIPE]}))
    out = io.StringIO()
    assert cli.run(["context", "default", "--use"], out=out, machines=machines) == 0
    assert dockercontext.endpoint() == "npipe:////./pipe/berth" and dockercontext.current() == "berth"
    assert "npipe:////./pipe/berth" in out.getvalue()
    # Without the pipe (another program serves it), the context points at the tunnel's TCP end.
    (machine.dir / "status.json").write_text(json.dumps({"state": "running", "pipes": []}))
    assert cli.run(["context", "default"], out=out, machines=machines) == 0
    assert dockercontext.endpoint() == "tcp://127.0.0.1:50123"
    assert cli.run(["context", "default", "--rm"], out=out, machines=machines) == 0
    assert dockercontext.endpoint() is None and dockercontext.current() == "default"

    (machine.dir / "status.json").write_text(json.dumps({"state": "running", "pipes": [BERTH_PIPE]}))
    assert cli.run(["context", "default", "--use"], out=out, machines=machines) == 0
    (machine.dir / "agent.pid").unlink()  # stopped
    machines.remove("default")
    assert dockercontext.endpoint() is None and dockercontext.current() == "default"


def test_uninstall_forgets_berths_context_and_leaves_a_users_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    import io

    from vmhost import cli
    from vmhost.machines import Machines

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    out = io.StringIO()
    dockercontext.ensure("npipe:////./pipe/berth")
    dockercontext.use()
    assert cli.run(["forget-context"], out=out, machines=Machines(tmp_path / "machines")) == 0
    assert dockercontext.endpoint() is None and dockercontext.current() == "default"
    assert "removed docker context berth" in out.getvalue()
    # A context the user named berth (another description) is theirs.
    meta = dockercontext.ensure("tcp://10.0.0.5:2375")
    data = json.loads(meta.read_text())
    data["Metadata"]["Description"] = "my build box"
    meta.write_text(json.dumps(data))
    assert cli.run(["forget-context"], out=out, machines=Machines(tmp_path / "machines")) == 0
    assert dockercontext.endpoint() == "tcp://10.0.0.5:2375"


def test_wsl_machines_find_the_guests_root_file_system_tar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from vmhost.arch import host_arch
    from vmhost.machine import MachineError
    from vmhost.wslmachine import rootfs_tar

    monkeypatch.setenv("BERTH_GUEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERTH_GUEST_URL", raising=False)
    # Nothing here, and the committed pin names no release yet: said so, with what to do instead.
    with pytest.raises(MachineError, match=r"pins no WSL root file system.*pass --image"):
        rootfs_tar(None)
    image = tmp_path / "cache" / "0123456789abcdef"
    image.mkdir(parents=True)
    for name in ("vmlinuz", "initrd.img", "rootfs.qcow2"):
        (image / name).write_bytes(b"x")
    (image / "manifest.json").write_text(json.dumps({"arch": host_arch().name}))
    with pytest.raises(MachineError, match="pins no WSL root file system"):
        rootfs_tar(None)  # an image without the tar (a QEMU-only release) is not enough
    (image / "rootfs.tar").write_bytes(b"tar")
    assert rootfs_tar(None) == image / "rootfs.tar"
    assert rootfs_tar(image) == image / "rootfs.tar"
    assert rootfs_tar(image / "rootfs.tar") == image / "rootfs.tar"
    with pytest.raises(MachineError, match="is not there"):
        rootfs_tar(tmp_path / "elsewhere.tar")
