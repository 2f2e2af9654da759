"""First run on macOS and Windows (forced here with BERTH_FIRST_RUN=1): the unreachable panel sets up
Berth's default machine (create, then start) with progress, and switches to its engine. No VM boots: a fake."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.desktop.window import MainWindow
from tests.app.test_machines_page import FakeMachine
from tests.app.test_pages_engine import shoot
from tests.engine.client.fake_engine import short_socket_dir
from vmhost.machine import MachineError, Status
from vmhost.release import Download

pytestmark = pytest.mark.gui


class FirstRunMachines:
    """No machine yet; init and start report progress. `gate` holds start mid-way (for the screenshot)."""

    def __init__(self, root: Path, fail_start: bool = False) -> None:
        self.root, self.fail_start = root, fail_start
        self.machines: dict[str, FakeMachine] = {}
        self.states: dict[str, str] = {}
        self.calls: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def all(self) -> list[FakeMachine]:
        return list(self.machines.values())

    def get(self, name: str) -> FakeMachine:
        if name not in self.machines:
            raise MachineError(f"no such machine: {name}")
        return self.machines[name]

    def status(self, name: str) -> Status:
        return Status(self.states[name])

    def init(self, name: str = "default", progress: Callable[[str], None] = lambda _: None,
             download: Callable[[Download], None] | None = None, **_: Any) -> FakeMachine:
        self.calls.append(f"init {name}")
        if download is not None:  # no image here: the release's is fetched, as vmhost.release reports it
            progress("fetching the x86_64 guest image")
            for received in (0, 40_000_000, 100_000_000):
                download(Download("berth-guest-0.1.0-x86_64.tar", received, 100_000_000, 20e6))
        progress("guest image release-0123456789abcdef (x86_64, kernel 6.1.0-28-amd64)")
        self.machines[name] = FakeMachine(name, self.root)
        self.states[name] = "stopped"
        return self.machines[name]

    def start(self, name: str, progress: Callable[[str], None] = lambda _: None) -> FakeMachine:
        self.calls.append(f"start {name}")
        self.get(name)
        if self.fail_start:
            raise MachineError("guest image /nowhere is missing: build it with `python -m vmhost.image build`")
        self.states[name] = "starting"
        progress("starting QEMU (tcg, 2 CPUs, 2048 MiB)")
        assert self.gate.wait(10)
        self.states[name] = "running"
        progress("berthd answers")
        return self.machines[name]


@pytest.fixture
def nowhere() -> Iterator[str]:
    """An engine URL whose socket does not exist."""
    directory = short_socket_dir()
    yield f"unix://{directory}/absent.sock"
    shutil.rmtree(directory, ignore_errors=True)


def open_unreachable(qtbot: Any, make_window: Callable[[str], MainWindow], url: str, fake: Any) -> MainWindow:
    window = make_window(url)
    window.resize(1100, 700)
    window.machine_service._machines = fake
    window.show_place("containers")
    panel = window.containers_page.unreachable
    qtbot.waitUntil(panel.isVisible, timeout=10_000)
    return window


def test_set_up_creates_starts_and_switches(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nowhere: str,
    make_window: Callable[[str], MainWindow],
) -> None:
    monkeypatch.setenv("BERTH_FIRST_RUN", "1")
    monkeypatch.setenv("BERTH_MACHINES_DIR", str(tmp_path / "machines"))
    fake = FirstRunMachines(tmp_path)
    fake.gate.clear()
    window = open_unreachable(qtbot, make_window, nowhere, fake)
    switched: list[str] = []
    switch = window.switch_engine
    monkeypatch.setattr(window, "switch_engine", lambda url: (switched.append(url), switch(url)))
    panel = window.containers_page.unreachable
    window.machine_service.check_setup()
    qtbot.waitUntil(lambda: panel.setup_button.isVisible() and panel.setup_button.text() == "Set up Berth",
                    timeout=10_000)
    assert panel.retry.isVisible() and "Linux machine" in panel.detail.text()

    panel.setup_button.click()
    qtbot.waitUntil(lambda: "starting QEMU" in panel.progress.text(), timeout=10_000)
    assert not panel.setup_button.isEnabled()
    created = next(j for j in window.jobs.jobs if j.title == "creating machine default")
    assert created.state == "done"
    # Which image, and its download with bytes, rate and time left, in the task panel.
    log = "\n".join(created.log)
    assert "downloading berth-guest-0.1.0-x86_64.tar: 40.0 MB of 100.0 MB (40 %), 20.0 MB/s, 3 s left" in log
    assert "guest image release-0123456789abcdef (x86_64" in log
    assert any(j.title == "starting machine default" and j.state == "running" for j in window.jobs.jobs)
    shoot(window, "first-run.png")

    fake.gate.set()
    qtbot.waitUntil(lambda: switched == [fake.machines["default"].docker_host], timeout=10_000)
    assert fake.calls == ["init default", "start default"]
    assert window.connection.url == fake.machines["default"].docker_host
    job = next(j for j in window.jobs.jobs if j.title == "starting machine default")
    assert job.state == "done" and "berthd answers" in job.log


def test_existing_stopped_machine_is_only_started_and_a_failure_shows_retry(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nowhere: str,
    make_window: Callable[[str], MainWindow],
) -> None:
    monkeypatch.setenv("BERTH_FIRST_RUN", "1")
    monkeypatch.setenv("BERTH_MACHINES_DIR", str(tmp_path / "machines"))
    fake = FirstRunMachines(tmp_path, fail_start=True)
    fake.init("default")
    fake.calls.clear()
    window = open_unreachable(qtbot, make_window, nowhere, fake)
    panel = window.containers_page.unreachable
    window.machine_service.check_setup()
    qtbot.waitUntil(lambda: panel.setup_button.isVisible() and panel.setup_button.text() == "Start Berth's machine",
                    timeout=10_000)

    panel.setup_button.click()
    qtbot.waitUntil(panel.error.isVisible, timeout=10_000)
    assert "guest image /nowhere is missing" in panel.error.text()
    assert panel.setup_button.text() == "Retry" and panel.setup_button.isEnabled()
    assert fake.calls == ["start default"]
    assert any(j.title == "starting machine default" and j.state == "failed" for j in window.jobs.jobs)
    assert window.connection.url == nowhere

    # Retry runs the set-up again (and now succeeds).
    fake.fail_start = False
    panel.setup_button.click()
    qtbot.waitUntil(lambda: window.connection.url == fake.machines["default"].docker_host, timeout=10_000)
    assert fake.calls == ["start default", "start default"]
    assert not panel.error.isVisible()


def test_no_set_up_on_linux_without_first_run(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nowhere: str,
    make_window: Callable[[str], MainWindow],
) -> None:
    monkeypatch.delenv("BERTH_FIRST_RUN", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("BERTH_MACHINES_DIR", str(tmp_path / "machines"))
    fake = FirstRunMachines(tmp_path)
    window = open_unreachable(qtbot, make_window, nowhere, fake)
    panel = window.containers_page.unreachable
    qtbot.wait(300)
    assert not panel.first_run and panel.setup_button.isHidden()
    assert "does not exist" in panel.detail.text() and "berthd" in panel.detail.text() and panel.retry.isVisible()
    assert fake.calls == []
