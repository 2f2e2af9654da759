"""Names a package loads on first use (PEP 562): the client side's packages list where each public
name lives, so importing the package costs nothing until a name is asked for (engine.client's
would bring aiohttp, engine.compose's the YAML loader and the schema validator)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def attribute_loader(package: str, homes: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """The package's module-level `__getattr__`: `homes` maps a name to its module in the package."""

    def load(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value  # once loaded, a plain attribute
        return value

    return load
