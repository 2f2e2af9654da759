"""engine.client: the one async client Berth Desktop, the `berth` CLI and compose use to reach any engine.

No Qt here, and nothing from berthd's server side: it speaks only the Docker Engine API, so the
same code drives berthd, a machine's berthd, dockerd or podman. (Pure modules are shared:
`engine.dockerignore`, Docker's `.dockerignore` matcher, which a build context needs too.)
`EngineClient` is made of one part per resource (`containers.py`, `images.py`, ...) on one request
layer (`base.py`), as docker-py's `APIClient` is.

The names below are loaded on first use (PEP 562): importing aiohttp and aiodocker costs ~200 ms,
which `berth ps` (engine.client.quick) must not pay just for reaching `engine.client.address`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.client.lazy import attribute_loader

if TYPE_CHECKING:
    from engine.client.address import default_engine_url, normalize_url, socket_path
    from engine.client.base import CLIENT_API_VERSION
    from engine.client.buildcontext import BuildContextError
    from engine.client.client import EngineClient
    from engine.client.errors import EngineClientError, EngineUnreachable
    from engine.client.execs import ExecStream
    from engine.client.models import ContainerSummary, PortMapping
    from engine.client.references import ImageReference, parse_reference, split_reference
    from engine.client.stats import PullProgress, StatsSample
    from engine.client.streams import LogChunk, build_output
    from engine.client.system import describe_version

_HOMES = {
    "CLIENT_API_VERSION": "base",
    "BuildContextError": "buildcontext",
    "ContainerSummary": "models",
    "EngineClient": "client",
    "EngineClientError": "errors",
    "EngineUnreachable": "errors",
    "ExecStream": "execs",
    "ImageReference": "references",
    "LogChunk": "streams",
    "PortMapping": "models",
    "PullProgress": "stats",
    "StatsSample": "stats",
    "build_output": "streams",
    "default_engine_url": "address",
    "describe_version": "system",
    "normalize_url": "address",
    "parse_reference": "references",
    "socket_path": "address",
    "split_reference": "references",
}

__all__ = [
    "CLIENT_API_VERSION",
    "BuildContextError",
    "ContainerSummary",
    "EngineClient",
    "EngineClientError",
    "EngineUnreachable",
    "ExecStream",
    "ImageReference",
    "LogChunk",
    "PortMapping",
    "PullProgress",
    "StatsSample",
    "build_output",
    "default_engine_url",
    "describe_version",
    "normalize_url",
    "parse_reference",
    "socket_path",
    "split_reference",
]


__getattr__ = attribute_loader(__name__, _HOMES, globals())
