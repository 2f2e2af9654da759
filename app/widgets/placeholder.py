"""A page that is not built yet: says what it will be for and what to do meanwhile."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class ComingSoonPage(QWidget):
    def __init__(self, title: str, purpose: str, first_step: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(8)
        heading = QLabel(f"<h2>{title}</h2>")
        body = QLabel(f"{purpose}<br><br><b>Coming soon.</b> Meanwhile: {first_step}")
        body.setWordWrap(True)
        body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        body.setProperty("role", "hint")
        layout.addWidget(heading)
        layout.addWidget(body)
        layout.addStretch(1)
