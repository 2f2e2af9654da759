"""What the container detail tabs need from the engine: inspect, files (via /archive), a terminal (exec)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import posixpath
import tarfile
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from app.services.engine import EngineConnection
from app.services.tasks import TaskSet
from engine.client import EngineClientError, EngineUnreachable

if TYPE_CHECKING:
    from engine.client import ExecStream

# Listing a directory reads its tar; stop reading past this many bytes (e.g. "/" of a big image).
_LISTING_LIMIT = 64 * 1024 * 1024


def _failure(exc: Exception) -> str:
    if isinstance(exc, EngineClientError):
        return exc.message
    if isinstance(exc, EngineUnreachable):
        return "the engine does not answer"
    return str(exc)


class Inspector(QObject):
    inspected = Signal(str, dict)
    failed = Signal(str, str)
    filesListed = Signal(str, str, list, bool)  # id, path, entries [{name,type,size,mode,mtime,link}], truncated
    downloaded = Signal(str, str)  # container path, local path

    def __init__(self, connection: EngineConnection, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._connection = connection
        self._tasks = TaskSet()

    def inspect(self, id: str) -> None:
        self._tasks.spawn(self._inspect(id), name="inspect")

    async def _inspect(self, id: str) -> None:
        try:
            self.inspected.emit(id, await self._connection.client.inspect_container(id))
        except (EngineClientError, EngineUnreachable) as exc:
            self.failed.emit(id, _failure(exc))

    def list_files(self, id: str, path: str) -> None:
        self._tasks.spawn(self._list(id, path), name="files")

    async def _list(self, id: str, path: str) -> None:
        client = self._connection.client
        path = "/" + posixpath.normpath("/" + path).strip("/")
        entries: dict[str, dict[str, Any]] = {}
        truncated = False
        data = bytearray()
        try:
            async for chunk in client.archive(id, path):
                data.extend(chunk)
                if len(data) > _LISTING_LIMIT:
                    truncated = True
                    break
        except (EngineClientError, EngineUnreachable) as exc:
            self.failed.emit(id, _failure(exc))
            return
        entries_list, tar_truncated = await asyncio.to_thread(_children, bytes(data), posixpath.basename(path))
        for entry in entries_list:
            entries[entry["name"]] = entry
        self.filesListed.emit(id, path, sorted(entries.values(), key=lambda e: (e["type"] != "dir", e["name"])),
                              truncated or tar_truncated)

    def download(self, id: str, path: str, destination: str) -> None:
        self._tasks.spawn(self._download(id, path, destination), name="download")

    async def _download(self, id: str, path: str, destination: str) -> None:
        data = bytearray()
        try:
            async for chunk in self._connection.client.archive(id, path):
                data.extend(chunk)
        except (EngineClientError, EngineUnreachable) as exc:
            self.failed.emit(id, _failure(exc))
            return

        def extract() -> None:
            with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
                first = tar.next()
                if first is not None and first.isfile():
                    source = tar.extractfile(first)
                    assert source is not None
                    with open(destination, "wb") as out:
                        out.write(source.read())
                    return
            with open(destination, "wb") as out:  # a directory: keep the tar as the engine sent it
                out.write(bytes(data))

        try:
            await asyncio.to_thread(extract)
        except (OSError, tarfile.TarError) as exc:
            self.failed.emit(id, str(exc))
            return
        self.downloaded.emit(path, destination)

    async def close(self) -> None:
        await self._tasks.close()


def _children(data: bytes, base: str) -> tuple[list[dict[str, Any]], bool]:
    """The direct children of the archived directory (tar names "<base>/child/..." or "./child/...")."""
    out: dict[str, dict[str, Any]] = {}
    truncated = False
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|*") as tar:
            for member in tar:
                parts = [p for p in member.name.split("/") if p not in ("", ".")]
                if base and parts and parts[0] == base:
                    parts = parts[1:]
                if not parts:
                    continue  # the directory itself
                name = parts[0]
                if name in out:
                    continue
                kind = "dir" if len(parts) > 1 or member.isdir() else (
                    "symlink" if member.issym() else "file" if member.isfile() else "other")
                out[name] = {
                    "name": name,
                    "type": kind,
                    "size": member.size if kind == "file" else 0,
                    "mode": f"{member.mode:04o}",
                    "mtime": member.mtime,
                    "link": member.linkname if member.issym() else "",
                }
    except (tarfile.TarError, EOFError):
        truncated = True
    return list(out.values()), truncated


class TerminalSession(QObject):
    """A shell in a running container: exec with a TTY over the hijacked connection."""

    output = Signal(bytes)
    ended = Signal(str)  # reason ("" when the shell exited)
    started = Signal()

    def __init__(self, connection: EngineConnection, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._connection = connection
        self._tasks = TaskSet()
        self._stream: ExecStream | None = None
        self.exec_id = ""
        self._size = (24, 80)
        # Keystrokes and resizes go to the engine in the order they happened, one at a time: a
        # resize is its own request, and a line typed after it must not reach the tty first.
        self._input: asyncio.Queue[bytes | tuple[int, int]] = asyncio.Queue()

    @property
    def active(self) -> bool:
        return self._stream is not None and not self._stream.closed

    def open(self, id: str, command: list[str] | None = None, rows: int = 24, columns: int = 80) -> None:
        self._size = (rows, columns)
        self._tasks.spawn(self._run(id, command or ["/bin/sh"]), name="terminal", stream=True)

    async def _run(self, id: str, command: list[str]) -> None:
        client = self._connection.client
        reason = ""
        try:
            self.exec_id = await client.exec_create(id, command, tty=True, env=["TERM=xterm-256color"])
            self._stream = await client.exec_start(self.exec_id, tty=True)
            self.started.emit()
            # The exec's process starts just after the stream is attached; until then a resize
            # answers 409 "not running", so the first one is retried (as the docker CLI's initTtySize).
            await self._resize(*self._size, attempts=10)
            self._tasks.spawn(self._send_input(), name="terminal-input", stream=True)
            while (piece := await self._stream.read()) is not None:
                self.output.emit(piece[1])
        except (EngineClientError, EngineUnreachable) as exc:
            reason = _failure(exc)
        finally:
            if self._stream is not None:
                await self._stream.close()
        self.ended.emit(reason)

    def write(self, data: bytes) -> None:
        """Types `data` into the shell (kept until the shell's tty has its first size)."""
        self._input.put_nowait(data)

    def resize(self, rows: int, columns: int) -> None:
        if (rows, columns) != self._size:
            self._size = (rows, columns)
            self._input.put_nowait((rows, columns))

    async def _send_input(self) -> None:
        while True:
            item = await self._input.get()
            if self._stream is None or self._stream.closed:
                return
            if isinstance(item, bytes):
                try:
                    await self._stream.write(item)
                except EngineUnreachable:
                    return  # the stream broke: the reading end says so
            elif item == self._size:  # only the latest of several queued resizes is sent
                await self._resize(*item)

    async def _resize(self, rows: int, columns: int, attempts: int = 1) -> None:
        for attempt in range(attempts):
            try:
                await self._connection.client.exec_resize(self.exec_id, rows, columns)
                return
            except EngineUnreachable:
                return
            except EngineClientError as exc:
                if exc.status != 409 or attempt == attempts - 1:
                    return
            await asyncio.sleep(0.05 * (attempt + 1))

    async def close(self) -> None:
        if self._stream is not None:
            if not self._stream.closed:
                # Ends the shell, not only our end of it: berthd keeps an exec whose connection
                # closed, so the tty gets what a person would type (Ctrl+C, Ctrl+U, Ctrl+D at an
                # empty line).
                with contextlib.suppress(EngineClientError, EngineUnreachable, OSError):
                    await asyncio.wait_for(self._stream.write(b"\x03\x15\x04"), 1)
            await self._stream.close()
        await self._tasks.close()
