"""A Berth machine on the WSL2 backend: its distro's life cycle, as vmhost.machines delegates it.

The machine directory holds machine.json, the keys, agent.pid/agent.log/status.json of its supervisor
(vmhost.wslagent) and `distro/`, where WSL keeps the distro's virtual disk.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmhost.machine import MachineError
from vmhost.wsl import Wsl, WslError, distro_name, find_wsl, push_keys_script

if TYPE_CHECKING:
    from vmhost.machine import Machine, Progress
    from vmhost.release import DownloadProgress


ROOTFS_TAR = "rootfs.tar"  # beside a guest image's files: what `wsl --import` takes


def rootfs_tar(image: Path | None, image_url: str | None = None, progress: Progress = lambda _: None,
               download: DownloadProgress | None = None) -> Path:
    """The root file system tar a WSL machine is imported from: `image` itself (a .tar or .tar.gz),
    `image`/rootfs.tar (a guest image directory); with no image the cached guest image's
    (vmhost.image.find_image), else the release's, pinned and fetched as the QEMU guest is (vmhost.release)."""
    from vmhost.arch import host_arch
    from vmhost.image import cache_dir, find_image
    from vmhost.release import ReleaseError, install_rootfs

    if image is None:
        arch = host_arch().name
        found = None if image_url or os.environ.get("BERTH_GUEST_URL") else find_image(guest_arch=arch)
        if found is not None and (found.path / ROOTFS_TAR).is_file():
            return found.path / ROOTFS_TAR
        progress(f"fetching the {arch} root file system for WSL")
        try:
            return install_rootfs(cache_dir(), arch, image_url, progress=download or (lambda d: progress(d.describe())))
        except (ReleaseError, ValueError) as e:
            raise MachineError(f"{e} (on Linux, `python -m vmhost.wslmachine export` writes one beside a built "
                               "guest image)") from e
    if image.is_dir():
        image = image / ROOTFS_TAR
    if not image.is_file():
        raise MachineError(f"{image} is not there: a WSL machine is imported from the guest's root file system tar")
    return image


def export_rootfs(image_dir: Path) -> Path:
    """Write `image_dir`/rootfs.tar from the guest image's ext4 disk (Linux, root): converted to raw,
    loop-mounted read-only, archived with numeric owners. Kept once made."""
    out = image_dir / ROOTFS_TAR
    if out.is_file():
        return out
    work = image_dir / "rootfs-export.work"
    shutil.rmtree(work, ignore_errors=True)
    (work / "mnt").mkdir(parents=True)
    try:
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(image_dir / "rootfs.qcow2"), str(work / "rootfs.raw")],
                       check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop,ro", str(work / "rootfs.raw"), str(work / "mnt")],
                       check=True, capture_output=True)
        try:
            # Sorted, with the image's own owners and times (SOURCE_DATE_EPOCH): the same image makes the same
            # tar, so the release's digest is reproducible. lost+found is ext4's, not the guest's.
            subprocess.run(["tar", "-cpf", str(work / ROOTFS_TAR), "--numeric-owner", "--sort=name",
                            "--exclude=./lost+found", "-C", str(work / "mnt"), "."],
                           check=True, capture_output=True)
        finally:
            subprocess.run(["umount", str(work / "mnt")], check=True, capture_output=True)
        (work / ROOTFS_TAR).replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def wsl() -> Wsl:

    exe = find_wsl()
    if exe is None:
        raise MachineError("wsl.exe not found: WSL is needed for this machine (`wsl --install`, then restart)")
    return Wsl(exe)


def import_distro(machine: Machine, rootfs_tar: Path, progress: Progress) -> None:

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


def unregister(machine: Machine) -> None:
    """Remove the distro (and its disk); a distro already gone is fine."""

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

    try:
        distro = wsl().get(distro_name(machine.name))
    except (WslError, MachineError) as e:  # inspect reports; it does not fail on a broken wsl.exe
        return {"distro": {"name": distro_name(machine.name), "error": str(e)}}
    if distro is None:
        return {"distro": {"name": distro_name(machine.name), "state": "missing"}}
    return {"distro": {"name": distro.name, "state": distro.state, "version": distro.version}}


def main(argv: list[str] | None = None) -> int:
    """`python -m vmhost.wslmachine export [IMAGE_DIR]`: the guest image's rootfs.tar, for WSL machines."""
    import argparse

    from vmhost.image import GuestImage, find_image

    parser = argparse.ArgumentParser(prog="python -m vmhost.wslmachine")
    parser.add_argument("command", choices=["export"])
    parser.add_argument("image", nargs="?", type=Path, help="guest image directory (default: the cached one)")
    args = parser.parse_args(argv)
    image = GuestImage(args.image) if args.image else find_image()
    if image is None or not image.complete():
        print("no complete guest image: build one with `python -m vmhost.image build`", file=sys.stderr)
        return 1
    print(export_rootfs(image.path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
