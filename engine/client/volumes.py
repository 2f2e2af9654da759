"""Volumes: list (by filters), inspect, create, remove; and Berth's own `/berth/v1` browse, export,
import and clone (see docs/berth-api.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from engine.client.base import STREAM_TIMEOUT, EngineBase, Filters, _object, filters_param


class VolumesAPI(EngineBase):
    async def volumes(self, usage: bool = True, *, filters: Filters | None = None) -> list[dict[str, Any]]:
        """Every volume (those `filters` select); with `usage`, berthd adds `UsageData` (Size,
        RefCount), other engines ignore it."""
        params: dict[str, Any] = {"usage": True if usage else None, **filters_param(filters)}
        result = await self._json("GET", "volumes", params=params)
        items = result.get("Volumes") if isinstance(result, dict) else None
        return list(items) if isinstance(items, list) else []

    async def inspect_volume(self, name: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"volumes/{name}"))

    async def create_volume(
        self, name: str = "", driver: str = "local", labels: Mapping[str, str] | None = None, *,
        driver_opts: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"Name": name, "Driver": driver, "Labels": dict(labels or {})}
        if driver_opts:
            body["DriverOpts"] = dict(driver_opts)
        return _object(await self._json("POST", "volumes/create", body=body))

    async def remove_volume(self, name: str, force: bool = False) -> None:
        await self._call("DELETE", f"volumes/{name}", params={"force": force} if force else None)

    # -- Berth's own ---------------------------------------------------------------------------

    async def volume_files(self, name: str, path: str = "/") -> dict[str, Any]:
        """Berth's own: one directory of a volume (`/berth/v1/volumes/{name}/files`)."""
        return _object(
            await self._json("GET", f"berth/v1/volumes/{name}/files", params={"path": path}, versioned=False)
        )

    async def export_volume(self, name: str) -> AsyncIterator[bytes]:
        """Berth's own: the volume's files as a tar stream."""
        async with self._stream("GET", f"berth/v1/volumes/{name}/export", versioned=False) as response:
            async for chunk in self._read(response, "export", 1 << 16):
                yield chunk

    async def import_volume(self, name: str, data: bytes, create: bool = False) -> dict[str, Any]:
        """Berth's own: extract a tar into the volume (created first with `create`)."""
        return _object(
            await self._json(
                "PUT",
                f"berth/v1/volumes/{name}/import",
                params={"create": True} if create else None,
                data=data,
                headers={"Content-Type": "application/x-tar"},
                versioned=False,
                timeout=STREAM_TIMEOUT,  # a big tar takes as long as it takes
            )
        )

    async def clone_volume(self, name: str, new_name: str) -> dict[str, Any]:
        """Berth's own: a new local volume with a copy of `name`'s files."""
        return _object(
            await self._json("POST", f"berth/v1/volumes/{name}/clone", params={"name": new_name}, versioned=False,
                             timeout=STREAM_TIMEOUT)
        )
