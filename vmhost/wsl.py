"""The WSL2 machine backend: berthd in a WSL distro of Berth's own, on Windows.

`wsl --import` turns the guest's root file system (the release's rootfs tar, the same artifact the QEMU
guest is built from) into a version-2 distro; berthd and sshd then run in it, and the host reaches
berthd as with QEMU: paramiko to sshd on localhost (WSL2 forwards the distro's loopback ports to the
host's) with the host key pinned, and a tunnel to berthd's socket. There is no disk image and no
supervisor of a VM: WSL owns the VM, Berth owns its distro.

The keys are pushed into the distro's /run at every start (as the QEMU guest's seed is read at every
boot), so nothing of Berth's lives in the distro outside berthd's own data.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

GUEST_KEYS = "/run/berth-wsl"  # host key, authorized key and sshd config, written at each start
GUEST_ENGINE_SOCKET = "/run/berth/berth.sock"
DISTRO_PREFIX = "berth-"


class WslError(Exception):
    """wsl.exe failed or is missing; the message says what to do."""


def distro_name(machine: str) -> str:
    return DISTRO_PREFIX + machine


def find_wsl(env: dict[str, str] | None = None) -> str | None:
    """wsl.exe: $BERTH_WSL (tests point it at a stand-in), else from PATH."""
    env = dict(os.environ) if env is None else env
    configured = env.get("BERTH_WSL")
    if configured:
        return configured if shutil.which(configured) else None
    return shutil.which("wsl.exe") or shutil.which("wsl")


def decode(output: bytes) -> str:
    """wsl.exe's own messages and listings are UTF-16LE (often without a BOM); a command's output run in a
    distro is whatever that command wrote (UTF-8). Tell them apart by the BOM or the NULs of UTF-16."""
    if output.startswith(b"\xff\xfe"):
        return output[2:].decode("utf-16-le", errors="replace")
    if len(output) >= 2 and output[1::2].count(0) >= len(output) // 4 and b"\0" in output:
        return output.decode("utf-16-le", errors="replace")
    return output.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Distro:
    name: str
    state: str  # Running, Stopped, Installing, Converting, Uninstalling
    version: int
    default: bool = False


def parse_list(text: str) -> list[Distro]:
    """`wsl -l -v`: a header line, then "[*] NAME STATE VERSION" per distro (the * marks the default)."""
    distros = []
    for line in text.replace("\r", "").splitlines()[1:]:
        default = line.lstrip().startswith("*")
        words = line.replace("*", " ", 1).split() if default else line.split()
        if len(words) < 3 or not words[-1].isdigit():
            continue
        distros.append(Distro(" ".join(words[:-2]), words[-2], int(words[-1]), default))
    return distros


class Wsl:
    """wsl.exe, as Berth uses it."""

    def __init__(self, exe: str) -> None:
        self.exe = exe

    def _run(self, args: list[str], input: bytes | None = None, timeout: float = 300) -> str:
        try:
            out = subprocess.run([self.exe, *args], input=input, capture_output=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise WslError(f"wsl {' '.join(args[:2])}: {e}") from e
        if out.returncode != 0:
            message = (decode(out.stderr) or decode(out.stdout)).strip()
            raise WslError(f"wsl {' '.join(args[:2])} failed ({out.returncode}): {message}")
        return decode(out.stdout)

    def distros(self) -> list[Distro]:
        try:
            return parse_list(self._run(["-l", "-v"], timeout=60))
        except WslError as e:
            # With no distro at all wsl -l fails, saying so; that is an empty list, not an error.
            if "no installed distributions" in str(e).lower():
                return []
            raise

    def get(self, name: str) -> Distro | None:
        return next((d for d in self.distros() if d.name.lower() == name.lower()), None)

    def import_(self, name: str, install_dir: Path, rootfs_tar: Path) -> None:
        self._run(["--import", name, str(install_dir), str(rootfs_tar), "--version", "2"], timeout=1800)

    def terminate(self, name: str) -> None:
        self._run(["--terminate", name], timeout=60)

    def unregister(self, name: str) -> None:
        self._run(["--unregister", name], timeout=300)

    def exec(self, name: str, argv: list[str], input: bytes | None = None, timeout: float = 120) -> str:
        return self._run(["-d", name, "-u", "root", "--", *argv], input=input, timeout=timeout)

    def spawn(self, name: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        """A long-running command in the distro: while it runs, WSL keeps the distro (and its VM) up."""
        with open(log, "ab") as out:
            return subprocess.Popen([self.exe, "-d", name, "-u", "root", "--", *argv], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=out)


def push_keys_script() -> str:
    """Unpacks the tar on stdin (host key, authorized key) into GUEST_KEYS, owner-only."""
    return f"umask 077 && mkdir -p {GUEST_KEYS} && tar -x -C {GUEST_KEYS}"


def start_script(ssh_port: int, berthd_argv: list[str] | None = None) -> str:
    """What runs in the distro at start: berthd in the background, then sshd in the foreground on the distro's
    loopback (reachable from the host through WSL2's localhost forwarding), with only Berth's keys."""
    berthd = berthd_argv or [
        "python3", "-m", "engine.daemon", "--root", "/var/lib/berth", "--exec-root", "/run/berth",
        "--host", f"unix://{GUEST_ENGINE_SOCKET}"]
    k = GUEST_KEYS
    return "\n".join([
        "set -e",
        "mkdir -p /run/berth /run/sshd /var/log",
        # As the guest's init does: the code is under /opt/berth, its dependencies under /opt/berth/lib.
        "( cd /opt/berth 2>/dev/null || true; export PYTHONPATH=/opt/berth/lib:/opt/berth${PYTHONPATH:+:$PYTHONPATH}",
        f"  exec {shlex.join(berthd)} >> /var/log/berthd.log 2>&1 ) &",
        f"exec /usr/sbin/sshd -D -e -f /dev/null -o ListenAddress=127.0.0.1:{ssh_port} "
        f"-o HostKey={k}/ssh_host_ed25519_key -o AuthorizedKeysFile={k}/authorized_keys "
        "-o PermitRootLogin=prohibit-password -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no "
        "-o UsePAM=no -o StrictModes=no -o PidFile=none -o AllowTcpForwarding=yes "
        "-o AllowStreamLocalForwarding=yes -o ClientAliveInterval=15",
    ])
