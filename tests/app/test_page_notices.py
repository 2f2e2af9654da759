"""The controllers' shared `Notices` (issue 21): an engine's message in plain words with container names
for ids, a failure said on its page and as a toast only when that page is out of view, a later result
retiring both, a notice's click doing what it points to."""

from __future__ import annotations

import time
from typing import Any

import pytest
from PySide6.QtWidgets import QLabel, QStackedWidget, QWidget

from app.models.containers import ContainersModel
from app.widgets.chrome import NoticeBar
from app.widgets.notices import Notices

pytestmark = pytest.mark.gui


class Page(QWidget):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.message = QLabel(self)
        self.message.setProperty("role", "error")
        self.said: list[str] = []

    def show_error(self, text: str) -> None:
        self.said.append(text)
        self.message.setText(text)
        self.message.show()

    def clear_message(self) -> None:
        self.message.clear()
        self.message.hide()


def make(qtbot: Any) -> tuple[Notices, NoticeBar, Page, Page]:
    window = QWidget()
    qtbot.addWidget(window)
    pages = QStackedWidget(window)
    shown, hidden = Page("images-page"), Page("volumes-page")
    pages.addWidget(shown)
    pages.addWidget(hidden)
    window.show()
    model = ContainersModel(window)
    model.set_containers([{"Id": "ab" * 32, "Names": ["/web"], "State": "running", "Status": "Up",
                           "Created": int(time.time())}])
    bar = NoticeBar(pages)
    return Notices(bar, pages, window, model, None), bar, shown, hidden


def test_failures_are_said_in_place_and_as_a_toast_only_out_of_view(qtbot: Any) -> None:
    notices, bar, shown, hidden = make(qtbot)
    assert notices.readable(f"conflict: unable to remove, used by container {'ab' * 6}") == (
        "conflict: unable to remove, used by container web")
    notices.failed(shown, "busybox", "remove", "image is in use by a container")
    assert shown.said == ["Could not remove busybox: image is in use by a container — stop and remove the "
                          "containers that use it first."]
    assert bar.notices == []  # its page is in view: said once, there
    notices.failed(hidden, "data", "remove", "volume is in use")
    assert hidden.said and bar.notices == [f"remove failed: {hidden.said[0]}"] and bar.isVisible()
    notices.superseded(hidden, "data", "remove")  # a later attempt
    assert not hidden.message.isVisible() and not bar.isVisible()


def test_a_notices_click_does_what_it_points_to(qtbot: Any) -> None:
    notices, bar, _, _ = make(qtbot)
    opened: list[str] = []
    notices.notify("Restart loop", "web restarted 5 times", "loop:web", lambda: opened.append("web"))
    bar.activated.emit("loop:web")
    assert opened == ["web"] and not bar.isVisible()
    bar.activated.emit("loop:web")  # once only
    assert opened == ["web"]
