"""Firewall syncs asked for while one is written are served together by the next write, and each
caller returns only once a write that read the store after its change has ended."""

from __future__ import annotations

import asyncio
import threading

import pytest

from engine.networks.firewall import FirewallState, NetworkRules
from engine.networks.rulesync import RuleSync

pytestmark = pytest.mark.unit


class Store:
    """The networks as the service's store would give them, and the writes the firewall got."""

    def __init__(self) -> None:
        self.bridges: list[str] = []
        self.written: list[list[str]] = []
        self.release = threading.Event()  # a write waits for this, standing for iptables-restore
        self.fail = False

    def state(self) -> FirewallState:
        return FirewallState(networks=[NetworkRules(b, "10.0.0.0/24") for b in self.bridges])

    def write(self, state: FirewallState, check_jumps: bool) -> None:
        assert self.release.wait(10)
        if self.fail:
            raise RuntimeError("iptables-restore failed")
        self.written.append([n.bridge for n in state.networks])


async def _until(condition: object, what: str) -> None:
    for _ in range(500):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


def test_changes_made_during_a_write_share_the_next_one() -> None:
    async def main() -> None:
        store = Store()
        sync = RuleSync(store.state, store.write)
        store.bridges.append("br-0")
        first = asyncio.create_task(sync.sync())
        await _until(lambda: sync._runner is not None and sync._next is None, "the first write begins")
        others = []
        for i in range(1, 5):  # four creates while br-0's write runs
            store.bridges.append(f"br-{i}")
            others.append(asyncio.create_task(sync.sync()))
        await asyncio.sleep(0.05)
        assert not any(t.done() for t in others)
        store.release.set()
        await asyncio.wait_for(asyncio.gather(first, *others), 10)
        # one write for br-0, one for the four that came while it ran: each saw its own network in place
        assert store.written == [["br-0"], ["br-0", "br-1", "br-2", "br-3", "br-4"]]
        assert sync.writes == 2
        await sync.sync()  # nothing changed: nothing written
        assert sync.writes == 2

    asyncio.run(main())


def test_a_failed_write_fails_its_callers_and_the_next_one_is_whole_again() -> None:
    async def main() -> None:
        store = Store()
        sync = RuleSync(store.state, store.write)
        store.bridges.append("br-0")
        store.fail = True
        store.release.set()
        results = await asyncio.gather(sync.sync(), sync.sync(), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        store.fail = False
        await sync.sync()  # the same state is written again: the failed write may have left anything
        assert store.written == [["br-0"]]

    asyncio.run(main())


def test_a_caller_that_gives_up_does_not_cut_the_write_for_the_others() -> None:
    async def main() -> None:
        store = Store()
        sync = RuleSync(store.state, store.write)
        store.bridges.append("br-0")
        impatient = asyncio.create_task(sync.sync())
        patient = asyncio.create_task(sync.sync())
        await asyncio.sleep(0.05)
        impatient.cancel()
        store.release.set()
        await asyncio.wait_for(patient, 10)
        assert impatient.cancelled() and store.written == [["br-0"]]

    asyncio.run(main())
