"""`EngineClient`: the one way Berth talks to an engine (berthd, dockerd, podman): the desktop, the
`berth` CLI and compose alike.

As docker-py's `APIClient`, it is composed of one part per resource, each in its own module, all on
one request layer (`base.EngineBase`: the connection, version negotiation, errors, JSON lines, log
frames). Callers get plain dicts and dataclasses; no aiodocker type leaks out.
"""

from __future__ import annotations

from engine.client.base import CLIENT_API_VERSION as CLIENT_API_VERSION
from engine.client.containers import ContainersAPI
from engine.client.execs import ExecsAPI
from engine.client.images import ImagesAPI
from engine.client.images import build_output as build_output
from engine.client.networks import NetworksAPI
from engine.client.references import split_reference as split_reference  # its old home, still importable
from engine.client.system import SystemAPI
from engine.client.system import describe_version as describe_version
from engine.client.volumes import VolumesAPI


class EngineClient(SystemAPI, ContainersAPI, ExecsAPI, ImagesAPI, VolumesAPI, NetworksAPI):
    """An async client of one engine. Cheap to construct; connects on first use.

    Use it as `async with EngineClient(url) as engine: ...`, or call `close()` when done.
    """
