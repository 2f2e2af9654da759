"""The engine client as Berth's own front ends make it (the `berth` CLI, its compose, the desktop).

One difference from a bare `EngineClient`: a create body goes through `vmhost.winpaths.for_engine`,
so a bind of a Windows path (C:\\Users\\me\\app) reaches a Berth WSL machine as the path its distro
sees (/mnt/c/Users/me/app), whichever front end or compose made the container, and any other engine
gets the path as typed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmhost.winpaths import for_engine

if TYPE_CHECKING:
    from engine.client import EngineClient
    from engine.client.tls import TLSFiles


def engine_client(url: str | None = None, tls: TLSFiles | None = None) -> EngineClient:
    # Imported here: the client brings aiohttp (~100 ms), which the desktop's first paint can do without.
    from engine.client import EngineClient

    return EngineClient(url, tls, prepare_create=for_engine)
