"""The Machines page: machines made by `init` (stopped, no VM booted), and start/stop wiring with a fake."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.desktop.theme import Theme, apply_theme
from app.desktop.window import MainWindow
from app.display import Tone
from app.models.compose import TONE_ROLE
from app.models.machines import machines_model
from tests.app.test_pages_engine import shoot
from tests.engine.client.fake_engine import FakeEngine
from vmhost import dockercontext
from vmhost.machine import MachineError, Status
from vmhost.machines import Machines

pytestmark = pytest.mark.gui


@pytest.fixture
def guest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in guest image (found through $BERTH_GUEST_CACHE) and QEMU; the real qemu-img makes disks."""
    if not shutil.which("qemu-img"):
        pytest.skip("needs qemu-img (qemu-utils)")
    image = tmp_path / "cache" / "test-image"
    image.mkdir(parents=True)
    (image / "vmlinuz").write_bytes(b"kernel")
    (image / "initrd.img").write_bytes(b"initrd")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image / "rootfs.qcow2"), "1G"], check=True)
    (image / "manifest.json").write_text("{}")
    qemu = tmp_path / "bin" / "qemu-system-x86_64"
    qemu.parent.mkdir()
    qemu.write_text("#!/bin/sh\nexit 0\n")
    qemu.chmod(0o755)
    (qemu.parent / "qemu-img").symlink_to(shutil.which("qemu-img") or "qemu-img")
    monkeypatch.setenv("BERTH_QEMU", str(qemu))
    monkeypatch.setenv("BERTH_GUEST_CACHE", str(image.parent))
    monkeypatch.delenv("BERTH_MACHINE_ACCEL", raising=False)
    monkeypatch.setenv("BERTH_MACHINES_DIR", str(tmp_path / "machines"))
    return image


def item(name: str, state: str = "stopped") -> dict[str, Any]:
    return {"name": name, "state": state, "message": "", "cpus": 2, "memory_mib": 2048, "disk_gib": 20,
            "docker_host": f"unix:///tmp/{name}/berth.sock", "boot_log": ""}


def test_machines_model_passes_qtmodeltester(qtmodeltester: Any) -> None:
    model = machines_model()
    model.set_items([item("b", "running"), item("a")])
    qtmodeltester.check(model, force_py=True)
    model.set_items([item("a", "error"), item("c", "starting")])
    qtmodeltester.check(model, force_py=True)
    assert model.all_keys() == ["a", "c"]
    assert model.data(model.index(0, 1)) == "error"
    assert model.data(model.index(0, 1), TONE_ROLE) == Tone.ERROR.value
    assert model.data(model.index(1, 1), TONE_ROLE) == Tone.PENDING.value
    assert model.data(model.index(1, 3)) == "2048 MiB"


def test_create_list_boot_log_remove_and_screenshots(
    qtbot: Any, qapp: Any, guest_cache: Path, tmp_path: Path, fake_engine: FakeEngine,
    make_window: Callable[[str], MainWindow],
) -> None:
    machines = Machines(tmp_path / "machines")
    machines.init("alpha", guest_cache, cpus=1, memory_mib=512, disk_gib=2, shares=[])
    (machines.get("alpha").boot_log).write_text("".join(f"serial line {i}\n" for i in range(500)))
    window = make_window(fake_engine.url)
    window.resize(1280, 800)
    window.show_place("machines")
    page = window.machines_page
    assert page.note.isVisible()  # Linux: machines are optional
    qtbot.waitUntil(lambda: window.machines_model.row_of("alpha") is not None, timeout=10_000)

    # Create through the inline form.
    page.create_button.click()
    assert page.form.isVisible()
    page.name_input.setText("dev")
    page.cpus_input.setValue(3)
    page.memory_input.setValue(1024)
    page.disk_input.setValue(4)
    page.create_submit.click()
    qtbot.waitUntil(lambda: window.machines_model.row_of("dev") is not None, timeout=20_000)
    dev = window.machines_model.item("dev") or {}
    assert (dev["state"], dev["cpus"], dev["memory_mib"], dev["disk_gib"]) == ("stopped", 3, 1024, 4)
    # What it takes on this computer: its disk file (copy-on-write: small), no memory while stopped.
    row = window.machines_model.row_of("dev")
    disk_column = [window.machines_model.headerData(c, Qt.Orientation.Horizontal)
                   for c in range(window.machines_model.columnCount())].index("Disk")
    assert window.machines_model.index(row, disk_column).data() == "0.0 GB of 4 GiB"
    assert dev["memory_bytes"] is None and 0 < dev["disk_bytes"] < 10_000_000
    assert dev["docker_host"].startswith("unix://") and dev["docker_host"].endswith(".sock")
    qtbot.waitUntil(lambda: any(j.title == "creating machine dev" and j.state == "done" for j in window.jobs.jobs))
    assert machines.get("dev").cpus == 3

    # A second create of the same name fails in place, with vmhost's message.
    page.create_button.click()
    page.name_input.setText("dev")
    page.create_submit.click()
    qtbot.waitUntil(page.message.isVisible, timeout=10_000)
    assert "already exists" in page.message.text()

    # Stopped: start and remove possible, "use this engine" not.
    assert page.select_machine("alpha")
    assert page.start_button.isEnabled() and page.remove_button.isEnabled()
    assert not page.use_button.isEnabled() and not page.stop_button.isEnabled()
    page.log_button.click()
    qtbot.waitUntil(page.boot_log.isVisible, timeout=10_000)
    text = page.boot_log.toPlainText()
    assert "serial line 499" in text and "serial line 299" not in text

    for theme_name in ("light", "dark"):
        window.choose_theme(theme_name)
        shoot(window, f"page-machines-{theme_name}.png")
    window.choose_theme("light")

    # Remove, confirmed.
    assert page.select_machine("dev")
    box = page.ask_remove()
    assert box is not None and box.isVisible()
    remove = next(b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.DestructiveRole)
    remove.click()
    qtbot.waitUntil(lambda: window.machines_model.row_of("dev") is None, timeout=20_000)
    assert [m.name for m in machines.all()] == ["alpha"]
    apply_theme(qapp, Theme.load("light"))


class FakeMachine:
    def __init__(self, name: str, root: Path) -> None:
        self.name, self.cpus, self.memory_mib, self.disk_gib = name, 2, 2048, 20
        self.docker_host = f"unix://{root}/{name}.sock"
        self.boot_log = root / f"{name}.log"


class FakeMachines:
    """Machines without QEMU: start and stop report progress and change state."""

    def __init__(self, root: Path) -> None:
        self.machines = {"vm": FakeMachine("vm", root), "broken": FakeMachine("broken", root)}
        self.states = {"vm": "stopped", "broken": "stopped"}
        self.calls: list[str] = []

    def all(self) -> list[FakeMachine]:
        return list(self.machines.values())

    def get(self, name: str) -> FakeMachine:
        return self.machines[name]

    def status(self, name: str) -> Status:
        return Status(self.states[name])

    def start(self, name: str, progress: Callable[[str], None] = lambda _: None) -> FakeMachine:
        self.calls.append(f"start {name}")
        if name == "broken":
            raise MachineError("guest image /nowhere is missing: build it with `python -m vmhost.image build`")
        self.states[name] = "starting"
        progress("starting QEMU (tcg, 2 CPUs, 2048 MiB)")
        self.states[name] = "running"
        progress("berthd answers")
        return self.machines[name]

    def context_host(self, machine: FakeMachine) -> str:
        return machine.docker_host

    def reclaim(self, name: str, progress: Callable[[str], None] = lambda _: None) -> tuple[int, int]:
        self.calls.append(f"reclaim {name}")
        progress("trimming the guest's file systems")
        return 983_000_000, 12_300_000

    def stop(self, name: str, progress: Callable[[str], None] = lambda _: None) -> None:
        self.calls.append(f"stop {name}")
        progress(f"stopping machine {name}")
        self.states[name] = "stopped"


def test_start_stop_and_use_with_a_fake(
    qtbot: Any, tmp_path: Path, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow]
) -> None:
    window = make_window(fake_engine.url)
    fake = FakeMachines(tmp_path)
    window.machine_service._machines = fake
    window.show_place("machines")
    page = window.machines_page
    qtbot.waitUntil(lambda: window.machines_model.rowCount() == 2, timeout=10_000)

    assert page.select_machine("vm")
    page.start_button.click()
    qtbot.waitUntil(lambda: (window.machines_model.item("vm") or {}).get("state") == "running", timeout=10_000)
    job = next(j for j in window.jobs.jobs if j.title == "starting machine vm")
    qtbot.waitUntil(lambda: job.state == "done")
    assert "berthd answers" in job.log
    qtbot.waitUntil(page.use_button.isEnabled)
    page.use_button.click()
    qtbot.waitUntil(lambda: window.connection.url == fake.machines["vm"].docker_host, timeout=5_000)
    # Each machine is an engine in the switchers, named after it (not "current").
    host = fake.machines["vm"].docker_host
    qtbot.waitUntil(lambda: window.header.engine.itemText(window.header.engine.currentIndex())
                    .startswith("machine vm"), timeout=5_000)
    assert window.header.engine.currentData() == host
    assert any(c.name == "machine vm" and c.url == host for c in window.all_contexts())
    # Reclaim disk space: only for a running machine; the job says what the disk takes now.
    assert page.reclaim_button.isEnabled()
    page.reclaim_button.click()
    qtbot.waitUntil(lambda: any(j.title == "reclaiming disk space of machine vm" and j.state == "done"
                                for j in window.jobs.jobs), timeout=10_000)
    reclaim = next(j for j in window.jobs.jobs if j.title == "reclaiming disk space of machine vm")
    assert "983.0 MB → 12.3 MB" in "\n".join(reclaim.log)
    page.stop_button.click()
    qtbot.waitUntil(lambda: (window.machines_model.item("vm") or {}).get("state") == "stopped", timeout=10_000)
    assert not page.reclaim_button.isEnabled()
    assert fake.calls == ["start vm", "reclaim vm", "stop vm"]

    # A failing start: the job fails and the page shows vmhost's message in place.
    assert page.select_machine("broken")
    page.start_button.click()
    qtbot.waitUntil(page.message.isVisible, timeout=10_000)
    assert "guest image /nowhere is missing" in page.message.text()
    assert any(j.title == "starting machine broken" and j.state == "failed" for j in window.jobs.jobs)
    assert page.start_button.isEnabled()


def test_set_up_offers_the_docker_context_and_writes_it_only_when_taken(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_engine: FakeEngine,
    make_window: Callable[[str], MainWindow]
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    window = make_window(fake_engine.url)
    fake = FakeMachines(tmp_path)
    service, page = window.machine_service, window.machines_page
    service._machines = fake
    window.show_place("machines")

    service.set_up("vm")
    qtbot.waitUntil(page.context_offer.isVisible, timeout=10_000)
    host = fake.machines["vm"].docker_host
    assert "berth" in page.context_text.text() and host in page.context_text.text()
    assert dockercontext.endpoint() is None  # an offer writes nothing to the docker CLI's store
    page.context_later.click()
    assert not page.context_offer.isVisible() and dockercontext.current() == "default"

    fake.states["vm"] = "stopped"
    service.set_up("vm")
    qtbot.waitUntil(page.context_offer.isVisible, timeout=10_000)
    page.context_button.click()
    qtbot.waitUntil(lambda: not page.context_offer.isVisible(), timeout=5_000)
    assert dockercontext.current() == "berth" and dockercontext.endpoint() == host
    assert "context berth" in page.message.text()

    # Already current: the next set-up offers nothing.
    offers: list[str] = []
    service.contextOffered.connect(lambda name, _host: offers.append(name))
    fake.states["vm"] = "stopped"
    service.set_up("vm")
    qtbot.waitUntil(lambda: not service.setting_up, timeout=10_000)
    qtbot.wait(200)
    assert offers == []
