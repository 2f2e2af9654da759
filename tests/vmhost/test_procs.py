"""The supervisor as a process on Windows, tested on Linux with the platform faked: no fork, no os.kill
to ask anything (there it is TerminateProcess), a stop file instead of SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from vmhost import localend, procs
from vmhost.machine import Machine
from vmhost.machines import Machines

pytestmark = pytest.mark.unit


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The platform faked as Windows; os.kill calls are recorded (and never reach a process)."""
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(localend, "system", lambda: "Windows")
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    # OpenProcess/GetExitCodeProcess, answered from /proc here.
    monkeypatch.setattr(procs, "_windows_alive", lambda pid: Path(f"/proc/{pid}").exists()
                        and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z")
    return killed


def test_liveness_on_windows_never_signals(windows: list[tuple[int, int]]) -> None:
    assert procs.pid_alive(os.getpid())
    assert not procs.pid_alive(None)
    assert windows == []  # os.kill(pid, 0) there would have terminated this very process


def test_stop_is_a_file_and_kill_is_terminateprocess(windows: list[tuple[int, int]], tmp_path: Path) -> None:
    procs.request_stop(4242, tmp_path)
    assert (tmp_path / procs.STOP_FILE).exists() and windows == []
    procs.kill(4242)
    assert windows == [(4242, signal.SIGTERM)]  # Windows has no SIGKILL


def test_the_supervisor_is_launched_detached_without_fork(windows: list[tuple[int, int]], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    launched: dict[str, Any] = {}

    class Child:
        pid = 31337

    def popen(argv: list[str], **kwargs: Any) -> Child:
        launched.update(argv=argv, **kwargs)
        return Child()

    monkeypatch.setattr(subprocess, "Popen", popen)
    (tmp_path / procs.STOP_FILE).touch()  # left over from an earlier stop: must not stop the new one
    procs.launch_supervisor("vmhost.wslagent", tmp_path.parent, tmp_path, "default", 60)
    assert launched["argv"][1:3] == ["-m", "vmhost.wslagent"] and "--foreground" in launched["argv"]
    flags = launched["creationflags"]
    assert flags & procs.DETACHED_PROCESS and flags & procs.CREATE_NEW_PROCESS_GROUP
    assert (tmp_path / "agent.pid").read_text().strip() == "31337"
    assert not (tmp_path / procs.STOP_FILE).exists()


def test_the_stop_file_is_heard(tmp_path: Path) -> None:
    stopping = threading.Event()
    procs.watch_stop_file(tmp_path, stopping, interval=0.02)
    (tmp_path / procs.STOP_FILE).touch()
    assert stopping.wait(5)
    assert not (tmp_path / procs.STOP_FILE).exists()


def test_machine_stop_on_windows_reaches_the_supervisor_through_the_file(
        windows: list[tuple[int, int]], tmp_path: Path) -> None:
    machines = Machines(tmp_path / "machines")
    machine = Machine(name="default", image="guest", ssh_port=2222, engine_port=50123)
    machine.dir = machines.root / "default"
    machine.dir.mkdir(parents=True)
    machines.save(machine)
    # A supervisor stand-in: watches the stop file as vmhost.agent does, then exits by itself.
    agent = subprocess.Popen([sys.executable, "-c", (
        "import threading, sys; from pathlib import Path; from vmhost.procs import watch_stop_file; "
        "e = threading.Event(); watch_stop_file(Path(sys.argv[1]), e, 0.02); e.wait(30)"), str(machine.dir)])
    try:
        (machine.dir / "agent.pid").write_text(f"{agent.pid}\n")
        (machine.dir / "status.json").write_text(json.dumps({"state": "running"}))
        assert machines.status("default").state == "running"
        threading.Thread(target=agent.wait, daemon=True).start()  # reap it, as its parent would
        machines.stop("default", timeout=20)
        assert agent.wait(timeout=5) == 0  # it exited on its own, asked by the file
        assert windows == []
    finally:
        if agent.poll() is None:
            agent.kill()


def test_no_folder_sharing_and_windows_advice_for_qemu(windows: list[tuple[int, int]],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from vmhost.machine import MachineError
    from vmhost.qemu import find_qemu
    from vmhost.seed import shares_supported

    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("BERTH_QEMU", raising=False)
    assert not shares_supported()  # QEMU for Windows has no virtfs
    with pytest.raises(MachineError, match=r"qemu\.org"):
        find_qemu()
