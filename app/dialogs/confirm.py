"""Confirmations that open without blocking: `open()` plus a callback, never `exec()`.

A nested `exec()` would re-enter the Qt loop inside whatever called it — inside a coroutine that
means asyncio tasks stepping inside another task's step — so every question is asked this way.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from app.widgets.chrome import set_icon


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
    set_icon(remove, "remove")
    set_icon(box.addButton(QMessageBox.StandardButton.Cancel), "close")
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)

    def finished() -> None:
        if box.clickedButton() is remove:
            on_confirmed()
        box.deleteLater()

    box.finished.connect(finished)
    box.open()
    return box


def ask_to_lose_data(parent: QWidget, title: str, text: str, details: str, action: str,
                     on_confirmed: Callable[[], None]) -> QMessageBox:
    """Ask before an action that deletes data for good, saying what goes; returns the open box.

    The destructive button is the default: Enter confirms at once for people who know, Escape
    (or Cancel) keeps everything.
    """
    box = QMessageBox(parent)
    box.setObjectName("confirm-lose-data")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(text)
    box.setInformativeText(details)
    remove = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    set_icon(remove, "remove")
    set_icon(cancel, "close")
    box.setDefaultButton(remove)
    box.setEscapeButton(cancel)

    def finished() -> None:
        if box.clickedButton() is remove:
            on_confirmed()
        box.deleteLater()

    box.finished.connect(finished)
    box.open()
    remove.setFocus()
    return box


def volume_loss(name: str, size: int, users: Sequence[str], entries: Sequence[str] | None = None) -> tuple[str, str]:
    """The question and details for removing volume `name` (`size` bytes, -1 unknown; `entries`
    its top folder's names when known)."""
    from app.display import human_size

    held = f"holds {human_size(size)} of files" if size >= 0 else "may hold files (its size is unknown)"
    if entries:
        count = len(entries)
        held = (f"holds {count} item{'s' if count != 1 else ''} ({_listed(entries)})"
                + (f", {human_size(size)}" if size >= 0 else ""))
    text = f"Volume <b>{html.escape(name)}</b> {held}."
    details = "Removing deletes them for good (docker volume rm); export it first to keep a copy."
    if users:
        details += (f" Mounted by {_listed(users)}: the engine refuses while "
                    f"{'that container exists' if len(users) == 1 else 'those containers exist'}.")
    return text, details


def image_loss(name: str, size: int, other_names: Sequence[str], users: Sequence[str]) -> tuple[str, str]:
    """The question and details for removing image name `name`."""
    from app.display import human_size

    text = f"Remove image <b>{html.escape(name)}</b> ({human_size(size)})?"
    if other_names:
        details = f"Only this name goes; the image stays as {_listed(other_names)} (docker rmi)."
    else:
        details = "Its layers are deleted (docker rmi); pulling or building it again brings it back."
    if users:
        count = len(users)
        details += (f" Used by {count} container{'s' if count != 1 else ''}: {_listed(users)} — "
                    "the engine refuses while they exist; remove them first.")
    return text, details


def _listed(names: Sequence[str]) -> str:
    return ", ".join(html.escape(n) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
