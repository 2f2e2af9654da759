"""`LogFollower`: streams one or several containers' logs into a `LogBuffer`, without stalling the UI.

A follow session, for one container or a compose project's several:

- the history (the last `tail` lines of each container) is read first, whole, and appended merged
  in time order, with the containers' events of that time (`/events` since the first line) as
  MARK lines among them;
- then each container is followed, and what arrives (lines and events) is held for a moment and
  appended in time order, so services writing at once interleave as they wrote;
- a container that stops is followed again when it starts (its `start` event): the new run's lines
  come after a "restarted" line, the earlier runs' stay above. Re-reading skips what was already
  shown, by each line's stamp (and how many lines carried the last stamp, since one read of the
  log stamps its lines alike).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from app.models.logs import MARK, STDERR, STDOUT, LogBuffer, stamp_ns
from app.models.metrics_events import DIE, HEALTH, OOM, RESTART, START, ContainerEvent, event_from_api
from app.services.tasks import TaskSet
from engine.client import EngineClientError, EngineUnreachable

if TYPE_CHECKING:
    from engine.client import EngineClient

# How long a burst of output may hold the loop before the follower lets Qt paint.
_SLICE = 0.008
# How long lines and events wait to be put in time order with what the other streams send.
_HOLD = 0.15
# How long the event stream may stay quiet before its history is taken as told.
_EVENTS_QUIET = 0.3
# How long an exit may wait for the last lines of its run.
_DIE_WAIT = 2.0
EXEC = "exec"


def event_line_text(event: ContainerEvent, restarted: bool) -> str:
    """The words of an event's MARK line."""
    if event.kind == START:
        return "── restarted ──" if restarted else "── started ──"
    if event.kind == DIE:
        return f"── exited with code {event.detail} ──" if event.detail else "── exited ──"
    if event.kind == OOM:
        return "── killed: out of memory (OOM) ──"
    if event.kind == RESTART:
        return "── restarted (docker restart) ──"
    if event.kind == HEALTH:
        return f"── health: {event.detail} ──"
    if event.kind == EXEC:
        return f"── exec: {event.detail} ──"
    return f"── {event.label()} ──"


def log_event_from_api(raw: Mapping[str, Any]) -> ContainerEvent | None:
    """The events the log marks: the graphs' (start, die, oom, restart, health) and exec_start."""
    event = event_from_api(raw)
    if event is not None:
        return event
    action = str(raw.get("Action") or raw.get("status") or "")
    if not action.startswith("exec_start"):
        return None
    actor = raw.get("Actor") or {}
    nanos = raw.get("timeNano")
    t = int(nanos) / 1e9 if isinstance(nanos, int) and nanos > 0 else float(raw.get("time") or 0)
    return ContainerEvent(t, str(actor.get("ID") or raw.get("id") or ""), EXEC, action.partition(":")[2].strip())


@dataclass
class _Source:
    id: str
    last_ns: int = 0  # the stamp of the last line shown
    at_last: int = 0  # how many lines shown carry that stamp
    died: bool = False  # it exited in this session: its next start is a restart
    died_ns: int = 0  # when it last exited
    # While re-reading after an attach: what was shown before it, and how many of the lines
    # carrying that last stamp this read has met so far.
    shown_ns: int = 0
    shown_at_last: int = 0
    met_at_last: int = 0
    last_start: float = 0.0  # when its last start was marked (a docker restart also says "restart")
    started: asyncio.Event = field(default_factory=asyncio.Event)
    removed: bool = False
    streaming: bool = False  # its log is being followed now
    # Its exit, held back until its log is drained: the last lines may come after the event.
    pending_die: list[_Item] = field(default_factory=list)
    die_arrival: float = 0.0
    partial: dict[int, str] = field(default_factory=dict)  # per stream: an unfinished line


@dataclass(order=True)
class _Item:
    ns: int
    seq: int
    stream: int = field(compare=False)
    source: int = field(compare=False)
    text: str = field(compare=False)
    kind: str = field(compare=False, default="")


class LogFollower(QObject):
    appended = Signal()  # lines were added to the buffer (coalesce before repainting)
    ended = Signal(str)  # a stream failed (the reason) or every container was removed ("")
    waiting = Signal(str)  # a container stopped: its name; it is followed again when it starts

    def __init__(self, buffer: LogBuffer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.buffer = buffer
        self._tasks = TaskSet()
        self._generation = 0
        self._sources: list[_Source] = []
        self._held: list[tuple[float, _Item]] = []  # (arrival, item), in arrival order
        self._seq = 0

    def follow(self, client: EngineClient, ids: list[str], names: list[str] | None = None, tail: int = 5000) -> None:
        """Start over: the last `tail` lines of each container, then new lines as they come."""
        self.stop()
        self._generation += 1
        self.buffer.clear()
        self.buffer.timestamped = True
        self.buffer.sources = list(names or ids)
        self._sources = [_Source(id) for id in ids]
        self._held = []
        self._tasks.spawn(self._session(client, tail, self._generation), name="logs-follow", stream=True)

    def stop(self) -> None:
        for task in self._tasks.running():
            task.cancel()

    async def close(self) -> None:
        await self._tasks.close()

    # -- the session -----------------------------------------------------------------------------

    async def _session(self, client: EngineClient, tail: int, generation: int) -> None:
        histories = await asyncio.gather(
            *(self._history(client, source, tail) for source in range(len(self._sources))),
            return_exceptions=True)
        if generation != self._generation:
            return
        items: list[_Item] = []
        failure = ""
        for result in histories:
            if isinstance(result, BaseException):
                failure = failure or _reason(result)
            else:
                items.extend(result)
        stamped = [item.ns for item in items if item.ns]
        # From just before the first line: the start that wrote it is a moment earlier.
        since = min(stamped) // 1_000_000_000 - 2 if stamped else None
        events: asyncio.Queue[ContainerEvent | None] = asyncio.Queue()
        self._tasks.spawn(self._events(client, since, events, generation), name="logs-events", stream=True)
        # The events up to now come first and at once: take them until the stream goes quiet
        # (or tells something newer than the history), to put them among the history's lines.
        told_until = time.time()
        later: list[ContainerEvent] = []
        while True:
            try:
                event = await asyncio.wait_for(events.get(), _EVENTS_QUIET)
            except TimeoutError:
                break
            if event is None:
                break
            if event.t > told_until:
                later.append(event)
                break
            items.extend(self._event_items(event, items, live=False))
        if generation != self._generation:
            return
        items.sort()
        self._append(items)
        for source in self._sources:
            source.started.clear()
            source.streaming = True  # followed from now on: an exit waits for the end of its log
        if failure:
            self.ended.emit(failure)
        for event in later:
            self._hold(self._event_items(event, [item for _, item in self._held], live=True))
        self._tasks.spawn(self._flush_held(generation), name="logs-order", stream=True)
        self._tasks.spawn(self._take_events(events, generation), name="logs-marks", stream=True)
        await asyncio.gather(*(self._follow(client, source, tail, generation) for source in range(len(self._sources))))

    async def _history(self, client: EngineClient, source: int, tail: int) -> list[_Item]:
        items: list[_Item] = []
        async for chunk in client.stream_logs(self._sources[source].id, follow=False, tail=tail, timestamps=True):
            items.extend(self._lines(source, chunk.stream, chunk.text, fresh_only=False))
        items.extend(self._rest(source))
        return items

    async def _follow(self, client: EngineClient, index: int, tail: int, generation: int) -> None:
        """Follow one container, again after each restart, until it is removed or the session ends."""
        source = self._sources[index]
        while generation == self._generation and not source.removed:
            source.started.clear()
            source.shown_ns, source.shown_at_last, source.met_at_last = source.last_ns, source.at_last, 0
            reason = ""
            source.streaming = True
            try:
                slice_started = time.perf_counter()
                async for chunk in client.stream_logs(source.id, follow=True, tail=tail, timestamps=True):
                    if generation != self._generation:
                        return
                    self._hold(self._lines(index, chunk.stream, chunk.text, fresh_only=True))
                    if time.perf_counter() - slice_started > _SLICE:
                        # A fast stream never suspends the coroutine on its own: give Qt its turn.
                        await asyncio.sleep(0)
                        slice_started = time.perf_counter()
            except EngineUnreachable as exc:
                reason = exc.reason
            except EngineClientError as exc:
                reason = exc.message
            if generation != self._generation:
                return
            source.streaming = False
            self._hold(self._rest(index))
            self._release_die(source)
            if reason:
                self.ended.emit(reason)
                return
            self.waiting.emit(self.buffer.sources[index] if index < len(self.buffer.sources) else source.id)
            await source.started.wait()
            self.waiting.emit("")

    # -- lines -----------------------------------------------------------------------------------

    def _lines(self, index: int, stream_name: str, text: str, *, fresh_only: bool) -> list[_Item]:
        """Whole lines of a chunk as items; with `fresh_only`, those not shown already."""
        source = self._sources[index]
        stream = STDERR if stream_name == "stderr" else STDOUT
        pending = source.partial.pop(stream, "")
        if pending:
            text = pending + text
        if "\n" not in text:
            if text:
                source.partial[stream] = text
            return []
        lines = text.split("\n")
        rest = lines.pop()
        if rest:
            source.partial[stream] = rest
        return self._accept(index, stream, lines, fresh_only)

    def _rest(self, index: int) -> list[_Item]:
        source = self._sources[index]
        pending, source.partial = source.partial, {}
        out: list[_Item] = []
        for stream, text in pending.items():
            out.extend(self._accept(index, stream, [text], True))
        return out

    def _accept(self, index: int, stream: int, lines: list[str], fresh_only: bool) -> list[_Item]:
        source = self._sources[index]
        out: list[_Item] = []
        for line in lines:
            if line.endswith("\r"):
                line = line[:-1]
            ns = stamp_ns(line[: line.find(" ")]) if line[:2].isdigit() else 0
            if not ns:
                ns = source.last_ns  # no stamp: keep it where it came
            elif fresh_only and ns <= source.shown_ns:
                if ns < source.shown_ns:
                    continue  # shown before this re-read
                source.met_at_last += 1
                if source.met_at_last <= source.shown_at_last:
                    continue
            if ns == source.last_ns:
                source.at_last += 1
            else:
                source.last_ns, source.at_last = ns, 1
            self._seq += 1
            out.append(_Item(ns, self._seq, stream, index, line))
        return out

    # -- events ----------------------------------------------------------------------------------

    async def _events(self, client: EngineClient, since: int | None,
                      out: asyncio.Queue[ContainerEvent | None], generation: int) -> None:
        ids = [source.id for source in self._sources]
        try:
            async with contextlib.aclosing(client.events({"type": ["container"], "container": ids}, since)) as stream:
                async for raw in stream:
                    if generation != self._generation:
                        return
                    if str(raw.get("Action") or "") == "destroy":
                        self._removed(str((raw.get("Actor") or {}).get("ID") or ""))
                        continue
                    event = log_event_from_api(raw)
                    if event is not None:
                        out.put_nowait(event)
        except (EngineClientError, EngineUnreachable):
            pass  # no marks, and no re-attach on restart: the log still shows what it has
        out.put_nowait(None)

    async def _take_events(self, events: asyncio.Queue[ContainerEvent | None], generation: int) -> None:
        while generation == self._generation:
            event = await events.get()
            if event is None:
                return
            self._hold(self._event_items(event, [item for _, item in self._held], live=True))

    def _index_of(self, id: str) -> int | None:
        for index, source in enumerate(self._sources):
            if id and (source.id.startswith(id) or id.startswith(source.id)):
                return index
        return None

    def _removed(self, id: str) -> None:
        index = self._index_of(id)
        if index is not None:
            self._sources[index].removed = True
            self._sources[index].started.set()
            if all(source.removed for source in self._sources):
                self.ended.emit("")

    def _release_die(self, source: _Source) -> list[_Item]:
        """Put a held-back exit among the lines to append; what was released."""
        released, source.pending_die = source.pending_die, []
        self._hold(released)
        return released

    def _event_items(self, event: ContainerEvent, around: list[_Item], *, live: bool) -> list[_Item]:
        """An event as its MARK line; `around`: the lines it goes among (not appended yet). Live,
        an exit waits for the end of the log it closes."""
        index = self._index_of(event.container)
        if index is None:
            return []
        source = self._sources[index]
        restarted = source.died
        ns = round(event.t * 1_000_000_000)
        if event.kind == START:
            source.started.set()
            source.last_start = event.t
            source.died = False
            # The engine says "start" once the process runs, which may have written already:
            # the line goes before the first line of this run, wherever the event's moment is.
            self._release_die(source)
            if restarted:
                ns = source.died_ns + 1  # between the last run's exit and anything of this one
            else:
                early = [item.ns for item in around
                         if item.source == index and item.stream != MARK and item.ns < ns]
                if early:
                    ns = min(early) - 1
        elif event.kind == DIE:
            source.died = True
            source.died_ns = ns
        elif event.kind == RESTART and 0 <= event.t - source.last_start < 5:
            return []  # its start line already said "restarted"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
        text = f"{stamp}.{ns % 1_000_000_000:09d}Z {event_line_text(event, restarted)}"
        self._seq += 1
        item = _Item(ns, self._seq, MARK, index, text, event.kind)
        if live and event.kind == DIE and source.streaming:
            source.pending_die.append(item)
            source.die_arrival = time.monotonic()
            return []
        return [item]

    # -- order -----------------------------------------------------------------------------------

    def _hold(self, items: list[_Item]) -> None:
        if items:
            now = time.monotonic()
            self._held.extend((now, item) for item in items)

    async def _flush_held(self, generation: int) -> None:
        while generation == self._generation:
            await asyncio.sleep(_HOLD / 3)
            for source in self._sources:
                if source.pending_die and time.monotonic() - source.die_arrival > _DIE_WAIT:
                    self._release_die(source)  # its log goes on (a quick restart): no longer
            if not self._held:
                continue
            cut = time.monotonic() - _HOLD
            ready = 0
            while ready < len(self._held) and self._held[ready][0] <= cut:
                ready += 1
            if ready:
                items = sorted(item for _, item in self._held[:ready])
                del self._held[:ready]
                self._append(items)

    def _append(self, items: list[_Item]) -> None:
        """Append items in their order, a run of one stream and source at a time."""
        if not items:
            return
        buffer = self.buffer
        start = 0
        for i in range(1, len(items) + 1):
            if i == len(items) or (items[i].stream, items[i].source) != (items[start].stream, items[start].source):
                first = items[start]
                if first.stream == MARK:
                    for item in items[start:i]:
                        buffer.mark_kinds[len(buffer)] = item.kind
                        buffer.append_lines([item.text], MARK, item.source)
                else:
                    buffer.append_lines([item.text for item in items[start:i]], first.stream, first.source)
                start = i
        self.appended.emit()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EngineUnreachable):
        return exc.reason
    if isinstance(exc, EngineClientError):
        return exc.message
    return str(exc) or type(exc).__name__


def feed_for_test(follower: Any, text: str, stream: int = STDOUT) -> None:
    """Append as if from the engine (used by tests and the benchmark)."""
    if follower.buffer.append(text, stream):
        follower.appended.emit()
