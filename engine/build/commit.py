"""`docker commit`: a container's changes (its overlay upper dir) as a new layer on its image.

The new image's runtime config is the container's own (what it was created with, the image's
defaults merged in), under the request's config and `changes`, merged the way dockerd's
`daemon/commit.go` merges them: the request wins field by field, Env/Labels/ExposedPorts/Volumes
are unions, and Cmd only comes from the container when the request sets neither Cmd nor
Entrypoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from engine.containers.model import Container, State
from engine.errors import Conflict, InvalidArgument, RuntimeFailure
from engine.events import EventBus
from engine.images.changes import apply_changes
from engine.images.service import ImageService
from engine.storage.difftar import upper_dir_layer

log = logging.getLogger(__name__)

# How long a pause that failed may wait for the container's exit to be recorded: a short-lived
# command (`touch /test`) can end between our look at its state and the runtime's pause.
_EXIT_GRACE = 5.0

# The ContainerConfig keys an image keeps (ImageService.RUNTIME_CONFIG_KEYS, less the builder's).
IMAGE_CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
                     "StopSignal", "Healthcheck", "Shell", "OnBuild", "ArgsEscaped")


class ContainerSource(Protocol):
    """What commit needs of the container service."""

    def get(self, ref: str) -> Container: ...
    def data_dir(self, cid: str) -> Any: ...
    async def pause(self, ref: str) -> None: ...
    async def unpause(self, ref: str) -> None: ...
    def wait_future(self, ref: str, condition: str = ...) -> asyncio.Future[int]: ...


@dataclass(frozen=True)
class CommitRequest:
    container: str
    repo: str | None = None
    tag: str | None = None
    comment: str = ""
    author: str = ""
    pause: bool = True
    changes: tuple[str, ...] = ()
    config: dict[str, Any] | None = None  # the request body: a ContainerConfig, or nothing


def merge_commit_config(requested: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """dockerd's merge(userConf, containerConf): fill what the request left unset."""
    out = {k: requested.get(k) for k in IMAGE_CONFIG_KEYS}
    if not out["User"]:
        out["User"] = container.get("User") or ""
    ports = dict(container.get("ExposedPorts") or {})
    ports.update(out["ExposedPorts"] or {})
    out["ExposedPorts"] = ports or None
    env = list(out["Env"] or [])
    keys = {e.partition("=")[0] for e in env}
    env += [e for e in container.get("Env") or [] if e.partition("=")[0] not in keys]
    out["Env"] = env or None
    labels = dict(container.get("Labels") or {})
    labels.update(out["Labels"] or {})
    out["Labels"] = labels
    if not out["Entrypoint"]:
        if not out["Cmd"]:
            out["Cmd"] = container.get("Cmd")
            out["ArgsEscaped"] = container.get("ArgsEscaped")
        if out["Entrypoint"] is None:
            out["Entrypoint"] = container.get("Entrypoint")
    if out["Healthcheck"] is None:
        out["Healthcheck"] = container.get("Healthcheck")
    if not out["WorkingDir"]:
        out["WorkingDir"] = container.get("WorkingDir") or ""
    volumes = dict(container.get("Volumes") or {})
    volumes.update(out["Volumes"] or {})
    out["Volumes"] = volumes or None
    if not out["StopSignal"]:
        out["StopSignal"] = container.get("StopSignal")
    for key in ("Shell", "OnBuild"):
        if out[key] is None:
            out[key] = container.get(key)
    return out


async def commit_container(containers: ContainerSource, images: ImageService, events: EventBus,
                           req: CommitRequest) -> str:
    """Commit the container `req.container`; returns the new image id."""
    c = containers.get(req.container)
    if c.state in (State.REMOVING, State.DEAD):
        raise Conflict(f"cannot commit container {c.name}: it is being removed")
    if not isinstance(req.config or {}, dict):
        raise InvalidArgument("the request body must be a container config (a JSON object)")
    requested: dict[str, Any] = dict(req.config or {})
    apply_changes(requested, _changes(req.changes))
    config = merge_commit_config(requested, c.config)
    lowers = images.layer_dirs(c.image_id)
    paused = req.pause and c.state is State.RUNNING and await _pause_if_running(containers, c.id)
    try:
        with upper_dir_layer(containers.data_dir(c.id) / "upper", lowers) as layer:
            image_id = await images.commit(layer, c.image_id, config, req.repo, req.tag, req.comment, req.author,
                                           container=c.id, container_config=dict(c.config))
    finally:
        if paused:
            try:
                await containers.unpause(c.id)
            except (Conflict, RuntimeFailure) as e:  # killed or removed meanwhile: nothing left to thaw
                log.info("commit of %s: not unpaused: %s", c.id, e)
    ref = f"{req.repo}:{req.tag or 'latest'}" if req.repo else ""
    events.publish("container", "commit", c.id,
                   {"name": c.name, "image": c.image, "comment": req.comment, "imageID": image_id, "imageRef": ref})
    return image_id


async def _pause_if_running(containers: ContainerSource, cid: str) -> bool:
    """Freeze the container for a consistent snapshot, as dockerd does; False when it exited
    before it could be frozen (its files no longer change: commit them as they are)."""
    try:
        await containers.pause(cid)
        return True
    except (Conflict, RuntimeFailure) as refused:
        # Conflict: its exit was recorded first. RuntimeFailure: the runtime found the process gone
        # before berthd recorded the exit, which follows in a moment. Anything else is a real refusal.
        exited = containers.wait_future(cid, "not-running")
        try:
            await asyncio.wait_for(exited, _EXIT_GRACE)
        except TimeoutError:
            raise refused from None
        return False


def _changes(changes: Iterable[str]) -> list[str]:
    # The CLI sends each --change as its own `changes` value; a value may still hold several lines.
    return [line for change in changes for line in change.splitlines() if line.strip()]
