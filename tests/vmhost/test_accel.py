"""`auto` falls back to TCG when the host's hypervisor refuses the guest, as this host's KVM does."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import vmhost.qemu as qemu_module
from vmhost.accel import refusal, remembered
from vmhost.agent import Agent
from vmhost.machine import Machine
from vmhost.machines import Machines
from vmhost.qemu import resolve_accel

pytestmark = pytest.mark.unit

# What qemu-system-x86_64 7.2 prints here under -accel kvm with Debian's guest kernel, then aborts.
KVM_ABORT = """\
qemu-system-x86_64: error: failed to set MSR 0x10a to 0x2000000ac
qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3248: kvm_buf_set_msrs: \
Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.
"""

# A stand-in QEMU: under kvm it aborts as this host's does (or hangs silently, with FAKE_KVM=hang);
# under tcg it prints the kernel's first console line and runs until killed.
FAKE_QEMU = f"""#!/bin/sh
accel="" serial=""
while [ $# -gt 0 ]; do
  case "$1" in
    -accel) accel="$2"; shift ;;
    -serial) serial="${{2#file:}}"; shift ;;
  esac
  shift
done
echo "$accel" >> "$(dirname "$serial")/accels"
if [ "$accel" = kvm ]; then
  if [ "${{FAKE_KVM:-abort}}" = hang ]; then exec sleep 600; fi
  cat >&2 <<'MSG'
{KVM_ABORT}MSG
  kill -ABRT $$
fi
echo "Linux version 6.1.0-28-amd64 (fake)" > "$serial"
exec sleep 600
"""


@pytest.fixture
def fake_kvm_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    if not shutil.which("qemu-img"):
        pytest.skip("needs qemu-img (qemu-utils)")
    qemu = tmp_path / "bin" / "qemu-system-x86_64"
    qemu.parent.mkdir()
    qemu.write_text(FAKE_QEMU)
    qemu.chmod(0o755)
    monkeypatch.setenv("BERTH_QEMU", str(qemu))
    monkeypatch.delenv("BERTH_MACHINE_ACCEL", raising=False)
    # This host: /dev/kvm is there and opens, so auto picks kvm.
    monkeypatch.setattr(qemu_module, "choose_accel", lambda: "kvm")
    yield qemu


@pytest.fixture
def machine(tmp_path: Path, fake_kvm_host: Path) -> tuple[Machines, Machine]:
    image = tmp_path / "image"
    image.mkdir()
    (image / "vmlinuz").write_bytes(b"kernel")
    (image / "initrd.img").write_bytes(b"initrd")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image / "rootfs.qcow2"), "1G"], check=True)
    (image / "manifest.json").write_text("{}")
    machines = Machines(tmp_path / "machines")
    return machines, machines.init("dev", image, shares=[])


def boot(machines: Machines, machine: Machine) -> Agent:
    agent = Agent(machines, machine, timeout=30)
    try:
        agent._boot()
        # Let the QEMU it kept print its first line or exit (either records its accelerator) before ending it.
        assert agent.qemu is not None
        refusal(agent.qemu, agent.accel, machine.boot_log, machine.dir / "qemu.log", threading.Event(), bound=10)
    finally:
        agent._end_qemu()
    return agent


def accels(machine: Machine) -> list[str]:
    return (machine.dir / "accels").read_text().split()


def test_auto_falls_back_to_tcg_when_kvm_aborts(machine: tuple[Machines, Machine]) -> None:
    machines, created = machine
    agent = boot(machines, created)
    assert accels(created) == ["kvm", "tcg"]
    assert agent.accel == "tcg"
    # The user is told why and how to force one, through status.json (the CLI and the app print it).
    status = json.loads((created.dir / "status.json").read_text())
    assert "kvm refused this guest" in status["notice"]
    assert "failed." in status["notice"] or "Assertion" in status["notice"]
    assert "berth machine set dev --accel kvm" in status["notice"]
    assert "failed to set MSR 0x10a" in (created.dir / "qemu-kvm-refused.log").read_text()
    assert machines.inspect("dev")["accelerator_refused"]["accel"] == "kvm"


def test_the_refusal_is_remembered_so_later_starts_go_straight_to_tcg(machine: tuple[Machines, Machine]) -> None:
    machines, created = machine
    boot(machines, created)
    assert resolve_accel(created) == "tcg"
    (created.dir / "accels").unlink()
    boot(machines, created)
    assert accels(created) == ["tcg"]  # once: no second wait on kvm
    assert machines.inspect("dev")["accelerator"] == "tcg"


def test_choosing_an_accelerator_forgets_the_refusal(machine: tuple[Machines, Machine]) -> None:
    machines, created = machine
    boot(machines, created)
    machines.update("dev", accel="auto")
    assert remembered(created.dir) is None
    assert resolve_accel(machines.get("dev")) == "kvm"


def test_a_forced_accelerator_never_falls_back(machine: tuple[Machines, Machine]) -> None:
    machines, _ = machine
    forced = machines.update("dev", accel="kvm")
    agent = boot(machines, forced)
    assert accels(forced) == ["kvm"]
    assert agent.accel == "kvm"
    assert remembered(forced.dir) is None


def test_a_guest_silent_under_kvm_is_a_refusal(machine: tuple[Machines, Machine],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    machines, created = machine
    monkeypatch.setenv("FAKE_KVM", "hang")
    qemu = subprocess.Popen(machines.argv(created, "kvm"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        refused = refusal(qemu, "kvm", created.boot_log, created.dir / "qemu.log", threading.Event(), bound=0.5)
    finally:
        qemu.kill()
        qemu.wait()
    assert refused is not None
    assert "printed nothing on its console in 0 s" in refused.reason or "in 1 s" in refused.reason


def test_a_guest_that_prints_is_accepted(machine: tuple[Machines, Machine]) -> None:
    machines, created = machine
    qemu = subprocess.Popen(machines.argv(created, "tcg"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert refusal(qemu, "tcg", created.boot_log, created.dir / "qemu.log", threading.Event(), bound=10) is None
    finally:
        qemu.kill()
        qemu.wait()


def test_silence_is_no_refusal_for_an_image_that_prints_late(machine: tuple[Machines, Machine],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    machines, created = machine
    monkeypatch.setenv("FAKE_KVM", "hang")
    qemu = subprocess.Popen(machines.argv(created, "kvm"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert refusal(qemu, "kvm", created.boot_log, created.dir / "qemu.log", threading.Event(), bound=0.5,
                       console=False) is None
    finally:
        qemu.kill()
        qemu.wait()
