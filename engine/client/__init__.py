"""engine.client: the async client Berth Desktop and the `berth` CLI use to reach any engine.

No Qt here, and nothing from berthd's server side: it speaks only the Docker Engine API, so the
same code drives berthd, a machine's berthd, dockerd or podman. (One pure module is shared:
`engine.dockerignore`, Docker's `.dockerignore` matcher, which a build context needs too.)
"""

from __future__ import annotations

from engine.client.address import default_engine_url, normalize_url, socket_path
from engine.client.buildcontext import BuildContextError
from engine.client.client import CLIENT_API_VERSION, EngineClient, build_output, describe_version, split_reference
from engine.client.errors import EngineClientError, EngineUnreachable
from engine.client.execs import ExecStream
from engine.client.stats import PullProgress, StatsSample
from engine.client.streams import LogChunk

__all__ = [
    "CLIENT_API_VERSION",
    "BuildContextError",
    "EngineClient",
    "EngineClientError",
    "EngineUnreachable",
    "ExecStream",
    "LogChunk",
    "PullProgress",
    "StatsSample",
    "build_output",
    "default_engine_url",
    "describe_version",
    "normalize_url",
    "socket_path",
    "split_reference",
]
