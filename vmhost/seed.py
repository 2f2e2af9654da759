"""The seed disk: what a guest learns about itself at every boot (keys, hostname, shared folders)."""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path

from vmhost import localend
from vmhost.machine import Machine


def write_seed(machine: Machine) -> Path:
    """The seed disk: a tar archive the guest unpacks at boot (works without any host tool)."""
    host_key = machine.host_key_file
    files: dict[str, tuple[bytes, int]] = {
        "ssh_host_ed25519_key": (host_key.read_bytes(), 0o600),
        "ssh_host_ed25519_key.pub": ((machine.host_key_line + "\n").encode(), 0o644),
        "authorized_keys": (machine.client_key.with_name("id_ed25519.pub").read_bytes(), 0o600),
        "hostname": (f"berth-{machine.name}\n".encode(), 0o644),
        "shares": ("".join(f"{tag}\t{path}\n" for tag, path in share_tags(machine)).encode(), 0o644),
    }
    seed = machine.dir / "seed.img"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    data += b"\0" * (-len(data) % 65536)  # whole sectors; a little slack for QEMU's raw driver
    fd = os.open(seed, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return seed


def share_tags(machine: Machine) -> list[tuple[str, str]]:
    return [(f"share{i}", path) for i, path in enumerate(machine.shares)]


def shares_supported() -> bool:
    # QEMU's virtfs (9p) exists on Linux and macOS builds, not on Windows.
    return localend.system() != "Windows"
