"""A terminal joined to a container's process: `run -it`, `exec -it`, `attach`.

On a terminal, stdin goes raw (keys reach the process as typed, ^C included) and the window
size follows SIGWINCH; otherwise stdin is copied as bytes until EOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from typing import Any

import aiodocker.stream
from yarl import URL

from engine.client import EngineClient, ExecStream


async def open_attach(engine: EngineClient, id: str, tty: bool) -> ExecStream:
    """A hijacked `/containers/{id}/attach` (opened before start, so no output is missed)."""
    await engine.api_version()
    docker = engine._connection()  # the client's shared connection, as exec_start uses it

    async def setup() -> tuple[Any, bytes | None, bool]:
        return URL(f"containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1"), None, tty

    stream = ExecStream(aiodocker.stream.Stream(docker, setup), engine.url)
    await stream.open()
    return stream


async def pump(engine: EngineClient, stream: ExecStream, stdin: bool, tty: bool, resize_path: str) -> None:
    """Copy stdin to the process and its output to stdout/stderr until the process ends."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    raw_mode = tty and os.isatty(fd)
    saved: Any = None
    if raw_mode:
        import termios
        import tty as tty_module

        saved = termios.tcgetattr(fd)
        tty_module.setraw(fd)

    async def resize() -> None:
        size = shutil.get_terminal_size()
        with contextlib.suppress(Exception):
            await engine.request("POST", resize_path, params={"h": size.lines, "w": size.columns})

    async def feed() -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        try:
            loop.add_reader(fd, lambda: queue.put_nowait(os.read(fd, 65536)))
        except PermissionError:
            # A regular file (berth exec -i c cat < file): epoll refuses it, and reads never block.
            while data := await asyncio.to_thread(os.read, fd, 65536):
                await stream.write(data)
        else:
            try:
                while data := await queue.get():
                    await stream.write(data)
            finally:
                loop.remove_reader(fd)
        if not raw_mode:
            # stdin ended (a pipe or a file): the process sees EOF, as with docker exec -i.
            await stream.close_stdin()

    feeder = asyncio.ensure_future(feed()) if stdin else None
    if raw_mode:
        await resize()
        loop.add_signal_handler(signal.SIGWINCH, lambda: asyncio.ensure_future(resize()))
    try:
        while (piece := await stream.read()) is not None:
            name, data = piece
            target = sys.stderr.buffer if name == "stderr" else sys.stdout.buffer
            target.write(data)
            target.flush()
    finally:
        if feeder is not None:
            feeder.cancel()
        if raw_mode:
            import termios

            loop.remove_signal_handler(signal.SIGWINCH)
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        await stream.close()
