"""Services for images, volumes and networks: list them, act on them, report through signals."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.services.engine import EngineConnection
from app.services.jobs import Job, JobCenter
from app.services.tasks import TaskSet
from engine.client import EngineClientError, EngineUnreachable, PullProgress, build_output


class ResourceService(QObject):
    listed = Signal(list)
    actionStarted = Signal(str, str)  # target, action
    actionFailed = Signal(str, str, str)  # target, action, the engine's message
    actionFinished = Signal(str, str)  # target, action
    unsupported = Signal(str)  # what the engine does not offer (e.g. Berth's own volume endpoints)

    kind = ""

    def __init__(self, connection: EngineConnection, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._connection = connection
        self._tasks = TaskSet()
        self._listing: asyncio.Task[Any] | None = None
        connection.resyncNeeded.connect(self.refresh)
        connection.engineEvent.connect(self._on_event)

    @property
    def client(self) -> Any:
        return self._connection.client

    def refresh(self) -> None:
        if self._listing is None or self._listing.done():
            self._listing = self._tasks.spawn(self._list(), name=f"{self.kind}-list")

    async def _list(self) -> None:
        try:
            items = await self._fetch()
        except EngineUnreachable:
            return
        except EngineClientError as exc:
            self.actionFailed.emit("", "list", exc.message)
            return
        self.listed.emit(items)

    async def _fetch(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("Type") == self.kind:
            self.refresh()

    def act(self, target: str, action: str, call: Callable[[], Awaitable[Any]]) -> asyncio.Task[Any]:
        return self._tasks.spawn(self._act(target, action, call), name=f"{self.kind}-{action}")

    async def _act(self, target: str, action: str, call: Callable[[], Awaitable[Any]]) -> None:
        self.actionStarted.emit(target, action)
        try:
            await call()
        except EngineUnreachable:
            self.actionFailed.emit(target, action, "the engine does not answer")
            return
        except EngineClientError as exc:
            if exc.not_implemented and action in ("browse", "export", "import", "clone"):
                self.unsupported.emit(action)
            self.actionFailed.emit(target, action, exc.message)
            return
        except OSError as exc:
            self.actionFailed.emit(target, action, exc.strerror or str(exc))
            return
        self.actionFinished.emit(target, action)
        if not self._connection.status.events:
            self.refresh()

    async def close(self) -> None:
        await self._tasks.close()


# The classic builder's step headers: "Step 2/5 : RUN make".
_STEP = re.compile(r"^Step (\d+)/(\d+) :")


class BuildLog:
    """The engine's build output (`{"stream": text}` chunks, lines possibly split across them) as
    whole lines for a job's log, each with the share of the steps started so far when it moves."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._partial = ""

    def feed(self, text: str) -> None:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)

    def flush(self) -> None:
        line, self._partial = self._partial, ""
        self._line(line)

    def _line(self, line: str) -> None:
        line = line.rsplit("\r", 1)[-1].rstrip()  # a progress bar redrawn with \r: its last state
        if not line.strip():
            return
        step = _STEP.match(line)
        fraction = (int(step[1]) - 1) / int(step[2]) if step and int(step[2]) else None
        self.job.output(line, fraction)


class ImageService(ResourceService):
    kind = "image"
    historyReady = Signal(str, list)
    runDetails = Signal(str, dict, list)  # image, its inspect, the engine's network names

    def run_details(self, reference: str) -> None:
        """What the Run dialog offers from the engine: the image's EXPOSE and command, the networks.
        Quiet on failure: the dialog then works without them, and a run says what went wrong."""

        async def load() -> None:
            with contextlib.suppress(EngineClientError, EngineUnreachable):
                image = await self.client.inspect_image(reference)
                networks = sorted(str(n.get("Name", "")) for n in await self.client.networks())
                self.runDetails.emit(reference, image, [n for n in networks if n])

        self._tasks.spawn(load(), name="image-run-details")

    def __init__(self, connection: EngineConnection, jobs: JobCenter, parent: QObject | None = None) -> None:
        super().__init__(connection, parent)
        self._jobs = jobs

    async def _fetch(self) -> list[dict[str, Any]]:
        return list(await self.client.images())

    def remove(self, name: str, force: bool = False) -> None:
        self.act(name, "remove", lambda: self.client.remove_image(name, force=force))

    def tag(self, name: str, repo: str, tag: str) -> None:
        self.act(name, "tag", lambda: self.client.tag(name, repo, tag))

    def history(self, name: str) -> None:
        async def load() -> None:
            self.historyReady.emit(name, await self.client.image_history(name))

        self.act(name, "history", load)

    def pull(self, reference: str) -> Job:
        return self._progress_job(f"pulling {reference}", reference, "pull", self.client.pull)

    def push(self, reference: str) -> Job:
        return self._progress_job(f"pushing {reference}", reference, "push", self.client.push)

    def build(self, folder: str, tag: str = "") -> Job:
        """`docker build -t tag folder` as a job: its log is the build's output as it comes."""
        target = tag or folder
        job = self._jobs.add(f"building {target}")

        async def run() -> None:
            log = BuildLog(job)
            try:
                async for item in self.client.build_image(Path(folder), tag or None):
                    log.feed(build_output(item))
            finally:
                log.flush()  # the output up to a failure stays in the job's log

        return self._start(job, target, "build", run())

    def load(self, path: str) -> Job:
        """`docker load -i path`: images saved with docker save, from a file, with no registry (offline).
        The job's log names what was loaded."""
        job = self._jobs.add(f"loading {Path(path).name}")

        async def run() -> None:
            async for item in self.client.request_lines(
                "POST", "images/load", params={"quiet": "0"}, data=_file_chunks(path),
                headers={"Content-Type": "application/x-tar"},
            ):
                text = str(item.get("stream") or item.get("status") or "").strip()
                if text:
                    job.output(text)

        return self._start(job, Path(path).name, "load", run())

    def import_file(self, path: str, reference: str) -> Job:
        """`docker import path reference`: a root file system tar becomes an image (no registry)."""
        job = self._jobs.add(f"importing {Path(path).name} as {reference}")
        repo, _, tag = reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "latest")

        async def run() -> None:
            async for item in self.client.request_lines(
                "POST", "images/create", params={"fromSrc": "-", "repo": repo, "tag": tag}, data=_file_chunks(path),
                headers={"Content-Type": "application/x-tar"},
            ):
                text = str(item.get("status") or "").strip()
                if text:
                    job.output(text)
            job.output(f"Imported {repo}:{tag}")

        return self._start(job, reference, "import", run())

    def _progress_job(self, title: str, reference: str, action: str, stream: Callable[[str], Any]) -> Job:
        job = self._jobs.add(title)

        async def run() -> None:
            progress = PullProgress()
            async for item in stream(reference):
                progress.feed(item)
                job.update(progress.fraction, progress.status)

        return self._start(job, reference, action, run())

    def _start(self, job: Job, target: str, action: str, work: Coroutine[Any, Any, None]) -> Job:
        """Run `work` as a task-panel job; its outcome also reaches the page, as any action's does."""

        async def run() -> None:
            error = await self._jobs.run(job, work)
            if error is None:
                self.actionFinished.emit(target, action)
            else:
                self.actionFailed.emit(target, action, error)
            self.refresh()

        job.task = self._tasks.spawn(run(), name=f"image-{action}")
        return job


async def _file_chunks(path: str, size: int = 1 << 20) -> AsyncIterator[bytes]:
    """A file sent as it is read, chunked as docker load sends stdin: never read whole, and berthd's
    load (which answers before it reads) waits forever for a body sent with its length."""
    with open(path, "rb") as file:
        while block := file.read(size):
            yield block


class VolumeService(ResourceService):
    kind = "volume"
    filesListed = Signal(str, dict)  # volume, the /files answer

    async def _fetch(self) -> list[dict[str, Any]]:
        return list(await self.client.volumes(usage=True))

    def create(self, name: str) -> None:
        self.act(name, "create", lambda: self.client.create_volume(name))

    def remove(self, name: str) -> None:
        self.act(name, "remove", lambda: self.client.remove_volume(name))

    contentsKnown = Signal(str, object)  # volume, its top-level entry names (None: the engine cannot list them)

    def check_contents(self, name: str) -> None:
        """What the volume's top folder holds, before a removal is asked about (Berth's /files)."""

        async def look() -> None:
            try:
                listing = await self.client.volume_files(name, "/")
            except (EngineClientError, EngineUnreachable, OSError):
                self.contentsKnown.emit(name, None)
                return
            self.contentsKnown.emit(name, [str(e.get("Name", "")) for e in listing.get("Entries") or []])

        self._tasks.spawn(look(), name="volume-contents")

    def browse(self, name: str, path: str = "/") -> None:
        async def load() -> None:
            self.filesListed.emit(name, await self.client.volume_files(name, path))

        self.act(name, "browse", load)

    def clone(self, name: str, new_name: str) -> None:
        self.act(name, "clone", lambda: self.client.clone_volume(name, new_name))

    def export(self, name: str, path: str) -> None:
        async def save() -> None:
            # Into a side file renamed at the end: a refusal or a broken stream leaves no half tar
            # under the chosen name (nor clobbers a file that was there).
            part = Path(f"{path}.part")
            try:
                with open(part, "wb") as out:
                    async for chunk in self.client.export_volume(name):
                        await asyncio.to_thread(out.write, chunk)
                os.replace(part, path)
            except BaseException:
                part.unlink(missing_ok=True)
                raise

        self.act(name, "export", save)

    def import_tar(self, name: str, path: str) -> None:
        async def load() -> None:
            data = await asyncio.to_thread(Path(path).read_bytes)
            await self.client.import_volume(name, data, create=True)

        self.act(name, "import", load)


class NetworkService(ResourceService):
    kind = "network"

    async def _fetch(self) -> list[dict[str, Any]]:
        return list(await self.client.networks())

    def create(self, name: str, driver: str = "bridge") -> None:
        self.act(name, "create", lambda: self.client.create_network(name, driver))

    def remove(self, id: str) -> None:
        self.act(id, "remove", lambda: self.client.remove_network(id))
