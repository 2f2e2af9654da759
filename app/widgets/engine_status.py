"""The status bar's engine indicator: which engine, and whether it answers (a word and a colour)."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QLabel, QWidget

from app.display import Tone
from app.services.engine import EngineStatus


class EngineStatusLabel(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("engine-status")
        self.setAccessibleName("Engine status")
        self._tones: dict[Tone, str] = {Tone.OK: "#1a7f37", Tone.ERROR: "#cf222e", Tone.PENDING: "#0969da"}
        self._status: EngineStatus | None = None

    def set_tones(self, tones: dict[Tone, str]) -> None:
        self._tones = dict(tones)
        if self._status is not None:
            self.set_status(self._status)

    def set_status(self, status: EngineStatus) -> None:
        self._status = status
        url = html.escape(status.url)
        if status.reachable is None:
            tone, text = Tone.PENDING, f"connecting to {url}"
        elif status.reachable:
            events = " · no live updates (refreshing after actions)" if status.events is False else ""
            tone, text = Tone.OK, f"{html.escape(status.description)} at {url} · answers{events}"
        else:
            tone, text = Tone.ERROR, f"no engine at {url} · not answering"
        self.setText(f"<span style='color:{self._tones.get(tone, '#888')}'>●</span> engine: {text}")
        self.setToolTip(status.reason or status.url)
        self.setAccessibleDescription(self.plain_text)  # the words, without the coloured dot's markup

    @property
    def plain_text(self) -> str:
        from PySide6.QtGui import QTextDocumentFragment

        return QTextDocumentFragment.fromHtml(self.text()).toPlainText()
