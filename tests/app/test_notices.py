"""The notification area has a fixed geometry: toasts and the task drawer never resize the window
nor move its content, say a message once and retire it when a later result supersedes it (issue 22)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui

LONG = "layer sha256:" + "0123456789abcdef" * 40 + " could not be extracted because the disk is full"


def test_long_messages_and_many_tasks_never_resize_or_move_the_window(
    qtbot: Any, qapp: Any, fake_engine: FakeEngine, make_window: Any,
) -> None:
    window = make_window(fake_engine.url)
    window.resize(1180, 760)
    qtbot.waitUntil(lambda: window.connection.status.reachable is True)
    qapp.processEvents()
    pages = window.pages.geometry()
    assert window.width() == 1180

    qtbot.wait(300)  # the fake engine has no volumes or networks: their list failures come first
    window.notices.dismiss()
    window.notify("pull failed", LONG)
    for n in range(12):  # a long session: many tasks with long names, done and failed
        job = window.jobs.add(f"pulling registry.example.com/team/{'very-long-name-' * 6}{n}:latest")
        job.output(f"step {n}")
        job.state, job.error = ("failed", LONG) if n % 2 else ("done", "")
        window.jobs.changed(job)
    window.containers_page.show_error("Could not start web: " + LONG)
    qapp.processEvents()
    qtbot.wait(50)

    assert window.width() == 1180
    assert window.pages.geometry() == pages  # nothing pushed the content down
    toast = window.notices
    assert toast.isVisible() and toast.width() == toast.WIDTH
    assert 40 < toast.height() <= toast.MAX_HEIGHT  # wrapped over lines, capped
    assert window.pages.rect().contains(toast.geometry())
    summary = window.task_panel.summary.text()
    assert summary.startswith("tasks: pulling") and summary.endswith("11:latest ✗ failed")
    assert summary.count("pulling") == 1 and LONG not in summary  # one line that never grows

    # The drawer: every task with its result, and the selected one's log.
    qtbot.mouseClick(window.task_panel.toggle, Qt.MouseButton.LeftButton)
    assert window.task_panel.drawer.isVisible()
    window.task_panel.table.selectRow(3)
    assert window.task_panel.log.toPlainText() == f"step 3\nfailed: {LONG}"
    assert window.width() == 1180


def test_a_failure_is_said_once_and_retired_by_a_later_result(
    qtbot: Any, fake_engine: FakeEngine, make_window: Any,
) -> None:
    window = make_window(fake_engine.url)
    page = window.images_page
    window.show_place("images")
    window.images.actionFailed.emit("busybox:latest", "remove", "conflict: image is in use")
    assert page.message.isVisible() and "in use" in page.message.text()
    assert not window.notices.isVisible() and window.notices.notices == []  # in place, not again as a toast

    window.images.actionFinished.emit("busybox:latest", "tag")  # a later success on the page
    assert not page.message.isVisible()

    window.show_place("containers")  # out of view: a toast says it, once
    for _ in range(2):
        window.images.actionFailed.emit("busybox:latest", "push", "denied")
    assert window.notices.isVisible()
    assert window.notices.label.text().count("denied") == 1
    window.images.actionStarted.emit("busybox:latest", "push")  # tried again: the old error goes
    assert not window.notices.isVisible()
