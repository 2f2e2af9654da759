"""A container's root filesystem: the image's layers under the container's own upper dir."""

from __future__ import annotations

from pathlib import Path

from engine.storage import overlay


class OverlayRootfs:
    def mount(self, lowers: list[Path], upper: Path, work: Path, target: Path) -> None:
        if overlay.is_mounted(target):
            return
        overlay.mount_rootfs(lowers, upper, work, target)

    def unmount(self, target: Path) -> None:
        if overlay.is_mounted(target):
            overlay.unmount(target)
