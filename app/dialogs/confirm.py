"""Confirmations that open without blocking: `open()` plus a callback, never `exec()`.

A nested `exec()` would re-enter the Qt loop inside whatever called it — inside a coroutine that
means asyncio tasks stepping inside another task's step — so every question is asked this way.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_to_remove_running(parent: QWidget, names: Sequence[str], on_confirmed: Callable[[], None]) -> QMessageBox:
    """Ask before removing running containers (their processes are killed); returns the open box."""
    box = QMessageBox(parent)
    box.setObjectName("confirm-remove")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Remove running containers?")
    listed = ", ".join(html.escape(name) for name in names[:5]) + (" …" if len(names) > 5 else "")
    box.setText(f"<b>{listed}</b> {'is' if len(names) == 1 else 'are'} running.")
    box.setInformativeText(
        "Removing stops the processes and deletes the container with its writable layer "
        "(docker rm --force). Volumes are kept."
    )
    remove = box.addButton("Stop and remove", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)

    def finished() -> None:
        if box.clickedButton() is remove:
            on_confirmed()
        box.deleteLater()

    box.finished.connect(finished)
    box.open()
    return box
