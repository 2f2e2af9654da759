"""Light and dark looks from one palette file each (resources/themes/*.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from app.display import Tone
from app.resources import theme_path


@dataclass(frozen=True)
class Theme:
    name: str
    colors: dict[str, str]
    tones: dict[Tone, str]

    @classmethod
    def load(cls, name: str) -> Theme:
        data = json.loads(theme_path(name).read_text())
        return cls(
            name=str(data["name"]),
            colors={str(k): str(v) for k, v in data["palette"].items()},
            tones={Tone(k): str(v) for k, v in data["tones"].items()},
        )

    def color(self, key: str) -> QColor:
        return QColor(self.colors[key])

    def tone_color(self, tone: Tone) -> QColor:
        return QColor(self.tones[tone])

    def palette(self) -> QPalette:
        palette = QPalette()
        roles = {
            QPalette.ColorRole.Window: "window",
            QPalette.ColorRole.WindowText: "window_text",
            QPalette.ColorRole.Base: "base",
            QPalette.ColorRole.AlternateBase: "alternate_base",
            QPalette.ColorRole.Text: "text",
            QPalette.ColorRole.Button: "button",
            QPalette.ColorRole.ButtonText: "button_text",
            QPalette.ColorRole.Highlight: "highlight",
            QPalette.ColorRole.HighlightedText: "highlighted_text",
            QPalette.ColorRole.Link: "link",
            QPalette.ColorRole.PlaceholderText: "muted_text",
            QPalette.ColorRole.ToolTipBase: "base",
            QPalette.ColorRole.ToolTipText: "text",
        }
        for role, key in roles.items():
            palette.setColor(role, self.color(key))
        # An unfocused window keeps the same selection colours: a faded selection reads as "none".
        for role in (QPalette.ColorRole.Highlight, QPalette.ColorRole.HighlightedText):
            palette.setColor(QPalette.ColorGroup.Inactive, role, palette.color(QPalette.ColorGroup.Active, role))
        disabled = QPalette.ColorGroup.Disabled
        for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
            palette.setColor(disabled, role, self.color("muted_text"))
        return palette

    def style_sheet(self) -> str:
        # Only what a palette cannot say: the sidebar's own background and the hint text colour.
        return (
            f"#sidebar {{ background: {self.colors['sidebar']}; "
            f"border-right: 1px solid {self.colors['border']}; }}\n"
            "#sidebar #brand { font-size: 16px; font-weight: 600; padding: 0 8px; }\n"
            "QListWidget#places { background: transparent; }\n"
            "QListWidget#places::item { padding: 5px 8px; border-radius: 4px; }\n"
            f"QListWidget#places::item:selected {{ background: {self.colors['highlight']}; "
            f"color: {self.colors['highlighted_text']}; }}\n"
            f"QLabel[role='hint'] {{ color: {self.colors['muted_text']}; }}\n"
            f"QLabel[role='error'] {{ color: {self.tones[Tone.ERROR]}; }}\n"
        )


def system_theme_name() -> str:
    """ "dark" when the platform asks for a dark look, else "light"."""
    hints = QGuiApplication.styleHints()
    return "dark" if hints.colorScheme() == Qt.ColorScheme.Dark else "light"


def apply_theme(app: QApplication, theme: Theme) -> None:
    # Fusion draws the palette faithfully on every platform, so both themes look the same everywhere.
    app.setStyle("Fusion")
    app.setPalette(theme.palette())
    app.setStyleSheet(theme.style_sheet())
