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
                  layer: ByteSource | None, platform: str | None = None, container: str = "",
                  cmd: list[str] | None = None) -> str:
        """A new image: `parent`'s layers (+ `layer`), `runtime` as its config. Returns its id.
        `container` and `cmd`: a RUN step's container and command (with its build args, as
        dockerd saves them); a metadata or COPY step runs no container and its command is
        its `created_by`."""
        step_config = {**runtime, "Hostname": container[:12], "Cmd": cmd if cmd is not None else _nop_cmd(created_by),
                       "Image": parent or ""}
        return await self.images.add_image(parent, runtime, {"created_by": created_by}, layer, platform,
                                           container=container, container_config=step_config)


def _nop_cmd(created_by: str) -> list[str]:
    """The classic builder's ContainerConfig.Cmd of a step that runs nothing, whose history line
    is that list joined: `/bin/sh -c #(nop)  ENV A=1` <- ["/bin/sh", "-c", "#(nop) ", "ENV A=1"],
    `/bin/sh -c #(nop) COPY file:... in / ` <- ["/bin/sh", "-c", "#(nop) COPY file:... in / "]."""
    nop = "/bin/sh -c #(nop) "
    if created_by.startswith(nop + " "):
        return ["/bin/sh", "-c", "#(nop) ", created_by.removeprefix(nop + " ")]
    return ["/bin/sh", "-c", created_by.removeprefix("/bin/sh -c ")]
