"""How engine data is shown to people, shared by the CLI and the desktop (so no Qt here).

The wording follows the docker CLI where people already know it ("Up 2 minutes", "3 days ago",
"0.0.0.0:8080->80/tcp"), so what Berth shows matches what tutorials print.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from engine import formats

_EXIT_CODE = re.compile(r"Exited \((-?\d+)\)")


class Tone(Enum):
    """The colour family of a state; always shown together with a word (never colour alone)."""

    OK = "ok"  # running: green
    WARNING = "warning"  # paused: amber
    NEUTRAL = "neutral"  # exited 0, created: grey
    ERROR = "error"  # exited non-zero, dead, unhealthy: red
    PENDING = "pending"  # restarting, health starting: blue


@dataclass(frozen=True, slots=True)
class ContainerState:
    word: str
    tone: Tone

    @property
    def running(self) -> bool:
        return self.word.startswith("running") or self.word == "starting"

    @property
    def up(self) -> bool:
        """Its process exists (running, or paused): what Stop acts on and what Start does not."""
        return self.running or self.word == "paused"


def container_state(item: Mapping[str, Any]) -> ContainerState:
    """The state word and tone of a `/containers/json` entry."""
    state = str(item.get("State", "")).lower()
    status = str(item.get("Status", ""))
    if state == "running":
        if "(unhealthy)" in status:
            return ContainerState("running (unhealthy)", Tone.ERROR)
        if "(health: starting)" in status:
            return ContainerState("starting", Tone.PENDING)
        return ContainerState("running", Tone.OK)
    if state == "paused":
        return ContainerState("paused", Tone.WARNING)
    if state == "exited":
        match = _EXIT_CODE.search(status)
        code = int(match.group(1)) if match else 0
        return ContainerState(f"exited ({code})", Tone.NEUTRAL if code == 0 else Tone.ERROR)
    if state == "dead":
        return ContainerState("dead", Tone.ERROR)
    if state in ("restarting", "removing"):
        return ContainerState(state, Tone.PENDING)
    return ContainerState(state or "unknown", Tone.NEUTRAL)


def short_id(id: str) -> str:
    return id.removeprefix("sha256:")[:12]


def container_name(item: Mapping[str, Any]) -> str:
    names = item.get("Names") or []
    if names:
        return str(names[0]).lstrip("/")
    return short_id(str(item.get("Id", "")))


def command_text(item: Mapping[str, Any], width: int = 20) -> str:
    """The quoted, shortened command, as `docker ps` shows it."""
    command = str(item.get("Command", ""))
    if len(command) > width:
        command = command[: width - 1] + "…"
    return f'"{command}"'


def ports_text(ports: Sequence[Mapping[str, Any]] | None) -> str:
    """ "0.0.0.0:8080->80/tcp, 443/tcp": published ports first as the engine lists them."""
    parts: list[str] = []
    for port in ports or []:
        private = f"{port.get('PrivatePort', '')}/{port.get('Type', 'tcp')}"
        public = port.get("PublicPort")
        if public:
            parts.append(f"{port.get('IP') or '0.0.0.0'}:{public}->{private}")
        else:
            parts.append(private)
    # dockerd lists a port once per address family; show each mapping once.
    return ", ".join(dict.fromkeys(parts))


def human_duration(seconds: float) -> str:
    """ "About a minute", "5 minutes", "3 days": how long something has been so, in docker's words
    (go-units' HumanDuration: 90 minutes are "2 hours", as `docker ps` says)."""
    return formats.human_duration(max(0.0, seconds))


def human_ago(timestamp: float, now: float | None = None) -> str:
    """ "5 minutes ago", for a Unix timestamp such as a container's `Created`."""
    current = time.time() if now is None else now
    return f"{human_duration(current - timestamp)} ago"


def human_size(size: float) -> str:
    """Decimal units, as docker prints image sizes: 4.26MB, 1.2GB."""
    return formats.human_size(size, 3)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], gap: int = 3) -> str:
    """Left-aligned columns separated by at least `gap` spaces, like docker's tabwriter output."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[index]) for index, cell in enumerate(row)]
        lines.append((" " * gap).join(cells).rstrip())
    return "\n".join(lines)


_UNBROKEN = re.compile(r"\S{60,}")


def breakable(text: str, every: int = 40) -> str:
    """`text` with a zero-width space every `every` characters of a very long unbroken run (an
    image digest, a path, a URL), so a wrapped label can break it instead of widening its window."""
    return _UNBROKEN.sub(lambda m: "\u200b".join(m[0][i:i + every] for i in range(0, len(m[0]), every)), text)


_OBJECT_REPR = re.compile(r"\s*(ssl:)?<[\w.]+ object at 0x[0-9a-fA-F]+>")


def plain_reason(text: str) -> str:
    """An engine's or a library's message as words for a person: HTML entities decoded (an engine
    behind a proxy escapes quotes as &#x27;), Python object reprs (aiohttp's
    `ssl:<ssl.SSLContext object at 0x…>`) dropped, "[Errno 111] Connection refused" kept as words."""
    import html

    text = html.unescape(text)
    tls = "ssl:<ssl.SSLContext" in text
    text = _OBJECT_REPR.sub(" (TLS)" if tls else "", text)
    text = re.sub(r"\s*ssl:default\b", "", text)
    text = re.sub(r"\[Errno \d+\] ", "", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def engine_advice(url: str, socket_exists: bool | None = None, permission_denied: bool = False) -> str:
    """The next step when the engine at `url` does not answer, for the engine that socket belongs to
    (starting berthd does not help a missing dockerd or podman socket)."""
    if not url.startswith("unix://"):
        return "Check the address and your access to that host, or choose another engine in Settings."
    path = url.removeprefix("unix://")
    name = path.rsplit("/", 1)[-1]
    other = "or choose another engine in Settings (or --host, BERTH_HOST)."
    if permission_denied:
        # The engine runs; this user may not open its socket (0660, owned by the engine's group).
        group = "docker" if name == "docker.sock" else "berth" if "berth" in path else ""
        if not group:
            return f"Permission denied on {path}: ask whoever runs that engine for access, {other}"
        return (f"Permission denied on {path}: add yourself to the {group} group "
                f"(sudo usermod -aG {group} $USER, then log in again), {other}")
    missing = f"Nothing listens at {path}: the socket does not exist. " if socket_exists is False else ""
    if "podman" in path:
        return missing + f"Start Podman's API service (systemctl --user start podman.socket), {other}"
    if name == "docker.sock":
        return missing + f"Start Docker (sudo systemctl start docker), {other}"
    if name == "berth.sock" or "berth" in path:
        return missing + f"Start Berth's engine with berthd, {other}"
    return missing + f"Start the engine that serves this socket, {other}"


def cli_command() -> str:
    """How to type `berth` here: its name when it is on PATH, else its full path (the README's
    set-up leaves it in the virtualenv's bin, which is not on PATH)."""
    if shutil.which("berth"):
        return "berth"
    beside = Path(sys.executable).parent / "berth"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else "berth"


def command_line(config: Mapping[str, Any]) -> str:
    """What a container runs (entrypoint, then command) as a shell line, quoted as typed:
    `sh -c 'echo hi; sleep 1'`, never `sh -c echo hi; sleep 1`."""
    words = [str(w) for w in (config.get("Entrypoint") or []) + (config.get("Cmd") or [])]
    return shlex.join(words)

