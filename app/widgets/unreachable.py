"""Shown in place of a list when no engine answers: what is wrong, how to fix it, and Retry."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.resources import icon_path


class EngineUnreachablePanel(QWidget):
    retryRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("engine-unreachable")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(8)
        self.title = QLabel()
        self.title.setObjectName("unreachable-title")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setProperty("role", "hint")
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry = QPushButton(QIcon(str(icon_path("retry"))), "Retry")
        self.retry.setObjectName("retry-button")
        self.retry.setToolTip("Check again whether the engine answers")
        self.retry.clicked.connect(self.retryRequested)
        row = QHBoxLayout()
        row.addWidget(self.retry)
        row.addStretch(1)
        layout.addStretch(1)
        layout.addWidget(self.title)
        layout.addWidget(self.detail)
        layout.addLayout(row)
        layout.addStretch(2)

    def show_unreachable(self, url: str, reason: str) -> None:
        self.title.setText(f"<h3>Cannot reach the engine at {html.escape(url)}</h3>")
        self.detail.setText(
            f"{html.escape(reason[:1].upper() + reason[1:])}.<br>Is berthd running? Start it with "
            "<code>berthd</code>, or point Berth at another engine with <code>--host</code> "
            "or <code>BERTH_HOST</code>. Berth tries again every few seconds."
        )

    @property
    def message(self) -> str:
        return f"{self.title.text()} {self.detail.text()}"
