"""Where Berth's icons and themes live: `resources/` next to the `app` package, and the icons as the
current theme draws them."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

# A frozen bundle (PyInstaller, packaging/berth.spec) carries resources/ in its own data directory.
_FROZEN_ROOT = getattr(sys, "_MEIPASS", None)
RESOURCES = (
    Path(_FROZEN_ROOT) / "resources" if _FROZEN_ROOT else Path(__file__).resolve().parent.parent / "resources"
)


def icon_path(name: str) -> Path:
    return RESOURCES / "icons" / f"{name}.svg"


def theme_path(name: str) -> Path:
    return RESOURCES / "themes" / f"{name}.json"


# One icon set for every theme: the SVGs draw in `currentColor`, replaced at load by the colour of
# the text they sit beside (the theme's text, or the text on an accent-coloured button), so an icon
# is as visible as its label in light, dark and high contrast alike.
_colors = {"text": "#1c2024", "accent_text": "#ffffff"}
_cache: dict[tuple[str, str], QIcon] = {}
_SIZES = (16, 24, 32)  # 16 px at 1x; the larger ones keep it sharp on high-density screens


def set_icon_colors(text: str, accent_text: str) -> None:
    """The theme's colours for icons from now on (icons already made keep theirs until re-made)."""
    _colors["text"], _colors["accent_text"] = text, accent_text


def icon_color(accent: bool = False) -> str:
    return _colors["accent_text" if accent else "text"]


def themed_icon(name: str, accent: bool = False, color: str = "") -> QIcon:
    """The icon `name` drawn in the current theme's text colour (or `color`); an empty icon for a
    name the set lacks."""
    fill = color or icon_color(accent)
    key = (name, f"{fill}/{icon_color(accent=True)}" if not accent and not color else fill)
    icon = _cache.get(key)
    if icon is not None:
        return icon
    path = icon_path(name)
    icon = QIcon()
    if path.exists():
        svg = path.read_text()
        _draw(icon, svg, fill, QIcon.Mode.Normal)
        if not accent and not color:
            # On a selected row or place the text turns to the selection's colour: the icon too.
            _draw(icon, svg, icon_color(accent=True), QIcon.Mode.Selected)
    _cache[key] = icon
    return icon


def _draw(icon: QIcon, svg: str, fill: str, mode: QIcon.Mode) -> None:
    renderer = QSvgRenderer(QByteArray(svg.replace("currentColor", fill).encode()))
    for size in _SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        icon.addPixmap(pixmap, mode)
