"""Resolve a container's `User` ("name", "uid", "name:group", "uid:gid") against the
image's own /etc/passwd and /etc/group, read as data from inside its root."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.containers.confined import read_in_root
from engine.errors import InvalidArgument


@dataclass(frozen=True)
class ProcessUser:
    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


def _entries(root: Path, path: str) -> list[list[str]]:
    data = read_in_root(root, path)
    if data is None:
        return []
    return [ln.split(":") for ln in data.decode(errors="replace").splitlines() if ln and not ln.startswith("#")]


def resolve_user(root: Path, user: str, extra_groups: list[str] | None = None) -> ProcessUser:
    user = (user or "").strip()
    name, _, group = user.partition(":")
    passwd = _entries(root, "/etc/passwd")
    groups = _entries(root, "/etc/group")
    uid, gid, home, login = 0, 0, "/", "root"
    if name in ("", "root") and not passwd:
        pass
    elif name.isdigit():
        uid = int(name)
        match = next((p for p in passwd if len(p) >= 6 and p[2] == name), None)
        if match:
            gid, home, login = int(match[3]), match[5], match[0]
        else:
            gid, login = uid, ""
    else:
        name = name or "root"
        match = next((p for p in passwd if len(p) >= 6 and p[0] == name), None)
        if match is None:
            raise InvalidArgument(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid, home, login = int(match[2]), int(match[3]), match[5], name
    if group:
        gid = _group_id(groups, group)
    additional = sorted({int(g[2]) for g in groups if len(g) >= 4 and login and login in g[3].split(",")
                         and g[2].isdigit()} - {gid})
    for g in extra_groups or []:
        additional.append(_group_id(groups, g))
    return ProcessUser(uid=uid, gid=gid, additional_gids=additional, home=home or "/")


def _group_id(groups: list[list[str]], group: str) -> int:
    if group.isdigit():
        return int(group)
    match = next((g for g in groups if len(g) >= 3 and g[0] == group), None)
    if match is None:
        raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
    return int(match[2])
