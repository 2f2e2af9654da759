"""runc's `start` and its `delete` of a stopped container, done in berthd for the plain cases.

Each `runc` call is a Go process that loads the container's state: 4-8 ms, where the work itself is a
fifo read or a few rmdirs. A container's start and its removal after the exit (what `docker run --rm`
waits for) each took one. Both steps follow runc's own state directory (`<root>/<id>/`):

- start: `runc init` waits in the container, blocked opening `exec.fifo` for writing; the reader
  that opens it lets it write a byte and exec the container's process, whose exec closes the fifo.
  runc start is that read, then the fifo's removal (which marks the container "running").
- delete, once the init process is gone: remove its cgroups and the state directory.

Anything else (no fifo, a poststop hook, the host's pid namespace, a systemd cgroup, a cgroup still
busy, a state file not understood) is answered False, and the caller runs runc itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import time
from pathlib import Path

FIFO = "exec.fifo"
STATE = "state.json"
START_TIMEOUT = 10.0  # seconds for runc init to take its turn once the fifo is open; it is waiting already
_POLL = 0.1  # seconds between checks that runc init is still alive, as runc start does


async def start(state_dir: Path) -> bool:
    """True once the container's process runs (as `runc start`); False if this is not the plain case."""
    fifo = state_dir / FIFO
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False  # not created (started already, or stopped): runc says which
    loop = asyncio.get_running_loop()
    try:
        got = b""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            # A FIFO polls ready once its writer has written, or has closed it after opening it.
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _settle, ready)
            try:
                await asyncio.wait_for(ready, _POLL)
            except TimeoutError:
                if time.monotonic() > deadline or not _init_alive(state_dir):
                    return False  # runc init died before its turn, or never took it: runc start says so
                continue
            finally:
                loop.remove_reader(fd)
            try:
                chunk = os.read(fd, 64)
            except BlockingIOError:
                continue
            if not chunk:
                break  # closed: at the exec of the container's process, after its byte
            got += chunk
    finally:
        os.close(fd)
    if not got:
        return False  # it closed the fifo without a word: runc start reports what went wrong
    with contextlib.suppress(FileNotFoundError):
        fifo.unlink()
    return True


def delete_stopped(state_dir: Path) -> bool:
    """True if the container's state and cgroups are gone (or were never there); False if runc must do it."""
    try:
        state = json.loads((state_dir / STATE).read_text())
    except FileNotFoundError:
        return not state_dir.exists()
    except (OSError, ValueError):
        return False
    try:
        config = state["config"]
        if any((config.get("Hooks") or {}).get("poststop") or ()) or state.get("intel_rdt_path") or \
                config["cgroups"].get("systemd") or not _own_pid_namespace(config["namespaces"]):
            return False
        if _running(int(state["init_process_pid"]), int(state["init_process_start"])):
            return False
        paths = {str(p) for p in (state.get("cgroup_paths") or {}).values() if p}
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    for path in sorted(paths, key=len, reverse=True):
        if not _remove_cgroup(Path(path)):
            return False
    shutil.rmtree(state_dir, ignore_errors=True)
    return not state_dir.exists()


def _own_pid_namespace(namespaces: list[dict[str, str]]) -> bool:
    """A pid namespace of its own: its processes all died with its init (else runc kills them)."""
    return any(ns.get("type") == "NEWPID" and not ns.get("path") for ns in namespaces)


def _running(pid: int, start_time: int) -> bool:
    """As runc: the init process is there, the same one (its start time) and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0] not in ("Z", "X") and int(fields[19]) == start_time


def _settle(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


def _init_alive(state_dir: Path) -> bool:
    try:
        state = json.loads((state_dir / STATE).read_text())
        return _running(int(state["init_process_pid"]), int(state["init_process_start"]))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _remove_cgroup(path: Path) -> bool:
    """The cgroup and any it holds, deepest first; False if one still has processes."""
    if not path.exists():
        return True
    for root, _, _ in sorted(os.walk(path), key=lambda entry: len(entry[0]), reverse=True):
        try:
            os.rmdir(root)
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno == errno.EBUSY:
                return False
            raise
    return True
