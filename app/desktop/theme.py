"""Light, dark and high-contrast looks from one palette file each (resources/themes/*.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from app.display import Tone
from app.resources import set_icon_colors, theme_path

THEMES = ("light", "dark", "high-contrast")  # the files in resources/themes, as Settings offers them


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
        """What a palette cannot say: the sidebar's own background, hint and error text, and the one
        toolbar button look (the page's primary action in the accent colour, a focus ring that shows)."""
        c = self.colors
        focus = c.get("focus", c["highlight"])
        return (
            f"#sidebar {{ background: {c['sidebar']}; border-right: 1px solid {c['border']}; }}\n"
            "#sidebar #brand { font-size: 16px; font-weight: 600; padding: 0 8px; }\n"
            "QListWidget#places { background: transparent; }\n"
            "QListWidget#places::item { padding: 4px 8px; border-radius: 4px; }\n"
            f"QListWidget#places::item:selected {{ background: {c['highlight']}; "
            f"color: {c['highlighted_text']}; }}\n"
            f"QLabel[role='hint'] {{ color: {c['muted_text']}; }}\n"
            f"QLabel[role='error'] {{ color: {self.tones[Tone.ERROR]}; }}\n"
            f"QPushButton[berthToolbar='true'] {{ background: {c['button']}; color: {c['button_text']}; "
            f"border: 1px solid {c['border']}; border-radius: 4px; padding: 3px 10px; min-height: 20px; }}\n"
            f"QPushButton[berthToolbar='true']:hover {{ border-color: {focus}; }}\n"
            f"QPushButton[berthToolbar='true']:pressed {{ background: {c['alternate_base']}; }}\n"
            f"QPushButton[berthToolbar='true']:disabled {{ color: {c['muted_text']}; "
            f"border-color: {c['button']}; }}\n"
            f"QPushButton[berthToolbar='true'][primary='true'] {{ background: {c['highlight']}; "
            f"color: {c['highlighted_text']}; border-color: {c['highlight']}; font-weight: 600; }}\n"
            f"QPushButton[berthToolbar='true']:focus, QPushButton[rowAction='true']:focus {{ "
            f"border: 2px solid {focus}; padding: 2px 9px; }}\n"
            f"QPushButton[rowAction='true'] {{ background: {c['button']}; border: 1px solid {c['border']}; "
            "border-radius: 4px; padding: 0; }\n"
            f"QPushButton[rowAction='true']:hover {{ border-color: {focus}; }}\n"
            # Fusion draws a radio's ring a shade darker than the window: invisible on a dark one.
            f"QRadioButton::indicator {{ width: 12px; height: 12px; border-radius: 7px; "
            f"border: 1px solid {c['muted_text']}; background: {c['base']}; }}\n"
            f"QRadioButton::indicator:checked {{ border: 4px solid {c['highlight']}; width: 6px; height: 6px; "
            f"background: {c['highlighted_text']}; }}\n"
            f"QRadioButton::indicator:focus {{ border-color: {focus}; }}\n"
        )

    def icon_colors(self) -> tuple[str, str]:
        """Icons in the text's colour, and on an accent (primary, selected) background in its text's."""
        return self.colors["text"], self.colors["highlighted_text"]


def system_theme_name() -> str:
    """ "dark" when the platform asks for a dark look, else "light"."""
    hints = QGuiApplication.styleHints()
    return "dark" if hints.colorScheme() == Qt.ColorScheme.Dark else "light"


def apply_theme(app: QApplication, theme: Theme) -> None:
    # Fusion draws the palette faithfully on every platform, so both themes look the same everywhere.
    # Each step re-polishes every widget: skipped when it would change nothing (a theme applied
    # before the window was made, then again by the window).
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    palette = theme.palette()
    if app.palette() != palette:
        app.setPalette(palette)
    sheet = theme.style_sheet()
    if app.styleSheet() != sheet:
        app.setStyleSheet(sheet)
    set_icon_colors(*theme.icon_colors())
