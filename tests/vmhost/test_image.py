from __future__ import annotations

import gzip
import json
import lzma
from pathlib import Path

import pytest

from vmhost.agent import guest_phase
from vmhost.arch import ARCHES
from vmhost.image import (
    RECIPE,
    GuestImage,
    apt_mirror,
    find_image,
    foreign_emulators,
    initramfs,
    prepare_kernel,
    recipe_key,
)

pytestmark = pytest.mark.unit


def test_recipe_key_is_stable_and_short() -> None:
    assert recipe_key() == recipe_key()
    assert len(recipe_key()) == 16


def test_find_image_takes_the_newest_complete_one(tmp_path: Path) -> None:
    assert find_image(tmp_path) is None
    (tmp_path / "debs").mkdir()  # the package cache is not an image
    old = tmp_path / "0123456789abcdef"
    old.mkdir()
    for name in ("vmlinuz", "initrd.img", "rootfs.qcow2"):
        (old / name).write_bytes(b"x")
    assert find_image(tmp_path) is None  # no manifest: an interrupted build
    (old / "manifest.json").write_text(json.dumps({"key": old.name}))
    found = find_image(tmp_path)
    assert found == GuestImage(old) and found.size_bytes() == 3


def test_mirror_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTH_DEBIAN_MIRROR", "http://mirror.invalid/debian")
    assert apt_mirror() == "http://mirror.invalid/debian"


def test_recipe_key_differs_by_arch() -> None:
    assert recipe_key("x86_64") != recipe_key("aarch64")


def test_find_image_takes_the_arch_asked_for(tmp_path: Path) -> None:
    for name, arch in (("a" * 16, "x86_64"), ("b" * 16, "aarch64")):
        image = tmp_path / name
        image.mkdir()
        for file in ("vmlinuz", "initrd.img", "rootfs.qcow2"):
            (image / file).write_bytes(b"x")
        (image / "manifest.json").write_text(json.dumps({"arch": arch, "cmdline": f"console={arch}"}))
    found = find_image(tmp_path, "aarch64")
    assert found is not None and found.arch == "aarch64" and found.cmdline == "console=aarch64"
    assert find_image(tmp_path, "x86_64") == GuestImage(tmp_path / ("a" * 16))


def _cpio(data: bytes) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, content) of a newc archive."""
    entries: dict[str, tuple[int, bytes]] = {}
    offset = 0
    while True:
        header = data[offset:offset + 110]
        assert header[:6] == b"070701"
        fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, size, name_size = fields[1], fields[6], fields[11]
        name_start = offset + 110
        name = data[name_start:name_start + name_size - 1].decode()
        body = name_start + name_size + (-(110 + name_size) % 4)
        if name == "TRAILER!!!":
            return entries
        entries[name] = (mode, data[body:body + size])
        offset = body + size + (-size % 4)


def test_initramfs_holds_busybox_its_init_and_the_modules_in_load_order(tmp_path: Path) -> None:
    version = "6.1.0-test"
    modules = tmp_path / "usr" / "lib" / "modules" / version
    (modules / "kernel").mkdir(parents=True)
    deps = {
        "kernel/virtio.ko": [], "kernel/virtio_ring.ko": [],
        "kernel/virtio_pci.ko": ["kernel/virtio_ring.ko", "kernel/virtio.ko"],
        "kernel/virtio_blk.ko": ["kernel/virtio_ring.ko", "kernel/virtio.ko"],
        "kernel/crc32c_generic.ko": [], "kernel/crc16.ko": [], "kernel/jbd2.ko": [],
        "kernel/ext4.ko": ["kernel/jbd2.ko", "kernel/crc16.ko"],
        "kernel/virtio_net.ko": ["kernel/virtio_ring.ko", "kernel/virtio.ko"],
        "kernel/virtio_balloon.ko": ["kernel/virtio_ring.ko", "kernel/virtio.ko"],
        "kernel/unused.ko": [],
    }
    (modules / "modules.dep").write_text("".join(f"{k}: {' '.join(v)}\n" for k, v in deps.items()))
    (modules / "modules.builtin").write_text("kernel/drivers/char/hw_random/virtio-rng.ko\n")
    for path in deps:
        (modules / path).write_bytes(path.encode())
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "busybox").write_bytes(b"busybox")

    data = initramfs(tmp_path, version)
    assert data == initramfs(tmp_path, version)  # reproducible
    entries = _cpio(gzip.decompress(data))
    assert entries["init"][0] == 0o100755 and entries["init"][1].startswith(b"#!/bin/busybox sh")
    assert entries["bin/busybox"] == (0o100755, b"busybox")
    order = entries["modules"][1].decode().split()
    assert order == ["virtio.ko", "virtio_ring.ko", "virtio_pci.ko", "virtio_blk.ko", "crc32c_generic.ko",
                     "crc16.ko", "jbd2.ko", "ext4.ko", "virtio_net.ko", "virtio_balloon.ko"]
    assert "lib/modules/unused.ko" not in entries
    assert entries["lib/modules/ext4.ko"][1] == b"kernel/ext4.ko"


def test_guest_phase_lines() -> None:
    assert guest_phase("berth-init: 7.12 network up\r") == "network up (7.1 s)"
    assert guest_phase("[    1.0] virtio_blk virtio2") is None
    assert guest_phase("berth-init: soon started") is None


def test_x86_64_kernel_is_unpacked_for_pvh_boot(tmp_path: Path) -> None:
    image = GuestImage(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"arch": "x86_64"}))
    elf = b"\x7fELF" + bytes(1000)
    (tmp_path / "vmlinuz").write_bytes(b"MZ setup code" + lzma.compress(elf, format=lzma.FORMAT_XZ) + b"trailer")
    assert image.boot_kernel() == image.kernel
    prepare_kernel(image)
    assert image.pvh_kernel.read_bytes() == elf
    assert image.boot_kernel() == image.pvh_kernel


def test_a_kernel_without_an_xz_payload_boots_as_it_is(tmp_path: Path) -> None:
    image = GuestImage(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"arch": "aarch64"}))
    (tmp_path / "vmlinuz").write_bytes(b"\x1f\x8b gzip'd Image")
    prepare_kernel(image)
    assert image.boot_kernel() == image.kernel and not image.pvh_kernel.exists()


def test_guest_phase_after_firmware_output() -> None:
    assert guest_phase("Booting from ROM..\x1bc\x1b[?7lberth-init: 5.86 started") == "started (5.9 s)"


def test_each_guest_keeps_the_emulator_of_the_other_architecture_only() -> None:
    assert foreign_emulators(ARCHES["x86_64"]) == {"qemu-aarch64-static"}
    assert foreign_emulators(ARCHES["aarch64"]) == {"qemu-x86_64-static"}
    assert "qemu-user-static" in (RECIPE / "packages.txt").read_text().split()
