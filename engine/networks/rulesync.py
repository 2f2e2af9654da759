"""The firewall brought up to date with the store, one write at a time, many requests per write.

Each change to networks or published ports asks for a sync and waits for one that began after it
asked: that one reads the store, so it carries the change. While a write runs, every request that
arrives is served by the next write, which starts when it ends: with four network creates at once,
one or two writes serve all four, where each used to wait for the whole rule set to be written for
each of the others in turn. A write reads the state when it begins, so nothing asked before it is
left out; two writes never run at once (the firewall keeps what it last wrote to send differences).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from engine.networks.firewall import FirewallState

log = logging.getLogger(__name__)


class RuleSync:
    def __init__(self, state: Callable[[], FirewallState], write: Callable[[FirewallState, bool], None]) -> None:
        self._state = state  # what the rules should say, read from the store (on the event loop)
        self._write = write  # makes them say it (blocking: run in a worker thread)
        self._next: asyncio.Future[None] | None = None  # the write that the requests arriving now wait for
        self._check_jumps = False  # asked of the next write
        self._asked = 0  # requests the next write serves (for the debug log)
        self._runner: asyncio.Task[None] | None = None
        self.synced: FirewallState | None = None  # what the rules said after the last write
        self.writes = 0  # how many writes reached the firewall (for tests and the debug log)

    async def sync(self, check_jumps: bool = False) -> None:
        """Return once a write that began after this call has ended (raise what it raised)."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            # Nobody waiting is no reason to log "exception never retrieved": the waiters get it.
            self._next.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._check_jumps |= check_jumps
        self._asked += 1
        waited = self._next
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="networks: firewall sync")
        # Shielded: a caller that gives up does not cancel the write the others wait for.
        await asyncio.shield(waited)

    async def _run(self) -> None:
        done: asyncio.Future[None] | None = None
        try:
            while self._next is not None:
                done, self._next = self._next, None
                check_jumps, self._check_jumps = self._check_jumps, False
                asked, self._asked = self._asked, 0
                try:
                    began = time.perf_counter()
                    state = self._state()
                    if check_jumps or state != self.synced:
                        self.synced = None  # unknown until the write ends
                        read = time.perf_counter()
                        await asyncio.to_thread(self._write, state, check_jumps)
                        self.synced = state
                        self.writes += 1
                        log.debug("firewall written for %d request(s): %.1f ms (state %.1f, write %.1f)", asked,
                                  1000 * (time.perf_counter() - began), 1000 * (read - began),
                                  1000 * (time.perf_counter() - read))
                except Exception as e:
                    done.set_exception(e)
                else:
                    done.set_result(None)
                done = None
        finally:
            self._runner = None
            # Cut short (berthd stopping): whoever waits learns that the write did not happen.
            for waited in (done, self._next):
                if waited is not None and not waited.done():
                    waited.cancel()
            self._next = None
