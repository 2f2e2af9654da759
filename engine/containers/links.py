"""Legacy container links (`--link name:alias`, HostConfig.Links) on the default bridge.

A link gives the container the linked one's address under the alias in /etc/hosts, and
environment variables naming it, its ports and its environment, as dockerd writes them
(moby's `daemon/links`):

    MYLINK_NAME=/web/mylink
    MYLINK_PORT=tcp://172.17.0.2:80            (the lowest exposed port)
    MYLINK_PORT_80_TCP=tcp://172.17.0.2:80     (and _ADDR, _PORT, _PROTO, for each port)
    MYLINK_ENV_FOO=1                           (the linked container's Config.Env)

HostConfig.Links is kept as dockerd reports it: `/<linked name>:/<container name>/<alias>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.errors import InvalidArgument

_NOT_IN_NAME = re.compile(r"[^A-Z0-9_]")


@dataclass(frozen=True)
class Link:
    target: str  # the linked container's name, without "/"
    alias: str

    def stored(self, container_name: str) -> str:
        return f"/{self.target}:/{container_name}/{self.alias}"


def parse(entries: object) -> list[Link]:
    """HostConfig.Links as a client sends them (`name:alias`, `name`, or dockerd's own
    `/name:/container/alias`); InvalidArgument says which entry is wrong."""
    if entries in (None, []):
        return []
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise InvalidArgument("HostConfig.Links must be a list of strings, each name:alias")
    links = []
    for entry in entries:
        name, _, alias = entry.partition(":")
        name = name.strip("/")
        alias = alias.rsplit("/", 1)[-1] if alias else name
        if not name or not alias:
            raise InvalidArgument(f"invalid link {entry!r}: write container:alias, e.g. db:database")
        links.append(Link(name, alias))
    return links


def stored(entries: object, container_name: str) -> list[str] | None:
    links = parse(entries)
    return [link.stored(container_name) for link in links] or None


def environment(link: Link, container_name: str, address: str, exposed: list[str],
                env: list[str]) -> list[str]:
    """The variables one link gives the container. `exposed`: the linked container's ports as
    Config.ExposedPorts keys ("80/tcp")."""
    prefix = _NOT_IN_NAME.sub("_", link.alias.upper())
    out = [f"{prefix}_NAME=/{container_name}/{link.alias}"]
    ports = sorted((_port(p) for p in exposed), key=lambda pp: (pp[0], pp[1]))
    if address and ports:
        first, proto = ports[0]
        out.append(f"{prefix}_PORT={proto}://{address}:{first}")
    for port, proto in ports if address else []:
        key = f"{prefix}_PORT_{port}_{proto.upper()}"
        out += [f"{key}={proto}://{address}:{port}", f"{key}_ADDR={address}", f"{key}_PORT={port}",
                f"{key}_PROTO={proto}"]
    for item in env:
        name, sep, value = item.partition("=")
        if sep and name not in ("HOME", "PATH"):
            out.append(f"{prefix}_ENV_{name}={value}")
    return out


def _port(key: str) -> tuple[int, str]:
    number, _, proto = key.partition("/")
    try:
        return int(number), proto or "tcp"
    except ValueError:
        return 0, proto or "tcp"
