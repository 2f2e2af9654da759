"""Build steps as images: each step is an image on its parent (with a layer, or only a new config),
as Docker's classic builder makes them; the step images are the build cache.

ImageService has `commit` for a container's layer on an image; a build also needs a first layer
on `scratch` and config-only steps. Until ImageService offers that (see the report: a public
`add_image(config, layer, parent)`), this goes through its staging and storing internals.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from engine.images.content import LayerBlob
from engine.images.manifest import DOCKER_LAYER_TAR
from engine.images.platform import parse_platform
from engine.images.service import ImageService
from engine.storage.layers import StagedLayer, rfc3339_nano
from engine.storage.tarsafe import ByteSource


class StepImages:
    def __init__(self, images: ImageService) -> None:
        self.images = images

    def image_config(self, image_id: str | None, platform: str | None = None) -> dict[str, Any]:
        """The whole image config (os, architecture, config, rootfs, history); scratch's is empty."""
        if image_id is None:
            p = parse_platform(platform)
            base: dict[str, Any] = {"architecture": p.architecture, "os": p.os}
            if p.variant:
                base["variant"] = p.variant
            return base | {"config": {}, "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
        return self.images.store.config(image_id)

    async def add(self, parent: str | None, runtime: dict[str, Any], created_by: str,
                  layer: ByteSource | None, platform: str | None = None) -> str:
        """A new image: `parent`'s layers (+ `layer`), `runtime` as its config. Returns its id."""
        images = self.images
        base = self.image_config(parent, platform)
        created = rfc3339_nano(time.time_ns())
        parent_chain = images.resolve(parent).top_layer if parent else None
        if parent_chain is not None:
            images.layers.acquire(parent_chain)  # the parent may be removed while we extract
        staged: StagedLayer | None = None
        try:
            diff_ids = list((base.get("rootfs") or {}).get("diff_ids") or [])
            entry: dict[str, Any] = {"created": created, "created_by": created_by}
            blob: LayerBlob | None = None
            if layer is not None:
                new, tar = await asyncio.to_thread(images._stage_keeping_tar, layer, parent_chain)
                staged = new
                diff_ids.append(new.result.diff_id)
                blob = LayerBlob(tar.digest, new.result.diff_id, DOCKER_LAYER_TAR, tar.size)
            else:
                entry["empty_layer"] = True
            config = {k: v for k, v in base.items() if k not in ("container", "container_config", "comment",
                                                                  "author")}
            config |= {"created": created, "config": {k: v for k, v in runtime.items() if v is not None},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids},
                       "history": [*(base.get("history") or []), entry]}
            config_bytes = json.dumps(config, separators=(",", ":")).encode()

            async def stage(index: int, parent_chain_id: str | None) -> tuple[StagedLayer, LayerBlob]:
                if staged is None or blob is None or index != len(diff_ids) - 1:
                    raise RuntimeError(f"layers of image {parent} vanished during the build")
                return staged, blob

            return await images._store_image(config_bytes, diff_ids, stage, parent_image=parent or "")
        finally:
            if staged is not None:
                images.layers.discard(staged)  # a no-op once committed
            if parent_chain is not None:
                images.layers.release(parent_chain)
