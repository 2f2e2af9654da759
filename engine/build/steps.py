"""Build steps as images: each step is an image on its parent (with a layer, or only a new config),
as Docker's classic builder makes them; the step images are the build cache."""

from __future__ import annotations

from typing import Any

from engine.images.service import ImageService
from engine.storage.tarsafe import ByteSource


class StepImages:
    def __init__(self, images: ImageService) -> None:
        self.images = images

    def image_config(self, image_id: str | None, platform: str | None = None) -> dict[str, Any]:
        """The whole image config (os, architecture, config, rootfs, history); scratch's is empty."""
        return self.images.full_config(image_id, platform)

    async def add(self, parent: str | None, runtime: dict[str, Any], created_by: str,
                  layer: ByteSource | None, platform: str | None = None) -> str:
        """A new image: `parent`'s layers (+ `layer`), `runtime` as its config. Returns its id."""
        return await self.images.add_image(parent, runtime, {"created_by": created_by}, layer, platform)
