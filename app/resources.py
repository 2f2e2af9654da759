"""Where Berth's icons and themes live: `resources/` next to the `app` package."""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def icon_path(name: str) -> Path:
    return RESOURCES / "icons" / f"{name}.svg"


def theme_path(name: str) -> Path:
    return RESOURCES / "themes" / f"{name}.json"
