"""Where the pages' controllers say what happened: a failure in place on its page (a toast too when
that page is not in view), an engine's message in plain words, notices that open what they point to.
One instance per window, shared by every controller; it also keeps the question last asked before
data would be lost."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QMessageBox, QStackedWidget, QSystemTrayIcon, QWidget

from app.display import container_name, plain_reason
from app.models.containers import ContainersModel
from app.widgets.chrome import NoticeBar


class MessagePage(Protocol):
    """A page that says an error in place (its `message` label) and clears it."""

    message: QLabel

    def objectName(self) -> str: ...
    def show_error(self, text: str) -> None: ...
    def clear_message(self) -> None: ...


class Notices(QObject):
    def __init__(self, bar: NoticeBar, pages: QStackedWidget, window: QWidget, containers: ContainersModel,
                 tray: QSystemTrayIcon | None) -> None:
        super().__init__(window)
        self.bar = bar
        self.pages = pages
        self.window = window
        self.containers = containers
        self.tray = tray
        self.actions: dict[str, Callable[[], None]] = {}  # a notice's key -> what clicking it does
        self.confirmation: QMessageBox | None = None  # the question last asked (open, never exec)
        bar.activated.connect(self._on_clicked)

    def asked(self, box: QMessageBox) -> None:
        self.confirmation = box

    def notify(self, title: str, message: str, key: str = "", action: Callable[[], None] | None = None) -> None:
        """`action`: what clicking the notice does (a detector's finding opens the container then)."""
        self.bar.notify(title, message, key)
        if action is not None:
            self.actions[key or f"{title}: {message}"] = action
        if self.tray is not None and not self.window.isActiveWindow():
            self.tray.showMessage(title, message, QSystemTrayIcon.MessageIcon.Warning, 8000)

    def _on_clicked(self, key: str) -> None:
        action = self.actions.pop(key, None)
        if action is not None:
            self.bar.retire(key)  # it has been read: what it pointed to is in view
            action()

    def say_failure(self, page: MessagePage, key: str, title: str, text: str) -> None:
        """A failure is said once: in place on its page, and as a toast only when that page is not
        the one in view (the task drawer keeps a job's error; the tasks line does not repeat it)."""
        page.show_error(text)
        current: object = self.pages.currentWidget()
        if current is not page:
            self.notify(title, text, key)

    def superseded(self, page: MessagePage, target: str, action: str) -> None:
        """A later attempt or result on a page retires that page's older error and its toast."""
        if page.message.isVisible() and page.message.property("role") == "error":
            page.clear_message()
        self.bar.retire(f"{page.objectName()}:{action}:{target}")

    def readable(self, message: str) -> str:
        """An engine's message as people read it: plain words, container names for their ids."""
        message = plain_reason(message)
        for id in re.findall(r"\b[0-9a-f]{12,64}\b", message):
            item = self.containers.container(id)
            if item is not None:
                message = message.replace(id, container_name(item))
        return message

    def failed(self, page: MessagePage, target: str, action: str, message: str) -> None:
        """A page's action failed: said in the dialog that started it when there is one, else on the page."""
        message = self.readable(message)
        text = f"Could not {action} {target[:40]}: {message}" if target else message
        if "in use" in message and action == "remove":
            text += " — stop and remove the containers that use it first."
        in_dialog = getattr(page, "dialog_failed", None)  # the resource pages' "…" dialogs
        if in_dialog is not None and in_dialog(target, action, text):
            return  # said inside the dialog that started it, where the input is to fix
        self.say_failure(page, f"{page.objectName()}:{action}:{target}", f"{action} failed", text)
