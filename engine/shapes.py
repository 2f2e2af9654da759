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
