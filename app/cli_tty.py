"""A terminal joined to a container's process: `run -it`, `exec -it`, `attach`.

On a terminal, stdin goes raw (keys reach the process as typed, ^C included), the window size
follows SIGWINCH, and the detach keys (ctrl-p ctrl-q unless --detach-keys says otherwise) leave the
process running, as docker does; otherwise stdin is copied as bytes until EOF, which the process
then reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.client import EngineClient, ExecStream

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def detach_sequence(keys: str) -> bytes:
    """docker's --detach-keys ("ctrl-p,ctrl-q", "ctrl-@", "a,ctrl-b") as the bytes a terminal sends."""
    out = bytearray()
    for key in keys.split(","):
        key = key.strip()
        if key.startswith("ctrl-") and len(key) == 6:
            code = ord(key[5].upper()) - 64  # ctrl-a is 1 ... ctrl-z 26; ctrl-@ 0, ctrl-[ ... ctrl-_ 27-31
            if not 0 <= code < 32:
                raise ValueError(f"invalid detach key {key!r}: use a letter or one of @[\\]^_ after ctrl-")
            out.append(code)
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise ValueError(f"invalid detach keys {keys!r}: e.g. ctrl-p,ctrl-q")
    return bytes(out)


class EscapeProxy:
    """Holds back input that may be the start of the detach sequence; says when it was typed."""

    def __init__(self, sequence: bytes) -> None:
        self.sequence = sequence
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to send on, and whether the sequence is complete (then nothing more goes)."""
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            if self.sequence.startswith(candidate):
                self.held = candidate
                if candidate == self.sequence:
                    return bytes(out), True
            else:
                out += candidate
                self.held = b""
        return bytes(out), False


async def pump(engine: EngineClient, stream: ExecStream, stdin: bool, tty: bool, resize_path: str,
               detach_keys: str | None = None) -> bool:
    """Copy stdin to the process and its output to stdout/stderr until the process ends; True when
    the user detached instead (the process runs on)."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    raw_mode = tty and os.isatty(fd) and os.name == "posix"
    escape = EscapeProxy(detach_sequence(detach_keys or DEFAULT_DETACH_KEYS)) if raw_mode and stdin else None
    detached = asyncio.Event()
    saved: Any = None
    if raw_mode:
        import termios
        import tty as tty_module

        saved = termios.tcgetattr(fd)
        # TCSANOW, as docker's MakeRaw: the default TCSAFLUSH would drop what was typed ahead.
        tty_module.setraw(fd, termios.TCSANOW)

    async def resize() -> None:
        size = shutil.get_terminal_size()
        with contextlib.suppress(Exception):
            await engine.request("POST", resize_path, params={"h": size.lines, "w": size.columns})

    async def send(data: bytes) -> bool:
        if escape is not None:
            data, done = escape.feed(data)
            if done:
                detached.set()
                return False
        await stream.write(data)
        return True

    async def feed() -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        try:
            loop.add_reader(fd, lambda: queue.put_nowait(os.read(fd, 65536)))
        except (PermissionError, NotImplementedError):
            # A regular file (berth exec -i c cat < file) that epoll refuses, or Windows' console,
            # which the event loop cannot watch: reads in a thread.
            while (data := await asyncio.to_thread(os.read, fd, 65536)) and await send(data):
                pass
        else:
            try:
                while (data := await queue.get()) and await send(data):
                    pass
            finally:
                loop.remove_reader(fd)
        if not raw_mode and not detached.is_set():
            # stdin ended (a pipe or a file): the process sees EOF, as with docker exec -i.
            await stream.close_stdin()

    async def copy_output() -> None:
        while (piece := await stream.read()) is not None:
            name, data = piece
            target = sys.stderr.buffer if name == "stderr" else sys.stdout.buffer
            target.write(data)
            target.flush()

    feeder = asyncio.ensure_future(feed()) if stdin else None
    if raw_mode:
        await resize()
        loop.add_signal_handler(signal.SIGWINCH, lambda: asyncio.ensure_future(resize()))
    output = asyncio.ensure_future(copy_output())
    detach = asyncio.ensure_future(detached.wait())
    try:
        await asyncio.wait([output, detach], return_when=asyncio.FIRST_COMPLETED)
        if output.done():
            output.result()  # its error, if the stream broke
    finally:
        for task in (feeder, output, detach):
            if task is not None:
                task.cancel()
        if raw_mode:
            import termios

            loop.remove_signal_handler(signal.SIGWINCH)
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        await stream.close()
    return detached.is_set()
