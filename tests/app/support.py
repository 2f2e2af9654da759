"""Helpers shared by the desktop tests."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from app.desktop.window import MainWindow
from app.models.containers import Column

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"


def run_in_loop(qtbot: Any, coro: Any, timeout: int = 10_000) -> Any:
    """Run a coroutine to completion on the Qt-hosted loop, processing Qt events meanwhile."""
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=timeout)
    return task.result()


def remove_and_close(run_async: Any, engine: Any, *ids: str) -> None:
    """A test's containers removed (those already gone too) and its engine client closed."""
    from engine.client import EngineClientError

    async def clean() -> None:
        for id in ids:
            with contextlib.suppress(EngineClientError):
                await engine.remove(id, force=True)
        await engine.close()

    run_async(clean(), timeout=30_000)


def state_text(window: MainWindow, name: str) -> str | None:
    """The State cell of the row named `name`, as the table shows it (None: no such row)."""
    model = window.containers_model
    for row in range(model.rowCount()):
        if model.data(model.index(row, Column.NAME)) == name:
            return str(model.data(model.index(row, Column.STATE)))
    return None


def save_screenshot(window: MainWindow, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    assert window.grab().save(str(path)), f"could not save {path}"
    return path


def answer_file_dialog(qtbot: Any, window: MainWindow, path: Path, *, folder: bool = False) -> None:
    """The page opens its QFileDialog with open(), never exec(): pick `path` in it as a person would,
    accept it, and check it went away (it deletes itself on close). `folder`: a directory dialog."""
    from PySide6.QtWidgets import QFileDialog

    dialogs: list[QFileDialog] = []

    def one_open() -> bool:
        dialogs[:] = [d for d in window.findChildren(QFileDialog) if d.isVisible()]
        return len(dialogs) == 1

    qtbot.waitUntil(one_open)
    dialog = dialogs[0]
    if folder:
        assert dialog.fileMode() == QFileDialog.FileMode.Directory
    dialog.selectFile(str(path))
    dialog.accept()
    assert not dialog.isVisible()
