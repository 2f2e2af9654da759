"""Progress in the docker CLI's JSON-lines shape: `{"status", "progressDetail": {"current",
"total"}, "progress", "id"}`, one object per line. The CLI draws its bars from progressDetail."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

ProgressSink = Callable[[dict[str, Any]], None]


@runtime_checkable
class CodedError(Protocol):
    """An error whose stream line carries a code (moby's JSONError.Code): a RUN step's exit status."""

    exit_code: int


def error_line(message: str, code: int = 0) -> dict[str, Any]:
    """The last line of a failed stream; `code` only when set, as JSONError omits a zero one."""
    detail: dict[str, Any] = {"code": code, "message": message} if code else {"message": message}
    return {"errorDetail": detail, "error": message}

# Download/extract updates are throttled: a bar that moves 10 times a second is smooth enough,
# and a 500 MB layer must not produce a line per chunk.
MIN_INTERVAL = 0.1


def discard(_message: dict[str, Any]) -> None:
    """A sink for callers that do not show progress."""


def status(sink: ProgressSink, text: str, ident: str | None = None) -> None:
    message: dict[str, Any] = {"status": text}
    if ident is not None:
        message["progressDetail"] = {}
        message["id"] = ident
    sink(message)


def human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.3g}{unit}"
        n /= 1000
    return f"{n}B"


def bar(current: int, total: int) -> str:
    """The text bar older clients print: `[=====>        ]  1.2MB/3.4MB`."""
    width = 50
    if total > 0:
        filled = min(width, int(width * current / total))
        arrow = "=" * max(filled - 1, 0) + (">" if filled else "")
        return f"[{arrow.ljust(width)}] {human_size(current):>8}/{human_size(total)}"
    return f"{human_size(current):>8}"


class Meter:
    """Throttled `Downloading`/`Pushing`/`Extracting` updates for one layer."""

    def __init__(self, sink: ProgressSink, ident: str, action: str, total: int) -> None:
        self.sink = sink
        self.ident = ident
        self.action = action
        self.total = total
        self._last = 0.0
        self._sent = -1

    def update(self, current: int, force: bool = False) -> None:
        if current == self._sent:
            return  # nothing moved
        now = time.monotonic()
        if not force and now - self._last < MIN_INTERVAL and current < self.total:
            return
        self._last = now
        self._sent = current
        self.sink({"status": self.action, "progressDetail": {"current": current, "total": self.total},
                   "progress": bar(current, self.total), "id": self.ident})
