"""Where Berth's icons and themes live: `resources/` next to the `app` package."""

from __future__ import annotations

import sys
from pathlib import Path

# A frozen bundle (PyInstaller, packaging/berth.spec) carries resources/ in its own data directory.
_FROZEN_ROOT = getattr(sys, "_MEIPASS", None)
RESOURCES = (
    Path(_FROZEN_ROOT) / "resources" if _FROZEN_ROOT else Path(__file__).resolve().parent.parent / "resources"
)


def icon_path(name: str) -> Path:
    return RESOURCES / "icons" / f"{name}.svg"


def theme_path(name: str) -> Path:
    return RESOURCES / "themes" / f"{name}.json"
