"""A stand-in for wsl.exe on Linux: the subcommands Berth's WSL backend uses, over Linux namespaces rooted
in the imported root file system, so the WSL machine's whole flow runs here.

    wsl -l -v                                   the distros, UTF-16LE as wsl.exe writes its listings
    wsl --import NAME DIR TAR --version 2       unpack TAR into DIR/rootfs and register NAME
    wsl -d NAME [-u root] -- ARGV...            run ARGV in the distro, booting it first if it is stopped
    wsl --terminate NAME                        end every process of the distro (its "VM" powers off)
    wsl --unregister NAME                       terminate, then delete the distro and its files
    wsl --shutdown                              terminate every distro (tests clean up with it)

A running distro is one process tree: a detached "VM" process (this module with --standin-vm) that holds
`unshare` of new PID, mount, network, UTS and IPC namespaces, whose PID 1 mounts /proc, /sys, /dev, a
tmpfs /run and /tmp into the root file system, pivots to it and runs tini, as WSL's /init stands for a
distro. Commands join those namespaces with nsenter. WSL2 forwards ports the distro listens on at its
loopback to the host's loopback; the VM does the same by polling the distro's /proc/net/tcp and relaying
each connection into the distro's network namespace (a thread joins it with setns).

State lives in $BERTH_WSL_STANDIN (registry.json, one <name>.vm.json and <name>.log per running distro).
Tests put a shim on BERTH_WSL that runs `python -m tests.support.wsl_standin "$@"` (see write_shim).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

CLONE_NEWNET = 0x40000000
NO_DISTROS = "Windows Subsystem for Linux has no installed distributions."
NO_SUCH = "There is no distribution with the supplied name."
EXISTS = "A distribution with the supplied name already exists."
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# PID 1 of the distro, run by `unshare` in the new namespaces (still on the host's root): mount what WSL's
# /init mounts, bring up loopback, then make the distro's files the root (pivot_root, not chroot: runc needs
# "/" to be a mount of its own, as a WSL distro's ext4 disk is) and hand PID 1 to tini, which reaps orphans.
BOOT = """set -e
root=$1
mount --bind "$root" "$root"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs "$root/sys"
mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs "$root/run"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/tmp"
hostname "$2"
ip link set lo up
cd "$root"
mkdir -p .standin-oldroot
pivot_root . .standin-oldroot
exec /bin/sh -c 'umount -l /.standin-oldroot && rmdir /.standin-oldroot && exec /usr/bin/tini -s -- sleep infinity'
"""


def state_dir() -> Path:
    configured = os.environ.get("BERTH_WSL_STANDIN")
    if not configured:
        raise SystemExit("wsl stand-in: set BERTH_WSL_STANDIN to its state directory")
    path = Path(configured)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_shim(path: Path, state: Path) -> Path:
    """An executable `wsl` at `path` running this module with the repository on PYTHONPATH."""
    repo = Path(__file__).resolve().parents[2]
    path.write_text("#!/bin/sh\n"
                    f"export PYTHONPATH={shlex.quote(str(repo))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
                    f"export BERTH_WSL_STANDIN=${{BERTH_WSL_STANDIN:-{shlex.quote(str(state))}}}\n"
                    f"exec {shlex.quote(sys.executable)} -m tests.support.wsl_standin \"$@\"\n")
    path.chmod(0o755)
    return path


def _registry() -> dict[str, dict[str, Any]]:
    try:
        data: dict[str, dict[str, Any]] = json.loads((state_dir() / "registry.json").read_text())
        return data
    except FileNotFoundError:
        return {}


def _save_registry(data: dict[str, dict[str, Any]]) -> None:
    path = state_dir() / "registry.json"
    tmp = path.with_name("registry.json.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def _lookup(name: str) -> tuple[str, dict[str, Any]] | None:
    # Distro names are case-insensitive, as on Windows.
    return next(((n, d) for n, d in _registry().items() if n.lower() == name.lower()), None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _vm(name: str) -> dict[str, Any] | None:
    """The running distro's VM record (vm and init pids), or None when it is stopped."""
    try:
        vm: dict[str, Any] = json.loads((state_dir() / f"{name}.vm.json").read_text())
    except (OSError, ValueError):
        return None
    if not _alive(int(vm["init"])):
        return None
    return vm


def fail(message: str) -> int:
    # wsl.exe writes its errors in UTF-16LE, on stdout.
    sys.stdout.buffer.write((message + "\r\n").encode("utf-16-le"))
    return 1


def cmd_list() -> int:
    distros = _registry()
    if not distros:
        return fail(NO_DISTROS)
    width = max(len(n) for n in distros) + 4
    lines = ["  " + "NAME".ljust(width) + "STATE           VERSION"]
    for n, d in distros.items():
        state = "Running" if _vm(n) else "Stopped"
        lines.append(("* " if d.get("default") else "  ") + n.ljust(width) + state.ljust(16) + str(d["version"]))
    sys.stdout.buffer.write(("\r\n".join(lines) + "\r\n").encode("utf-16-le"))
    return 0


def cmd_import(name: str, install_dir: Path, tar: Path, version: int) -> int:
    if _lookup(name) is not None:
        return fail(EXISTS)
    if version != 2:
        return fail("The stand-in runs version-2 distros only.")
    rootfs = install_dir.resolve() / "rootfs"
    rootfs.mkdir(parents=True)
    out = subprocess.run(["tar", "-xpf", str(tar), "--numeric-owner", "-C", str(rootfs)], capture_output=True)
    if out.returncode != 0:
        shutil.rmtree(rootfs, ignore_errors=True)
        return fail(f"The imported file is not a valid root file system: {out.stderr.decode(errors='replace')}")
    registry = _registry()
    registry[name] = {"dir": str(install_dir.resolve()), "version": version, "default": not registry}
    _save_registry(registry)
    return 0


def terminate(name: str) -> None:
    vm = _vm(name)
    if vm is None:
        return
    # SIGKILL to the PID namespace's init ends every process in it; the VM then exits by itself.
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(vm["init"]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (_alive(int(vm["init"])) or _alive(int(vm["pid"]))):
        time.sleep(0.05)
    (state_dir() / f"{name}.vm.json").unlink(missing_ok=True)


def cmd_terminate(name: str) -> int:
    found = _lookup(name)
    if found is None:
        return fail(NO_SUCH)
    terminate(found[0])
    return 0


def cmd_unregister(name: str) -> int:
    found = _lookup(name)
    if found is None:
        return fail(NO_SUCH)
    terminate(found[0])
    shutil.rmtree(Path(found[1]["dir"]) / "rootfs", ignore_errors=True)
    registry = _registry()
    del registry[found[0]]
    _save_registry(registry)
    return 0


def cmd_shutdown() -> int:
    for name in _registry():
        terminate(name)
    return 0


def boot(name: str, timeout: float = 60) -> dict[str, Any]:
    """Start the distro's VM (detached) and wait until its init has chrooted."""
    found = _lookup(name)
    assert found is not None
    log = open(state_dir() / f"{found[0]}.log", "ab")  # noqa: SIM115 - handed to the child
    with log:
        subprocess.Popen([sys.executable, "-m", "tests.support.wsl_standin", "--standin-vm", found[0]],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        vm = _vm(found[0])
        if vm is not None and vm.get("ready"):
            return vm
        time.sleep(0.05)
    raise SystemExit(f"wsl stand-in: distro {name} did not boot; see {state_dir() / (found[0] + '.log')}")


def cmd_exec(name: str, argv: list[str]) -> int:
    found = _lookup(name)
    if found is None:
        return fail(NO_SUCH)
    vm = _vm(found[0]) or boot(found[0])
    init = str(vm["init"])
    # nsenter -r/-w take init's root (the chroot) and working directory; the command replaces this process.
    os.execvp("nsenter", ["nsenter", "-t", init, "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--",
                          "/usr/bin/env", "-i", f"PATH={PATH}", "HOME=/root", "LANG=C.UTF-8", "TERM=xterm",
                          *(argv or ["/bin/sh"])])


# ---- the VM: namespaces, PID 1 and localhost forwarding ----

def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _listening(init: int) -> set[int]:
    """TCP ports the distro listens on at 127.0.0.1 or any address (what WSL2 forwards to the host)."""
    ports = set()
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{init}/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            if fields[3] == "0A" and address in ("0100007F", "00000000"):
                ports.add(int(port, 16))
    return ports


class Relay:
    """Host 127.0.0.1:PORT -> the distro's 127.0.0.1:PORT, for each port the distro listens on."""

    def __init__(self, init: int) -> None:
        self.netns = os.open(f"/proc/{init}/ns/net", os.O_RDONLY)
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.ports: set[int] = set()

    def listen(self, port: int) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(("127.0.0.1", port))
        except OSError as e:
            print(f"localhost forwarding of port {port}: {e}", flush=True)
            server.close()
            return
        server.listen(64)
        self.ports.add(port)
        threading.Thread(target=self._accept, args=(server, port), daemon=True).start()

    def _accept(self, server: socket.socket, port: int) -> None:
        while True:
            client, _ = server.accept()
            threading.Thread(target=self._connect, args=(client, port), daemon=True).start()

    def _connect(self, client: socket.socket, port: int) -> None:
        # setns moves only this thread into the distro's network namespace; its socket stays there.
        if self.libc.setns(self.netns, CLONE_NEWNET) != 0:
            client.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)


def run_vm(name: str) -> int:
    found = _lookup(name)
    assert found is not None
    root = Path(found[1]["dir"]) / "rootfs"
    record = state_dir() / f"{name}.vm.json"
    holder = subprocess.Popen(["unshare", "--fork", "--pid", "--mount", "--net", "--uts", "--ipc",
                               "--propagation", "private", "--", "/bin/sh", "-c", BOOT, "boot", str(root), name],
                              stdin=subprocess.DEVNULL)
    init = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and holder.poll() is None:
        children = _children(holder.pid)
        init = children[0] if children else 0
        with contextlib.suppress(OSError):
            if init and Path(f"/proc/{init}/comm").read_text().strip() == "tini":
                break  # mounted, pivoted, PID 1 handed over
        time.sleep(0.02)
    else:
        holder.kill()
        print(f"distro {name} did not boot", flush=True)
        return 1
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "init": init, "ready": True}))
    tmp.replace(record)
    relay = Relay(init)
    while holder.poll() is None:
        for port in _listening(init) - relay.ports:
            relay.listen(port)
        time.sleep(0.1)
    record.unlink(missing_ok=True)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--standin-vm"]:
        return run_vm(argv[1])
    if argv[:2] in (["-l", "-v"], ["-v", "-l"], ["--list", "--verbose"]):
        return cmd_list()
    if argv[:1] == ["--import"] and len(argv) >= 4:
        version = int(argv[argv.index("--version") + 1]) if "--version" in argv else 2
        return cmd_import(argv[1], Path(argv[2]), Path(argv[3]), version)
    if argv[:1] == ["--terminate"] and len(argv) == 2:
        return cmd_terminate(argv[1])
    if argv[:1] == ["--unregister"] and len(argv) == 2:
        return cmd_unregister(argv[1])
    if argv == ["--shutdown"]:
        return cmd_shutdown()
    if argv[:1] in (["-d"], ["--distribution"]) and len(argv) >= 2:
        rest = argv[2:]
        if rest[:1] in (["-u"], ["--user"]):
            if rest[1:2] != ["root"]:
                return fail("The stand-in runs commands as root only.")
            rest = rest[2:]
        if rest[:1] in (["--"], ["-e"], ["--exec"]):
            rest = rest[1:]
        return cmd_exec(argv[1], rest)
    return fail(f"Invalid command line argument: {' '.join(argv)}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
