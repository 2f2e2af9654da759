"""Where Berth's icons and themes live: `resources/` next to the `app` package, and the icons as the
current theme draws them."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QIconEngine, QPainter, QPixmap
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


# One icon set for every theme: the SVGs draw in `currentColor`, replaced by the colour of the text
# they sit beside (the theme's text, or the text on an accent-coloured button), so an icon is as
# visible as its label in light, dark and high contrast alike. Drawn lazily: an icon is an engine
# holding its SVG's path and colours, which renders a size and mode the first time Qt asks for it
# and keeps that pixmap (rendering every icon at every size at start cost ~100 ms and ~5 MB).
_colors = {"text": "#1c2024", "accent_text": "#ffffff"}
_cache: dict[tuple[str, str], QIcon] = {}


def set_icon_colors(text: str, accent_text: str) -> None:
    """The theme's colours for icons from now on (icons already made keep theirs until re-made)."""
    _colors["text"], _colors["accent_text"] = text, accent_text


def icon_color(accent: bool = False) -> str:
    return _colors["accent_text" if accent else "text"]


def themed_icon(name: str, accent: bool = False, color: str = "") -> QIcon:
    """The icon `name` drawn in the current theme's text colour (or `color`); an empty icon for a
    name the set lacks."""
    fill = color or icon_color(accent)
    # On a selected row or place the text turns to the selection's colour: the icon too.
    selected = icon_color(accent=True) if not accent and not color else ""
    key = (name, f"{fill}/{selected}" if selected else fill)
    icon = _cache.get(key)
    if icon is not None:
        return icon
    path = icon_path(name)
    icon = QIcon(SvgIconEngine(path, fill, selected)) if path.exists() else QIcon()
    _cache[key] = icon
    return icon


class SvgIconEngine(QIconEngine):
    """One of Berth's SVG icons in given colours: rendered on demand, each size and mode once."""

    def __init__(self, path: Path, fill: str, selected: str = "") -> None:
        super().__init__()
        self.path, self.fill, self.selected = path, fill, selected
        self._renderers: dict[str, QSvgRenderer] = {}
        self._pixmaps: dict[tuple[int, int, int, float], QPixmap] = {}

    def _renderer(self, mode: QIcon.Mode) -> QSvgRenderer:
        color = self.selected if mode == QIcon.Mode.Selected and self.selected else self.fill
        renderer = self._renderers.get(color)
        if renderer is None:
            svg = self.path.read_text().replace("currentColor", color)
            renderer = self._renderers[color] = QSvgRenderer(QByteArray(svg.encode()))
        return renderer

    def clone(self) -> QIconEngine:
        return SvgIconEngine(self.path, self.fill, self.selected)

    def key(self) -> str:
        return "berth-svg"

    def actualSize(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QSize:
        side = min(size.width(), size.height())  # the icons are square
        return QSize(side, side)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        scale = painter.device().devicePixelRatioF() if painter.device() is not None else 1.0
        painter.drawPixmap(rect, self.scaledPixmap(rect.size(), mode, state, scale))

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        return self.scaledPixmap(size, mode, state, 1.0)

    def scaledPixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float) -> QPixmap:
        size = self.actualSize(size, mode, state)
        key = (size.width(), size.height(), int(mode.value), scale)
        cached = self._pixmaps.get(key)
        if cached is not None:
            return cached
        if mode == QIcon.Mode.Disabled:
            # Greyed out as the style greys any icon: from the normal pixmap.
            from PySide6.QtWidgets import QApplication, QStyleOption

            normal = self.scaledPixmap(size, QIcon.Mode.Normal, state, scale)
            style = QApplication.style() if QApplication.instance() is not None else None
            pixmap = style.generatedIconPixmap(mode, normal, QStyleOption()) if style is not None else normal
        else:
            pixmap = QPixmap(max(1, round(size.width() * scale)), max(1, round(size.height() * scale)))
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            self._renderer(mode).render(painter, QRectF(0, 0, pixmap.width(), pixmap.height()))
            painter.end()
            pixmap.setDevicePixelRatio(scale)
        self._pixmaps[key] = pixmap
        return pixmap
