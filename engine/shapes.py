"""Engine API payloads that cross module borders, as TypedDicts: built by one domain's service and
read by a router or by another domain, so a key misspelt or a value of the wrong type on either side
is a type error, not a client's surprise. Field names and types are the Engine API v1.45 spec's
(docs/berth-api.md and tests/reliability/data/ hold it); a payload that stays inside one module stays a dict."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class MountPoint(TypedDict):
    """One entry of a container's `Mounts` (inspect and GET /containers/json)."""

    Type: str
    Source: str
    Destination: str
    Mode: str
    RW: bool
    Propagation: str
    Name: NotRequired[str]  # volumes only
    Driver: NotRequired[str]


class EventActor(TypedDict):
    ID: str
    Attributes: dict[str, str]


# One message of GET /events, with the legacy top-level fields (container events only) the docker CLI
# still reads; the functional form because one of them is named `from`.
EventMessage = TypedDict("EventMessage", {
    "Type": str, "Action": str, "Actor": EventActor, "scope": str, "time": int, "timeNano": int,
    "status": NotRequired[str], "id": NotRequired[str], "from": NotRequired[str],
})


class EndpointIPAMConfig(TypedDict, total=False):
    """The addresses a container asked for on a network (only those given)."""

    IPv4Address: str
    IPv6Address: str
    LinkLocalIPs: list[str]


class EndpointSettings(TypedDict):
    """One network of a container's `NetworkSettings.Networks` (inspect and GET /containers/json), built
    by the networks' service and read by the containers' routers."""

    IPAMConfig: EndpointIPAMConfig | None
    Links: list[str] | None
    Aliases: list[str] | None
    MacAddress: str
    DriverOpts: dict[str, str] | None
    NetworkID: str
    EndpointID: str
    Gateway: str
    IPAddress: str
    IPPrefixLen: int
    IPv6Gateway: str
    GlobalIPv6Address: str
    GlobalIPv6PrefixLen: int
    DNSNames: list[str] | None
