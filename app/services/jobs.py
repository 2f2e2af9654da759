"""Long operations (pull, push, ...) shown in the bottom task panel; they outlive page changes."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal

from engine.client import EngineClientError, EngineUnreachable

Index = QModelIndex | QPersistentModelIndex


def error_text(exc: BaseException) -> str:
    """What a failure says to a person: the engine's message, a file and its error, a tool's stderr."""
    if isinstance(exc, EngineClientError):
        return exc.message
    if isinstance(exc, EngineUnreachable):
        return exc.reason
    if isinstance(exc, subprocess.CalledProcessError):
        detail = exc.stderr.decode("utf-8", "replace").strip() if isinstance(exc.stderr, bytes) else ""
        return detail or str(exc)
    if isinstance(exc, OSError):
        return f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
    return str(exc)
_ids = itertools.count(1)


class Job:
    def __init__(self, center: JobCenter, title: str) -> None:
        self.id = next(_ids)
        self.center = center
        self.title = title
        self.fraction: float | None = None
        self.status = ""
        self.state = "running"  # running, done, failed
        self.error = ""
        self.log: list[str] = []
        self.task: asyncio.Task[Any] | None = None

    def update(self, fraction: float | None, status: str) -> None:
        changed = fraction != self.fraction or status != self.status
        self.fraction = fraction
        if status and status != self.status:
            self.log.append(status)
            del self.log[:-500]
        self.status = status
        if changed:
            self.center.changed(self)

    def output(self, line: str, fraction: float | None = None) -> None:
        """One line of the work's own output (a build's): logged even when it repeats the last one,
        and shown as the status; `fraction`, when known, moves the progress too."""
        self.log.append(line)
        del self.log[:-500]
        self.status = line
        if fraction is not None:
            self.fraction = fraction
        self.center.changed(self)

    def summary(self) -> str:
        if self.state == "done":
            return f"{self.title} ✓"
        if self.state == "failed":
            return f"{self.title} ✗ {self.error}"
        percent = f" {self.fraction * 100:.0f} %" if self.fraction is not None else ""
        return f"⟳ {self.title}{percent}"


class JobCenter(QAbstractTableModel):
    """The task panel's model: one row per job, newest last."""

    jobChanged = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs: list[Job] = []

    def add(self, title: str) -> Job:
        job = Job(self, title)
        self.beginInsertRows(QModelIndex(), len(self.jobs), len(self.jobs))
        self.jobs.append(job)
        self.endInsertRows()
        self.jobChanged.emit(job)
        return job

    async def run(self, job: Job, work: Coroutine[Any, Any, Any],
                  errors: tuple[type[BaseException], ...] = (EngineClientError, EngineUnreachable)) -> str | None:
        """Run a job's work to its end: the job is done, or failed with the words of one of `errors`
        (returned, for the caller to show in place); cancelling it fails it as "cancelled"."""
        try:
            await work
        except errors as exc:
            job.state, job.error = "failed", error_text(exc)
        except asyncio.CancelledError:
            job.state, job.error = "failed", "cancelled"
            self.changed(job)
            raise
        else:
            job.state = "done"
            job.fraction = 1.0
        self.changed(job)
        return job.error if job.state == "failed" else None

    def changed(self, job: Job) -> None:
        row = self.jobs.index(job)
        self.dataChanged.emit(self.index(row, 0), self.index(row, 1))
        self.jobChanged.emit(job)

    def running(self) -> list[Job]:
        return [job for job in self.jobs if job.state == "running"]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.jobs)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 2

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and section in (0, 1):
            return ("Task", "Status")[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self.jobs)):
            return None
        job = self.jobs[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return job.summary() if index.column() == 0 else (job.error or job.status)
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(job.log[-20:]) or job.title
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable if index.isValid() else Qt.ItemFlag.NoItemFlags
