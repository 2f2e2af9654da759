"""Log rotation for containers with LogConfig max-size / max-file.

conmon only knows truncation, which loses lines; instead berthd renames the file aside
(container.log -> container.log.1 -> ... ) and tells conmon to reopen its log through
the ctl FIFO. A cheap stat per container and tick decides when."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from engine.containers.logs import LogSettings
from engine.containers.model import Container
from engine.containers.service import ContainerService
from engine.errors import InvalidArgument, NotFound, RuntimeFailure
from engine.events import EventBus
from engine.runtime.conmon import REOPEN_LOG

log = logging.getLogger(__name__)

TICK = 0.5
def rotate(log_path: Path, max_files: int) -> None:
    for n in range(max_files - 1, 0, -1):
        src = log_path.with_name(f"{log_path.name}.{n - 1}") if n > 1 else log_path
        dst = log_path.with_name(f"{log_path.name}.{n}")
        if src.exists():
            src.rename(dst)
    if max_files == 1:
        # Nothing kept aside: start afresh, as json-file does with max-file=1.
        aside = log_path.with_name(log_path.name + ".1")
        log_path.rename(aside)
        aside.unlink()


class LogRotator:
    def __init__(self, containers: ContainerService, events: EventBus) -> None:
        self.containers = containers
        self.events = events
        self._task: asyncio.Task[None] | None = None
        self._watched: dict[str, LogSettings] = {}

    def start(self) -> None:
        for c in self.containers.all():
            if c.state.is_up:
                self._watch(c)
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._loop())
        self._events = loop.create_task(self._follow())

    async def close(self) -> None:
        for t in (self._task, getattr(self, "_events", None)):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    def _watch(self, c: Container) -> None:
        with contextlib.suppress(InvalidArgument):
            limits = c.spec.log
            if limits.max_size:
                self._watched[c.id] = limits

    async def _follow(self) -> None:
        async for ev in self.events.subscribe():
            if ev.type != "container":
                continue
            if ev.action == "start":
                with contextlib.suppress(NotFound):
                    self._watch(self.containers.get(ev.actor_id))
            elif ev.action in ("die", "destroy"):
                self._watched.pop(ev.actor_id, None)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            for cid, limits in list(self._watched.items()):
                path = self.containers.log_path(cid)
                try:
                    if path.stat().st_size < limits.max_size:
                        continue
                    rotate(path, limits.max_files)
                    self.containers.runtime.control(self.containers.bundle_dir(cid), REOPEN_LOG)
                except (OSError, RuntimeFailure) as e:
                    log.debug("rotating the log of %s: %s", cid[:12], e)
