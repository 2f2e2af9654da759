"""Edit and recreate: a container made again from an edited form, under the same name, with its
named volumes (they outlive containers; only the container goes).

The order keeps the old container until the new one exists and has started:
1. create the new one under a temporary name — a refused create leaves the old one untouched;
2. stop the old one (it may hold the ports and the name) and rename it aside;
3. give the new one the name and start it — if that fails, the new one goes, the old one gets its
   name back and is started again if it was running;
4. only then remove the old container (never its volumes).
"""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from app.services.engine import EngineConnection
from app.services.tasks import TaskSet
from engine.client import EngineClientError, EngineUnreachable

if TYPE_CHECKING:
    from engine.client import EngineClient


class RecreateFailed(Exception):
    def __init__(self, message: str, kept: bool) -> None:
        super().__init__(message)
        self.message = message
        self.kept = kept  # the old container is still there, under its name


async def recreate(client: EngineClient, old: dict[str, Any], body: dict[str, Any], platform: str = "") -> str:
    """Replace the container `old` (its inspect) by one created from `body`; returns the new id."""
    old_id = str(old["Id"])
    name = str(old.get("Name", "")).lstrip("/")
    was_running = bool((old.get("State") or {}).get("Running"))
    token = secrets.token_hex(3)
    body = kept_restart_count(body, old)
    try:
        new_id = str((await client.create(body, name=f"{name}-berth-new-{token}", platform=platform))["Id"])
    except (EngineClientError, EngineUnreachable) as exc:
        raise RecreateFailed(f"the new container could not be created: {_words(exc)}", kept=True) from exc
    for network, endpoint in other_networks(body, old).items():
        try:
            await client.connect_network(network, new_id, endpoint)
        except (EngineClientError, EngineUnreachable) as exc:
            with contextlib.suppress(EngineClientError, EngineUnreachable):
                await client.remove(new_id, force=True)
            raise RecreateFailed(f"the new container could not join {network}: {_words(exc)}", kept=True) from exc
    aside = f"{name}-berth-old-{token}"
    stage = "stop"
    try:
        if was_running:
            await client.stop(old_id)
        stage = "rename"
        await client.request("POST", f"containers/{old_id}/rename", params={"name": aside})
        stage = "name"
        await client.request("POST", f"containers/{new_id}/rename", params={"name": name})
        stage = "start"
        await client.start(new_id)
    except (EngineClientError, EngineUnreachable) as exc:
        restored = await _roll_back(client, old_id, new_id, name, stage, was_running)
        raise RecreateFailed(f"the new container could not {'start' if stage == 'start' else 'take its place'}: "
                             f"{_words(exc)}", kept=restored) from exc
    # The new one runs under the name: the old container goes, its volumes stay (no v=1).
    with contextlib.suppress(EngineClientError, EngineUnreachable):
        await client.remove(old_id, force=True)
    return new_id


def kept_restart_count(body: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The form says a restart policy by name only: an on-failure policy that stays on-failure keeps
    its retry count (--restart on-failure:3), which the form does not show."""
    policy = (body.get("HostConfig") or {}).get("RestartPolicy") or {}
    before = (old.get("HostConfig") or {}).get("RestartPolicy") or {}
    count = before.get("MaximumRetryCount")
    if policy.get("Name") != before.get("Name") or not count or policy.get("MaximumRetryCount"):
        return body
    return {**body, "HostConfig": {**body["HostConfig"], "RestartPolicy": {**policy, "MaximumRetryCount": count}}}


def other_networks(body: dict[str, Any], old: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The networks the old container was connected to after its create (`docker network connect`, a
    compose service's second network), with their aliases and addresses: the new one joins them too.
    The networks the form and the old container name as their own are not among them; none are joined
    when the form leaves the container without a network of its own (none, host, another container's)."""
    mode = str((body.get("HostConfig") or {}).get("NetworkMode") or "default")
    if mode in ("none", "host") or mode.startswith("container:"):
        return {}
    # The create's own network, and the old one's (the form may have moved the container off it).
    was = str((old.get("HostConfig") or {}).get("NetworkMode") or "default")
    primary = {"bridge" if m == "default" else m for m in (mode, was)}
    return {network: {key: endpoint[key] for key in ("Aliases", "IPAMConfig", "DriverOpts") if endpoint.get(key)}
            for network, endpoint in ((old.get("NetworkSettings") or {}).get("Networks") or {}).items()
            if network not in primary}


async def _roll_back(client: EngineClient, old_id: str, new_id: str, name: str, stage: str, was_running: bool) -> bool:
    """Undo a recreate cut short: the new container goes, the old one is back as it was."""
    try:
        await client.remove(new_id, force=True)
        if stage in ("name", "start"):
            await client.request("POST", f"containers/{old_id}/rename", params={"name": name})
        if was_running:
            await client.start(old_id)
    except (EngineClientError, EngineUnreachable):
        return False
    return True


def _words(exc: Exception) -> str:
    if isinstance(exc, EngineClientError):
        return exc.message
    return "the engine does not answer"


class Recreator(QObject):
    """Runs `recreate` for the desktop and reports through signals."""

    recreated = Signal(str, str)  # old id, new id
    failed = Signal(str, str)  # old id, what to tell the user

    def __init__(self, connection: EngineConnection, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._connection = connection
        self._tasks = TaskSet()

    def recreate(self, old: dict[str, Any], body: dict[str, Any], platform: str = "", old_line: str = "") -> None:
        self._tasks.spawn(self._recreate(old, body, platform, old_line), name="container-recreate")

    async def _recreate(self, old: dict[str, Any], body: dict[str, Any], platform: str, old_line: str) -> None:
        name = str(old.get("Name", "")).lstrip("/")
        try:
            new_id = await recreate(self._connection.client, old, body, platform)
        except RecreateFailed as exc:
            kept = (f"{name} is kept as it was" if exc.kept else
                    f"{name} could not be put back by itself: look for it on the Containers page")
            self.failed.emit(str(old["Id"]), f"Could not recreate {name}: {exc.message}. {kept}"
                             + (f"; its settings were: {old_line}" if old_line else "."))
            return
        self.recreated.emit(str(old["Id"]), new_id)

    async def close(self) -> None:
        await self._tasks.close()
