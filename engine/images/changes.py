"""Dockerfile instructions applied to an image's runtime config: the `changes` of import and commit.

`docker import --change 'CMD ["/bin/sh"]'` and `docker commit --change ...` accept the
instructions that only touch the config (no RUN, COPY, FROM). Both the JSON (exec) form and the
shell form are understood; quoting in ENV/LABEL follows POSIX shell rules, close to Docker's.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Iterable
from typing import Any

from engine.errors import InvalidArgument

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PORT_RE = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$")


def apply_changes(config: dict[str, Any], changes: Iterable[str]) -> None:
    """Apply each instruction to the runtime `config` (the image config's "config" object) in place."""
    for change in changes:
        change = change.strip()
        if not change:
            continue
        word, _, rest = change.partition(" ")
        rest = rest.strip()
        handler = _HANDLERS.get(word.upper())
        if handler is None:
            raise InvalidArgument(
                f"{word} is not a valid change command (use one of {', '.join(sorted(_HANDLERS))})"
            )
        if not rest:
            raise InvalidArgument(f"{word.upper()} requires at least one argument")
        handler(config, rest)


def _exec_or_shell(rest: str) -> list[str]:
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", rest]


def _cmd(config: dict[str, Any], rest: str) -> None:
    config["Cmd"] = _exec_or_shell(rest)


def _entrypoint(config: dict[str, Any], rest: str) -> None:
    config["Entrypoint"] = _exec_or_shell(rest)


def _pairs(instruction: str, rest: str) -> list[tuple[str, str]]:
    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise InvalidArgument(f"{instruction} {rest!r}: {e}") from None
    if words and "=" not in words[0]:
        # Legacy form `ENV KEY value with spaces`: one pair, the rest of the line is the value.
        key, _, value = rest.partition(" ")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"{instruction} {rest!r}: expected KEY=VALUE, got {word!r}")
        pairs.append((key, value))
    return pairs


def _env(config: dict[str, Any], rest: str) -> None:
    env: list[str] = list(config.get("Env") or [])
    for key, value in _pairs("ENV", rest):
        env = [e for e in env if e.partition("=")[0] != key]
        env.append(f"{key}={value}")
    config["Env"] = env


def _label(config: dict[str, Any], rest: str) -> None:
    labels: dict[str, str] = dict(config.get("Labels") or {})
    labels.update(_pairs("LABEL", rest))
    config["Labels"] = labels


def _expose(config: dict[str, Any], rest: str) -> None:
    ports: dict[str, Any] = dict(config.get("ExposedPorts") or {})
    for word in rest.split():
        m = _PORT_RE.match(word.lower())
        if not m:
            raise InvalidArgument(f"EXPOSE: invalid port {word!r}")
        first = int(m.group(1))
        last = int(m.group(2) or first)
        proto = m.group(3) or "tcp"
        if not 0 < first <= last <= 65535:
            raise InvalidArgument(f"EXPOSE: invalid port range {word!r}")
        for port in range(first, last + 1):
            ports[f"{port}/{proto}"] = {}
    config["ExposedPorts"] = ports


def _volume(config: dict[str, Any], rest: str) -> None:
    paths: list[str]
    if rest.startswith("["):
        try:
            loaded = json.loads(rest)
        except json.JSONDecodeError:
            raise InvalidArgument(f"VOLUME: invalid JSON {rest!r}") from None
        if not isinstance(loaded, list) or not all(isinstance(p, str) for p in loaded):
            raise InvalidArgument("VOLUME: expected a JSON array of strings")
        paths = loaded
    else:
        paths = rest.split()
    volumes: dict[str, Any] = dict(config.get("Volumes") or {})
    for p in paths:
        volumes[p] = {}
    config["Volumes"] = volumes


def _user(config: dict[str, Any], rest: str) -> None:
    config["User"] = rest


def _workdir(config: dict[str, Any], rest: str) -> None:
    # Relative WORKDIR builds on the previous one, as in a Dockerfile.
    config["WorkingDir"] = posixpath.normpath(posixpath.join(config.get("WorkingDir") or "/", rest))


def _stopsignal(config: dict[str, Any], rest: str) -> None:
    config["StopSignal"] = rest


def _onbuild(config: dict[str, Any], rest: str) -> None:
    config["OnBuild"] = [*(config.get("OnBuild") or []), rest]


_HANDLERS = {
    "CMD": _cmd,
    "ENTRYPOINT": _entrypoint,
    "ENV": _env,
    "EXPOSE": _expose,
    "LABEL": _label,
    "ONBUILD": _onbuild,
    "STOPSIGNAL": _stopsignal,
    "USER": _user,
    "VOLUME": _volume,
    "WORKDIR": _workdir,
}
