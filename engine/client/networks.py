"""Networks: list (by filters), inspect, create, connect, remove."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.client.base import EngineBase, Filters, _list, _object, filters_param


class NetworksAPI(EngineBase):
    async def networks(self, *, filters: Filters | None = None) -> list[dict[str, Any]]:
        """The `/networks` list; `filters` as the API's (`{"label": ["com.docker.compose.project=x"]}`)."""
        return _list(await self._json("GET", "networks", params=filters_param(filters)))

    async def inspect_network(self, id: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"networks/{id}"))

    async def create_network(
        self,
        name: str,
        driver: str = "bridge",
        *,
        internal: bool = False,
        subnet: str | None = None,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        ipam: Mapping[str, Any] | None = None,
        ipv6: bool = False,
        attachable: bool = False,
    ) -> str:
        """Create a network; returns its id. `ipam` is the API's whole IPAM object (`Driver`,
        `Config`); `subnet` is the short way to ask for one subnet."""
        # CheckDuplicate: engines before API 1.44 would otherwise make a second network of that name.
        body: dict[str, Any] = {"Name": name, "Driver": driver, "Internal": internal, "CheckDuplicate": True}
        if attachable:
            body["Attachable"] = True
        if ipv6:
            body["EnableIPv6"] = True
        if labels:
            body["Labels"] = dict(labels)
        if options:
            body["Options"] = dict(options)
        if ipam:
            body["IPAM"] = dict(ipam)
        elif subnet:
            body["IPAM"] = {"Config": [{"Subnet": subnet}]}
        result = await self._json("POST", "networks/create", body=body)
        return str(result.get("Id", ""))

    async def connect_network(self, id: str, container: str, endpoint: Mapping[str, Any] | None = None) -> None:
        """Join `container` to the network; `endpoint` is its EndpointConfig (aliases, addresses)."""
        body: dict[str, Any] = {"Container": container}
        if endpoint is not None:
            body["EndpointConfig"] = dict(endpoint)
        await self._call("POST", f"networks/{id}/connect", body=body)

    async def remove_network(self, id: str) -> None:
        await self._call("DELETE", f"networks/{id}")
