"""stub"""

from __future__ import annotations

from engine.api.app import Routes


def register(routes: Routes) -> None:
    return None
