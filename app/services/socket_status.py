"""Whether an engine's Unix socket is there and takes connections, as Settings shows each engine:
a quick local connect (no request), so the list can say it before anyone switches."""

from __future__ import annotations

import enum
import errno
import socket
from pathlib import Path


class SocketStatus(enum.Enum):
    REACHABLE = "reachable"
    NOT_RUNNING = "not running"  # the file is there, nothing accepts (the engine stopped)
    DENIED = "permission denied"
    MISSING = "no socket"  # nothing at that path: the engine is not installed or never started
    REMOTE = ""  # tcp:// or ssh://: known only by talking to it

    @property
    def usable(self) -> bool:
        return self in (SocketStatus.REACHABLE, SocketStatus.REMOTE)


def socket_status(url: str, timeout: float = 0.5) -> SocketStatus:
    if not url.startswith("unix://"):
        return SocketStatus.REMOTE
    path = url.removeprefix("unix://")
    try:
        exists = Path(path).exists()
    except PermissionError:  # a parent folder we may not enter (e.g. /run/podman 0700)
        return SocketStatus.DENIED
    if not exists:
        return SocketStatus.MISSING
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(path)
        except PermissionError:
            return SocketStatus.DENIED
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                return SocketStatus.DENIED
            return SocketStatus.NOT_RUNNING
    return SocketStatus.REACHABLE
