"""A Berth machine on the WSL2 backend: its distro's life cycle, as vmhost.machines delegates it.

The machine directory holds machine.json, the keys, agent.pid/agent.log/status.json of its supervisor
(vmhost.wslagent) and `distro/`, where WSL keeps the distro's virtual disk.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmhost.wsl import Wsl, WslError, distro_name, find_wsl, push_keys_script

if TYPE_CHECKING:
    from vmhost.machines import Machine, Machines, Progress


def wsl() -> Wsl:
    from vmhost.machines import MachineError

    exe = find_wsl()
    if exe is None:
        raise MachineError("wsl.exe not found: WSL is needed for this machine (`wsl --install`, then restart)")
    return Wsl(exe)


def import_distro(machine: Machine, rootfs_tar: Path, progress: Progress) -> None:
    from vmhost.machines import MachineError

    name = distro_name(machine.name)
    runner = wsl()
    try:
        if runner.get(name) is not None:
            raise MachineError(f"a WSL distro named {name} exists already: `wsl --unregister {name}` removes it")
        progress(f"importing {rootfs_tar.name} as WSL distro {name}")
        runner.import_(name, machine.dir / "distro", rootfs_tar)
    except WslError as e:
        raise MachineError(str(e)) from e


def keys_tar(machine: Machine) -> bytes:
    """The guest's host key and the authorized key, as push_keys_script unpacks them."""
    files = {
        "ssh_host_ed25519_key": machine.host_key_file.read_bytes(),
        "ssh_host_ed25519_key.pub": (machine.host_key_line + "\n").encode(),
        "authorized_keys": machine.client_key.with_name("id_ed25519.pub").read_bytes(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def push_keys(machine: Machine) -> None:
    wsl().exec(distro_name(machine.name), ["sh", "-c", push_keys_script()], input=keys_tar(machine))


def launch_supervisor(machines: Machines, machine: Machine, timeout: float) -> None:
    from vmhost.machines import MachineError

    launcher = subprocess.run(
        [sys.executable, "-m", "vmhost.wslagent", "--machines-dir", str(machines.root), "--timeout", str(timeout),
         machine.name],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                      os.environ.get("PYTHONPATH")]))),
    )
    if launcher.returncode != 0:
        raise MachineError(f"could not start the machine's supervisor: {launcher.stderr.strip()}")


def unregister(machine: Machine) -> None:
    """Remove the distro (and its disk); a distro already gone is fine."""
    from vmhost.machines import MachineError

    runner = wsl()
    name = distro_name(machine.name)
    try:
        if runner.get(name) is not None:
            runner.unregister(name)
    except WslError as e:
        raise MachineError(str(e)) from e


def terminate(machine: Machine) -> None:
    runner = wsl()
    name = distro_name(machine.name)
    distro = runner.get(name)
    if distro is not None and distro.state.lower() == "running":
        runner.terminate(name)


def describe(machine: Machine) -> dict[str, Any]:
    """What inspect adds for a WSL machine: the distro as `wsl -l -v` lists it."""
    from vmhost.machines import MachineError

    try:
        distro = wsl().get(distro_name(machine.name))
    except (WslError, MachineError) as e:  # inspect reports; it does not fail on a broken wsl.exe
        return {"distro": {"name": distro_name(machine.name), "error": str(e)}}
    if distro is None:
        return {"distro": {"name": distro_name(machine.name), "state": "missing"}}
    return {"distro": {"name": distro.name, "state": distro.state, "version": distro.version}}
