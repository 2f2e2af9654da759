"""Shown in place of a list when no engine answers: what is wrong, how to fix it, and Retry."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.display import engine_advice, plain_reason
from app.widgets.chrome import set_icon

SETUP_LABELS = {"create": "Set up Berth", "start": "Start Berth's machine", "use": "Use Berth's machine"}
SETUP_PRIMARY_STYLE = ("QPushButton { background: palette(highlight); color: palette(highlighted-text); "
                       "padding: 4px 14px; border-radius: 4px; font-weight: bold; }"
                       "QPushButton:disabled { background: palette(mid); }")


class EngineUnreachablePanel(QWidget):
    """With `enable_first_run` (macOS, Windows), it also offers to set up and start Berth's machine."""

    retryRequested = Signal()
    setupRequested = Signal()
    trustRequested = Signal(str)  # the known_hosts line of the SSH host key the user checked

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
        self.retry = QPushButton("Retry")
        set_icon(self.retry, "retry")
        self.retry.setObjectName("retry-button")
        self.retry.setToolTip("Check again whether the engine answers")
        self.retry.clicked.connect(self.retryRequested)
        self.setup_button = QPushButton("Set up Berth")
        self.setup_button.setObjectName("setup-button")
        self.setup_button.setProperty("role", "primary")
        self.setup_button.setStyleSheet(SETUP_PRIMARY_STYLE)
        self.setup_button.setDefault(True)
        set_icon(self.setup_button, "start", accent=True)
        self.setup_button.setToolTip("Create (if needed) and start the Linux machine that runs Berth's engine")
        self.setup_button.clicked.connect(self._on_setup_clicked)
        self.setup_button.hide()
        self.trust_button = QPushButton("Trust this host key and connect")
        self.trust_button.setObjectName("trust-host-key")
        set_icon(self.trust_button, "key")
        self.trust_button.setToolTip("Only after checking the fingerprint with the host's owner: it is kept in "
                                     "Berth's known_hosts and later connections accept this key only")
        self._host_key = ""
        self.trust_button.clicked.connect(lambda: self.trustRequested.emit(self._host_key))
        self.trust_button.hide()
        self.progress = QLabel()
        self.progress.setObjectName("setup-progress")
        self.progress.setWordWrap(True)
        self.progress.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress.hide()
        self.error = QLabel()
        self.error.setObjectName("setup-error")
        self.error.setWordWrap(True)
        self.error.setProperty("role", "error")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        self.first_run = False
        self.setup_running = False
        self._offer = ""
        row = QHBoxLayout()
        row.addWidget(self.setup_button)
        row.addWidget(self.trust_button)
        row.addWidget(self.retry)
        row.addStretch(1)
        layout.addStretch(1)
        layout.addWidget(self.title)
        layout.addWidget(self.detail)
        layout.addWidget(self.progress)
        layout.addWidget(self.error)
        layout.addLayout(row)
        layout.addStretch(2)

    def offer_trust(self, key_line: str) -> None:
        """An SSH engine showed a host key nobody trusts yet: offer to trust it (or hide the offer)."""
        self._host_key = key_line
        self.trust_button.setVisible(bool(key_line))

    def show_unreachable(self, url: str, reason: str) -> None:
        self.title.setText(f"<h3>Cannot reach the engine at {html.escape(url)}</h3>")
        if self.first_run:
            self.detail.setText(
                f"{html.escape(reason[:1].upper() + reason[1:])}.<br>On this system Berth's engine runs in a small "
                "Linux machine. Set it up once and Berth starts it for you; or point Berth at another engine "
                "with <code>--host</code> or <code>BERTH_HOST</code>."
            )
            return
        # The next step depends on whose socket it is (and whether it exists at all).
        exists = Path(url.removeprefix("unix://")).exists() if url.startswith("unix://") else None
        advice = html.escape(engine_advice(url, exists))
        reason = plain_reason(reason)
        self.detail.setText(
            f"{html.escape(reason[:1].upper() + reason[1:])}.<br>{advice} Berth tries again every few seconds."
        )

    # -- first run -------------------------------------------------------------------------------

    def enable_first_run(self) -> None:
        self.first_run = True

    def offer_setup(self, offer: str) -> None:
        """What set-up would do now: "create", "start" or "use" (see `MachineService.check_setup`)."""
        if not self.first_run or self.setup_running or offer not in SETUP_LABELS:
            return
        self._offer = offer
        if not self.error.isVisible():
            self.setup_button.setText(SETUP_LABELS[offer])
        self.setup_button.setEnabled(True)
        self.setup_button.show()

    def _on_setup_clicked(self) -> None:
        self.setup_running = True
        self.setup_button.setEnabled(False)
        self.setup_button.setText("Setting up…")
        self.retry.setEnabled(False)
        self.error.hide()
        self.progress.setText("Setting up…")
        self.progress.show()
        self.setupRequested.emit()

    def show_setup_progress(self, text: str) -> None:
        if self.first_run:
            self.progress.setText(text)
            self.progress.show()

    def show_setup_failed(self, message: str) -> None:
        if not self.first_run:
            return
        self.setup_running = False
        self.progress.hide()
        self.error.setText(f"Could not set up Berth's machine: {message}")
        self.error.show()
        self.setup_button.setText("Retry")
        self.setup_button.setEnabled(True)
        self.setup_button.show()
        self.retry.setEnabled(True)
        self.retry.hide()  # the set-up's Retry stands in for it

    def setup_finished(self) -> None:
        self.setup_running = False
        self.error.hide()
        self.setup_button.setEnabled(True)
        self.setup_button.setText(SETUP_LABELS["use"])
        self.retry.setEnabled(True)
        self.retry.show()

    @property
    def message(self) -> str:
        return f"{self.title.text()} {self.detail.text()}"
