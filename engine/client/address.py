"""Which engine to talk to when nobody says: the same rules as the docker CLI, Berth's socket first."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

BERTH_SOCKET = Path("/run/berth/berth.sock")
DOCKER_SOCKET = Path("/var/run/docker.sock")


def default_engine_url(environ: Mapping[str, str] | None = None, berth_socket: Path = BERTH_SOCKET) -> str:
    """$BERTH_HOST, then $DOCKER_HOST, then berthd's socket if it exists, else dockerd's."""
    env = os.environ if environ is None else environ
    for name in ("BERTH_HOST", "DOCKER_HOST"):
        value = env.get(name, "").strip()
        if value:
            return normalize_url(value)
    if berth_socket.exists():
        return f"unix://{berth_socket}"
    return f"unix://{DOCKER_SOCKET}"


def normalize_url(url: str) -> str:
    """Accept a bare socket path as people type it (`/tmp/x.sock`) as well as `unix:///tmp/x.sock`."""
    if url.startswith("/"):
        return f"unix://{url}"
    return url


def socket_path(url: str) -> Path | None:
    """The socket file behind a unix:// URL, or None for other schemes."""
    if url.startswith("unix://"):
        return Path(url[len("unix://") :])
    return None


def check_engine_url(url: str) -> str:
    """`url` normalised, or ValueError saying how an engine address is written."""
    url = normalize_url(url.strip())
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("unix", "tcp", "ssh"):
        raise ValueError(f"{url!r} is not an engine address: write unix:///path/to/engine.sock, "
                         "tcp://host:2376 or ssh://user@host")
    if scheme == "unix" and not rest.startswith("/"):
        raise ValueError(f"{url!r}: a socket path must be absolute (unix:///run/berth/berth.sock)")
    host = rest.split("/", 1)[0].rpartition("@")[2]
    if scheme in ("tcp", "ssh") and not host.split(":", 1)[0]:
        raise ValueError(f"{url!r} names no host: write {scheme}://host{':2376' if scheme == 'tcp' else ''}")
    if ":" in host:
        port = host.rsplit(":", 1)[1]
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{url!r}: the port must be a number from 1 to 65535")
    return url
