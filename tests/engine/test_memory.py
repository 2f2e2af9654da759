"""berthd gives freed heap memory back: holes in the heap that live blocks above them pin stay resident
until malloc_trim returns their pages (issue 25's soak grew in such steps)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from engine import memory

pytestmark = pytest.mark.unit

# In a child of its own, so that the test's own heap is not what is measured: 64 KiB blocks (below
# glibc's mmap threshold: from the heap) each followed by a small block that stays, then the big ones
# freed. Prints the resident size after the free and after the trim, in KiB.
_CHILD = """
import ctypes, sys
from engine.libc import malloc_trim
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallopt(-3, 4 * 1024 * 1024)  # M_MMAP_THRESHOLD fixed above the blocks: heap, not mmap
libc.mallopt(-1, 256 * 1024 * 1024)  # M_TRIM_THRESHOLD high: no automatic trim at free
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
big, small = [], []
for _ in range(800):
    block = libc.malloc(64 * 1024)
    ctypes.memset(block, 1, 64 * 1024)
    big.append(block)
    small.append(libc.malloc(64))
for block in big:
    libc.free(block)
before = rss()
assert malloc_trim()
print(before, rss())
"""


def test_trim_returns_the_pages_of_freed_holes() -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60,
                         check=True).stdout.split()
    before, after = int(out[0]), int(out[1])
    assert before - after > 30_000, f"RSS {before} KiB -> {after} KiB after malloc_trim"


def test_the_daemon_trims_every_few_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[int] = []

    def trim() -> bool:
        trims.append(1)
        return len(trims) < 3  # then: a C library without it, and the loop ends

    tuned: list[int] = []
    monkeypatch.setattr(memory, "malloc_trim", trim)
    monkeypatch.setattr(memory, "tune_collector", lambda: tuned.append(1))
    asyncio.run(asyncio.wait_for(memory.manage_memory(every=0.01), 5))
    assert len(trims) == 3 and tuned == [1]


def test_the_collector_leaves_start_up_alone_and_runs_less_often() -> None:
    child = ("import gc; from engine import memory; memory.tune_collector(); "
             "print(gc.get_freeze_count() > 1000, gc.get_threshold())")
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    assert out.strip() == f"True {memory.COLLECTOR_THRESHOLDS}"
