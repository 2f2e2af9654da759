"""The volume service: the rules behind /volumes (list and prune filters, create's checks, remove,
prune, disk usage) and the only publisher of volume events. engine/volumes/mounts.py mounts
volumes into containers; engine/volumes/store.py keeps them."""

from __future__ import annotations

import builtins
from typing import Any

from engine.errors import InvalidArgument, NotFound
from engine.events import EventBus
from engine.filters import Filters
from engine.labels import labels_match
from engine.volumes.store import Volume, VolumeStore

# What dockerd accepts (moby's daemon/volumes.go and volume/service).
LIST_FILTERS = {"dangling", "driver", "label", "name"}
PRUNE_FILTERS = {"label", "label!", "all"}


class VolumeService:
    def __init__(self, store: VolumeStore, events: EventBus) -> None:
        self.store = store
        self.events = events

    def list(self, flt: Filters, usage: bool = False) -> list[dict[str, Any]]:
        flt.validate(LIST_FILTERS)
        dangling = flt.boolean("dangling")
        out = []
        for vol in self.store.all():
            if "name" in flt and not any(n in vol.name for n in flt.get("name")):
                continue
            if "driver" in flt and vol.driver not in flt.get("driver"):
                continue
            if dangling is not None and dangling != (not self.store.users(vol.name)):
                continue
            if not labels_match(vol.labels, flt.get("label")):
                continue
            out.append(vol.to_api(self.store.usage(vol) if usage else None))
        return out

    def create(self, body: object) -> Volume:
        """POST /volumes/create's VolumeCreateOptions; an existing name answers that volume."""
        if not isinstance(body, dict):
            raise InvalidArgument("the request body must be a JSON object (VolumeCreateOptions)")
        for key, kind in (("Name", str), ("Driver", str), ("DriverOpts", dict), ("Labels", dict)):
            if body.get(key) is not None and not isinstance(body[key], kind):
                raise InvalidArgument(f"{key} must be a {'string' if kind is str else 'JSON object'}")
        name = body.get("Name") or None
        existed = isinstance(name, str) and self.exists(name)
        vol = self.store.create(name, labels=body.get("Labels"), options=body.get("DriverOpts"),
                                driver=body.get("Driver"))
        if not existed:
            self.created(vol)
        return vol

    def exists(self, name: str) -> bool:
        try:
            self.store.get(name)
        except NotFound:
            return False
        return True

    def inspect(self, name: str, usage: bool = False) -> dict[str, Any]:
        vol = self.store.get(name)
        return vol.to_api(self.store.usage(vol) if usage else None)

    def remove(self, name: str, force: bool = False) -> None:
        """As dockerd: with force, a volume that does not exist is no error."""
        try:
            self.store.remove(name, force=force)
        except NotFound:
            if force:
                return
            raise
        self.destroyed(name)

    def prune(self, flt: Filters) -> tuple[builtins.list[str], int]:
        """Unused volumes: anonymous ones only unless all=true (API 1.42's rule)."""
        flt.validate(PRUNE_FILTERS)
        removed, reclaimed = self.store.prune(all_volumes=bool(flt.boolean("all")), labels=flt.labels())
        for name in removed:
            self.destroyed(name)
        return removed, reclaimed

    def disk_usage(self) -> builtins.list[dict[str, Any]]:
        """The Volumes part of GET /system/df: every volume with its size and users."""
        return [vol.to_api(self.store.usage(vol)) for vol in self.store.all()]

    # ---- events: published here only ------------------------------------------------------

    def created(self, vol: Volume) -> None:
        self.events.publish("volume", "create", vol.name, {"driver": vol.driver})

    def destroyed(self, name: str, driver: str = "local") -> None:
        self.events.publish("volume", "destroy", name, {"driver": driver})

    def mounted(self, vol: Volume, attributes: dict[str, str]) -> None:
        self.events.publish("volume", "mount", vol.name, attributes)

    def unmounted(self, vol: Volume, container_id: str) -> None:
        self.events.publish("volume", "unmount", vol.name, {"container": container_id, "driver": "local"})
