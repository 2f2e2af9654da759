"""`MachineService`: the Linux VMs that run berthd on macOS and Windows (`vmhost.machines`).

`Machines` calls block (QEMU, qemu-img, waiting for a boot): each runs in a thread, its progress
marshalled back to the UI thread into a task-panel job.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.services.jobs import Job, JobCenter, error_text
from app.services.tasks import TaskSet
from vmhost import dockercontext
from vmhost.machine import Machine, MachineError
from vmhost.machines import Machines
from vmhost.release import Download
from vmhost.usage import disk_used_bytes, resident_bytes

BOOT_LOG_LINES = 200
_BOOT_LOG_BYTES = 64 * 1024
DEFAULT_MACHINE = "default"


def first_run_needed() -> bool:
    """macOS and Windows run berthd in a machine; BERTH_FIRST_RUN=1 forces the first-run flow elsewhere."""
    return sys.platform in ("darwin", "win32") or os.environ.get("BERTH_FIRST_RUN") == "1"


def machine_item(machines: Any, machine: Any) -> dict[str, Any]:
    try:
        status = machines.status(machine.name)
        state, message = status.state, status.message
    except (MachineError, OSError, ValueError) as exc:
        state, message, status = "error", str(exc), None
    item = {"name": machine.name, "state": state, "message": message, "cpus": machine.cpus,
            "memory_mib": machine.memory_mib, "disk_gib": machine.disk_gib, "docker_host": machine.docker_host,
            "boot_log": str(machine.boot_log)}
    if isinstance(machine, Machine):  # in use on this computer: the disk file, QEMU's memory
        item["disk_bytes"] = disk_used_bytes(machine)
        item["memory_bytes"] = resident_bytes(status.qemu_pid) if status is not None else None
    return item


def tail(path: Path, lines: int = BOOT_LOG_LINES) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - _BOOT_LOG_BYTES))
            data = f.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


class _Fraction(str):
    """A progress line that also says how far along it is (a download)."""

    fraction: float | None

    def __new__(cls, text: str, fraction: float | None) -> _Fraction:
        line = super().__new__(cls, text)
        line.fraction = fraction
        return line


# What a machine action may fail with: said in place, the rest is a bug.
_FAILURES = (MachineError, OSError, ValueError, subprocess.CalledProcessError)


class MachineService(QObject):
    listed = Signal(list)  # machine items (dicts)
    actionStarted = Signal(str, str)  # machine, action
    actionFinished = Signal(str, str)
    actionFailed = Signal(str, str, str)  # machine, action, message
    bootLogReady = Signal(str, str)  # machine, the tail of its serial console
    # First run: set up (create if missing, then start) the default machine and hand over its engine.
    setupOffered = Signal(str)  # what set-up would do: "create", "start" or "use"
    setupProgress = Signal(str)  # the latest step
    setupFinished = Signal(str)  # the machine's docker_host
    setupFailed = Signal(str)  # vmhost's message
    # The user's own docker CLI: once set up, offer to make the `berth` context (vmhost.dockercontext) its
    # current one; nothing is written to the CLI's store until the offer is taken.
    contextOffered = Signal(str, str)  # machine, what the context would point at
    contextUsed = Signal(str, str)  # machine, what `docker` now reaches
    contextFailed = Signal(str)

    def __init__(self, jobs: JobCenter, machines: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs = jobs
        self._machines = machines
        self._tasks = TaskSet()
        self._listing: asyncio.Task[Any] | None = None
        self._checking: asyncio.Task[Any] | None = None
        self._setup: asyncio.Task[Any] | None = None
        self._setup_jobs: set[int] = set()

    @property
    def machines(self) -> Any:
        if self._machines is None:
            self._machines = Machines()  # $BERTH_MACHINES_DIR, else the user's config directory
        return self._machines

    def refresh(self) -> None:
        if self._listing is None or self._listing.done():
            self._listing = self._tasks.spawn(self._list(), name="machines-list")

    async def _list(self) -> None:
        machines = self.machines

        def read() -> list[dict[str, Any]]:
            return [machine_item(machines, m) for m in machines.all()]

        try:
            items = await asyncio.to_thread(read)
        except (MachineError, OSError, ValueError) as exc:
            self.actionFailed.emit("", "list", error_text(exc))
            return
        self.listed.emit(items)

    # -- actions ---------------------------------------------------------------------------------

    def create(self, name: str, cpus: int = 2, memory_mib: int = 2048, disk_gib: int = 20) -> Job:
        return self._job(name, "create", f"creating machine {name}",
                         lambda progress: self.machines.init(name, cpus=cpus, memory_mib=memory_mib,
                                                             disk_gib=disk_gib, progress=progress,
                                                             download=self._download(progress)))

    def reclaim(self, name: str) -> Job:
        def call(progress: Callable[[str], None]) -> None:
            before, after = self.machines.reclaim(name, progress)
            progress(f"disk on this computer: {before / 1e6:.1f} MB → {after / 1e6:.1f} MB")

        return self._job(name, "reclaim", f"reclaiming disk space of machine {name}", call)

    def start(self, name: str) -> Job:
        return self._job(name, "start", f"starting machine {name}",
                         lambda progress: self.machines.start(name, progress=progress))

    def stop(self, name: str) -> Job:
        return self._job(name, "stop", f"stopping machine {name}",
                         lambda progress: self.machines.stop(name, progress=progress))

    def remove(self, name: str, force: bool = False) -> Job:
        return self._job(name, "remove", f"removing machine {name}",
                         lambda progress: self.machines.remove(name, force=force))

    def boot_log(self, name: str) -> None:
        async def read() -> None:
            try:
                text = await asyncio.to_thread(lambda: tail(self.machines.get(name).boot_log))
            except (MachineError, OSError) as exc:
                self.actionFailed.emit(name, "read the boot log of", error_text(exc))
                return
            self.bootLogReady.emit(name, text)

        self._tasks.spawn(read(), name="machines-boot-log")

    # -- first run -------------------------------------------------------------------------------

    @property
    def setting_up(self) -> bool:
        return self._setup is not None and not self._setup.done()

    def check_setup(self, name: str = DEFAULT_MACHINE) -> None:
        """Find out what set-up would do for `name`; the answer arrives as `setupOffered`."""
        if self.setting_up or (self._checking is not None and not self._checking.done()):
            return
        self._checking = self._tasks.spawn(self._check_setup(name), name="machines-check-setup")

    async def _check_setup(self, name: str) -> None:
        machines = self.machines

        def read() -> str:
            if name not in {m.name for m in machines.all()}:
                return "create"
            return "use" if machines.status(name).state == "running" else "start"

        try:
            offer = await asyncio.to_thread(read)
        except (MachineError, OSError, ValueError) as exc:
            self.setupFailed.emit(error_text(exc))
            return
        if not self.setting_up:
            self.setupOffered.emit(offer)

    def set_up(self, name: str = DEFAULT_MACHINE) -> None:
        """Create `name` with vmhost's defaults if it does not exist, start it, then `setupFinished`."""
        if not self.setting_up:
            self._setup = self._tasks.spawn(self._set_up(name), name="machines-set-up")

    async def _set_up(self, name: str) -> None:
        machines = self.machines
        try:
            exists = await asyncio.to_thread(lambda: name in {m.name for m in machines.all()})
        except (MachineError, OSError, ValueError) as exc:
            self.setupFailed.emit(error_text(exc))
            return
        steps: list[tuple[str, str, Callable[[Callable[[str], None]], Any]]] = []
        if not exists:
            # vmhost's defaults; its guest image is fetched (with progress in the task panel) if none is here.
            steps.append(("create", f"creating machine {name}",
                          lambda progress: machines.init(name, progress=progress, download=self._download(progress))))
        steps.append(("start", f"starting machine {name}", lambda progress: machines.start(name, progress=progress)))
        for action, title, call in steps:
            self.setupProgress.emit(f"{title[:1].upper()}{title[1:]}…")
            job = self._job(name, action, title, call)
            self._setup_jobs.add(id(job))
            try:
                if job.task is not None:
                    await job.task
            finally:
                self._setup_jobs.discard(id(job))
            if job.state != "done":
                self.setupFailed.emit(job.error or f"could not {action} machine {name}")
                return
        try:
            machine = await asyncio.to_thread(machines.get, name)
        except (MachineError, OSError, ValueError) as exc:
            self.setupFailed.emit(error_text(exc))
            return
        self.setupProgress.emit(f"Machine {name} is running")
        self.setupFinished.emit(machine.docker_host)
        await self._offer_context(machine)

    async def _offer_context(self, machine: Any) -> None:
        """Offer the `berth` context unless the docker CLI already uses it."""
        try:
            host, current = await asyncio.to_thread(
                lambda: (self.machines.context_host(machine), dockercontext.current()))
        except (MachineError, OSError, ValueError):
            return  # an unreadable docker config: no offer, nothing else depends on it
        if current != dockercontext.CONTEXT:
            self.contextOffered.emit(machine.name, host)

    def use_context(self, name: str = DEFAULT_MACHINE) -> None:
        """Point the `berth` docker context at machine `name` and make it the docker CLI's current one."""
        self._tasks.spawn(self._use_context(name), name="machines-use-context")

    async def _use_context(self, name: str) -> None:
        machines = self.machines

        def write() -> str:
            host: str = machines.context_host(machines.get(name))
            dockercontext.ensure(host)
            dockercontext.use()
            return host

        try:
            host = await asyncio.to_thread(write)
        except (MachineError, OSError, ValueError) as exc:
            self.contextFailed.emit(error_text(exc))
            return
        self.contextUsed.emit(name, host)

    @staticmethod
    def _download(progress: Callable[[str], None]) -> Callable[[Download], None]:
        """The guest image download as job progress: its fraction moves the task panel's bar."""

        def report(download: Download) -> None:
            fraction = download.received / download.total if download.total else None
            progress(_Fraction(download.describe(), fraction))

        return report

    def _job(self, name: str, action: str, title: str, call: Callable[[Callable[[str], None]], Any]) -> Job:
        job = self._jobs.add(title)
        job.task = self._tasks.spawn(self._run(job, name, action, call), name=f"machines-{action}")
        return job

    async def _run(self, job: Job, name: str, action: str, call: Callable[[Callable[[str], None]], Any]) -> None:
        loop = asyncio.get_running_loop()

        def progress(text: str) -> None:  # called from the worker thread
            loop.call_soon_threadsafe(self._progress, job, text)

        self.actionStarted.emit(name, action)
        self.refresh()
        error = await self._jobs.run(job, asyncio.to_thread(call, progress), errors=_FAILURES)
        if error is None:
            self.actionFinished.emit(name, action)
        else:
            self.actionFailed.emit(name, action, error)
        self.refresh()

    def _progress(self, job: Job, text: str) -> None:
        if job.state == "running":
            job.update(text.fraction if isinstance(text, _Fraction) else None, str(text))
            if id(job) in self._setup_jobs:
                self.setupProgress.emit(text)
            self.refresh()  # a step of a boot is often a change of state

    async def close(self) -> None:
        await self._tasks.close()
