"""`ComposeService`: the engine's compose projects, listed from labels, driven through `engine.compose`.

Lists refresh from the window's `/events` stream (container events carrying a compose project label),
never by polling. Long operations (up, down, start, stop, restart) are jobs in the task panel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.models.compose import container_item, project_item
from app.models.logs import LogBuffer
from app.services.engine import EngineConnection
from app.services.jobs import Job, JobCenter, error_text
from app.services.logs import LogFollower
from app.services.tasks import TaskSet
from engine import compose
from engine.client import EngineClientError, EngineUnreachable

if TYPE_CHECKING:
    from engine.client import EngineClient


def unreadable(files: list[str]) -> list[str]:
    """The config files this desktop cannot read (another machine's paths, permissions)."""
    return [f for f in files if not (Path(f).is_file() and os.access(f, os.R_OK))]


# What a compose action may fail with: said in place, the rest is a bug.
_FAILURES = (compose.ComposeError, EngineClientError, EngineUnreachable, OSError, ValueError)


class ComposeService(QObject):
    listed = Signal(list)  # project items (dicts, see app.models.compose.project_item)
    containersListed = Signal(str, list)  # project, its containers (dicts)
    actionStarted = Signal(str, str)  # project, action
    actionFinished = Signal(str, str)
    actionFailed = Signal(str, str, str)  # project ("" for the listing), action, message
    cameUp = Signal(str)  # a project brought up from a file: its name

    def __init__(self, connection: EngineConnection, jobs: JobCenter, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._connection = connection
        self._jobs = jobs
        self._tasks = TaskSet()
        self._listing: asyncio.Task[Any] | None = None
        self.projects: dict[str, dict[str, Any]] = {}
        self._closed = False
        self.current = ""  # the project whose containers are shown
        self.log_buffer = LogBuffer()
        self.follower = LogFollower(self.log_buffer, self)
        self._settle = QTimer(self)  # a burst of events (up starts many containers) lists once
        self._settle.setSingleShot(True)
        self._settle.setInterval(150)
        self._settle.timeout.connect(self.refresh)
        connection.resyncNeeded.connect(self.refresh)
        connection.containerEvent.connect(self._on_event)
        connection.switched.connect(self._on_switched)

    # -- engine ----------------------------------------------------------------------------------

    @property
    def engine(self) -> EngineClient:
        """The window's own client (the connection owns it and closes it): compose runs on it too."""
        if self._closed:
            raise compose.ComposeError("the window is closing")
        return self._connection.client

    def _on_switched(self, _url: str) -> None:
        self.projects.clear()
        self.current = ""
        self.follower.stop()
        self.listed.emit([])

    def _on_event(self, event: dict[str, Any]) -> None:
        # Any container change may concern a project (an engine need not copy labels into events);
        # the timer makes a burst of them one listing.
        self._settle.start()

    # -- listing ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        if self._closed:
            return
        if self._listing is None or self._listing.done():
            self._listing = self._tasks.spawn(self._list(), name="compose-list")
        else:
            self._settle.start()  # one listing at a time; list again after it

    async def _list(self) -> None:
        try:
            summaries = await compose.list_projects(self.engine)
        except (compose.ComposeError, EngineClientError, EngineUnreachable) as exc:
            if self._connection.status.reachable:
                self.actionFailed.emit("", "list", error_text(exc))
            return
        items = [project_item(s) for s in summaries]
        self.projects = {item["name"]: item for item in items}
        self.listed.emit(items)
        if self.current:
            await self._ps(self.current)

    def select(self, name: str) -> None:
        self.current = name
        if name:
            self._tasks.spawn(self._ps(name), name="compose-ps")
        else:
            self.containersListed.emit("", [])

    async def _ps(self, name: str) -> None:
        try:
            found = await compose.ps(self.engine, name, all=True)
        except (compose.ComposeError, EngineClientError, EngineUnreachable) as exc:
            self.actionFailed.emit(name, "ps", error_text(exc))
            return
        if name == self.current:
            self.containersListed.emit(name, [container_item(c) for c in found])

    # -- projects --------------------------------------------------------------------------------

    def files_problem(self, name: str) -> str:
        """Why `up` cannot read this project's files here ("" when it can)."""
        item = self.projects.get(name) or {}
        files = list(item.get("config_files") or [])
        if not files:
            return f"{name} has no config files recorded in its labels: open its compose file to bring it up."
        missing = unreadable(files)
        if missing:
            return (f"The compose files of {name} are not readable here ({', '.join(missing)}): "
                    "bring it up where they are, or open a copy with “Open compose file…”.")
        return ""

    async def _load(self, name: str) -> tuple[compose.Project, bool]:
        """The project from its files when they are readable here, else a bare one (by labels only)."""
        item = self.projects.get(name) or {}
        files = list(item.get("config_files") or [])
        workdir = str(item.get("working_dir") or "") or None
        if files and not unreadable(files):
            project = await asyncio.to_thread(compose.load_project, files, project_name=name,
                                              project_directory=workdir)
            return project, True
        bare = compose.load_project_from_dict({"services": {}}, name=name, working_dir=Path(workdir or "."))
        return bare, False

    def up(self, name: str) -> Job | None:
        problem = self.files_problem(name)
        if problem:
            self.actionFailed.emit(name, "up", problem)
            return None

        async def work(job: Job) -> None:
            project, _ = await self._load(name)
            await compose.up(self.engine, project, progress=self._reporter(job))

        return self._job(name, "up", f"compose up {name}", work)

    def up_files(self, files: list[str]) -> Job:
        """Bring up the project of these compose files (the "Open compose file…" path)."""
        label = Path(files[0]).name if files else "?"

        async def work(job: Job) -> None:
            project = await asyncio.to_thread(compose.load_project, files)
            job.title = f"compose up {project.name}"
            await compose.up(self.engine, project, progress=self._reporter(job))
            self.cameUp.emit(project.name)

        return self._job("", "up", f"compose up {label}", work)

    def down(self, name: str, volumes: bool = False) -> Job:
        async def work(job: Job) -> None:
            project, _ = await self._load(name)
            await compose.down(self.engine, project, volumes=volumes, progress=self._reporter(job))

        return self._job(name, "down", f"compose down {name}", work)

    def stop(self, name: str) -> Job:
        async def work(job: Job) -> None:
            project, _ = await self._load(name)
            await compose.stop(self.engine, project, progress=self._reporter(job))

        return self._job(name, "stop", f"compose stop {name}", work)

    def start(self, name: str) -> Job:
        return self._start_or_restart(name, "start", compose.start)

    def restart(self, name: str) -> Job:
        return self._start_or_restart(name, "restart", compose.restart)

    def _start_or_restart(self, name: str, action: str, call: Callable[..., Coroutine[Any, Any, None]]) -> Job:
        async def work(job: Job) -> None:
            project, from_files = await self._load(name)
            if from_files:
                await call(self.engine, project, progress=self._reporter(job))
                return
            # Without its files the order of services is unknown: act on each container.
            client = self.engine
            for c in await compose.ps(client, name, all=True):
                job.update(None, f"Container {c.name}  {action}")
                await (client.start(c.id) if action == "start" else client.restart(c.id))

        return self._job(name, action, f"compose {action} {name}", work)

    def follow_logs(self, name: str) -> None:
        """Merge the project's containers' logs into `log_buffer`, each line prefixed by its service."""
        self._tasks.spawn(self._follow(name), name="compose-logs")

    async def _follow(self, name: str) -> None:
        try:
            found = await compose.ps(self.engine, name, all=True)
        except (compose.ComposeError, EngineClientError, EngineUnreachable) as exc:
            self.actionFailed.emit(name, "logs", error_text(exc))
            return
        counts: dict[str, int] = {}
        for c in found:
            counts[c.service] = counts.get(c.service, 0) + 1
        names = [c.service if counts[c.service] == 1 else f"{c.service}-{c.number}" for c in found]
        self.follower.follow(self._connection.client, [c.id for c in found], names)

    # -- jobs ------------------------------------------------------------------------------------

    @staticmethod
    def _reporter(job: Job) -> Callable[[compose.Progress], None]:
        return lambda step: job.update(None, str(step))

    def _job(self, name: str, action: str, title: str, work: Callable[[Job], Coroutine[Any, Any, None]]) -> Job:
        job = self._jobs.add(title)
        job.task = self._tasks.spawn(self._run(job, name, action, work), name=f"compose-{action}")
        return job

    async def _run(self, job: Job, name: str, action: str, work: Callable[[Job], Coroutine[Any, Any, None]]) -> None:
        self.actionStarted.emit(name, action)
        error = await self._jobs.run(job, work(job), errors=_FAILURES)
        if error is None:
            self.actionFinished.emit(name, action)
        else:
            self.actionFailed.emit(name, action, error)
        if not self._connection.status.events:
            self.refresh()

    async def close(self) -> None:
        self._closed = True
        with contextlib.suppress(RuntimeError):  # the timer may already be deleted with the window
            self._settle.stop()
        self.follower.stop()
        await self.follower.close()
        await self._tasks.close()
