"""The engine client as Berth's own front ends make it (the `berth` CLI, its compose, the desktop).

One difference from a bare `EngineClient`: a create body goes through `vmhost.winpaths.for_engine`,
so a bind of a Windows path (C:\\Users\\me\\app) reaches a Berth WSL machine as the path its distro
sees (/mnt/c/Users/me/app), whichever front end or compose made the container, and any other engine
gets the path as typed.
"""

from __future__ import annotations

from engine.client import EngineClient
from engine.client.tls import TLSFiles
from vmhost.winpaths import for_engine


def engine_client(url: str | None = None, tls: TLSFiles | None = None) -> EngineClient:
    return EngineClient(url, tls, prepare_create=for_engine)
