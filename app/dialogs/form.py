"""A small titled dialog of text fields for the pages' "…" actions (pull, tag, build, import, create,
clone): Enter submits, Escape cancels, Tab goes in reading order. It stays, with everything typed,
until the engine says the action worked; a failure is shown inside it, saying what to fix.

Opened with `open()` (never a nested `exec()` under qasync) and kept by its page, so a second
opening finds what was typed before when that helps (the folder of a build)."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.display import breakable
from app.widgets.accessibility import announce, layout_order, tab_chain
from app.widgets.chrome import icon_for, set_icon, wraps_in_place

# What a field's local check answers: None when fine, else the field to fix and what to say.
Check = Callable[[dict[str, str]], "tuple[str, str] | None"]

# The engine's words for common mistakes, and the next step a person can take.
_NEXT_STEPS = (
    (("already exists", "already in use", "conflict"), "choose another name."),
    (("invalid reference format", "invalid repository name", "must be lowercase", "invalid tag"),
     "a name is lowercase letters, digits and . _ - / with an optional :tag, e.g. myrepo/app:v1."),
    (("manifest unknown", "not found", "does not exist", "no such", "pull access denied", "unauthorized"),
     "check the name and the tag (e.g. busybox:latest), or that the registry has it."),
    (("does not answer", "cannot connect", "connection refused", "no such host", "timeout"),
     "check that the engine and the registry can be reached, then try again."),
    (("cannot locate specified dockerfile", "dockerfile"), "check the folder has a Dockerfile."),
)


def next_step(message: str) -> str:
    """What to fix for an engine's `message` ("" when nothing general applies)."""
    lowered = message.lower()
    for words, step in _NEXT_STEPS:
        if any(word in lowered for word in words):
            return step
    return ""


class FormDialog(QDialog):
    """Titled fields over an error line and Submit/Cancel. `submitted` carries the fields' texts by
    key once the local `check` passes; the page then calls `wait_for` with the action it started
    and the dialog closes on `succeeded`, or shows `failed`'s words and gives the fields back."""

    submitted = Signal(dict)

    def __init__(self, parent: QWidget, title: str, name: str, submit_text: str, *, intro: str = "",
                 busy_text: str = "", check: Check | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setWindowTitle(title)
        self.setMinimumWidth(440)
        self.fields: dict[str, QLineEdit] = {}
        self.check = check
        self.busy_text = busy_text
        self.awaiting: tuple[str, str] | None = None  # (action, target) the engine has yet to answer
        self._ordered = False
        self.intro = QLabel(intro, self)
        self.intro.setObjectName(f"{name}-intro")
        wraps_in_place(self.intro)
        self.intro.setVisible(bool(intro))
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.error = QLabel(self)
        self.error.setObjectName(f"{name}-error")
        self.error.setProperty("role", "error")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        wraps_in_place(self.error)
        self.error.hide()
        self.status = QLabel(self)
        self.status.setObjectName(f"{name}-status")
        self.status.setProperty("role", "hint")
        wraps_in_place(self.status)
        self.status.hide()
        self.buttons = QDialogButtonBox(self)
        self.submit = self.buttons.addButton(submit_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.submit.setObjectName(f"{name}-submit")
        self.submit.setDefault(True)
        self.submit.setAccessibleName(submit_text.rstrip("…"))
        self.cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel.setObjectName(f"{name}-cancel")
        self.cancel.setAccessibleName("Cancel")
        self.cancel.setAutoDefault(False)
        set_icon(self.submit, icon_for(submit_text))
        set_icon(self.cancel, "close")
        # Not accept(): the dialog stays until the engine has said the action worked.
        self.submit.clicked.connect(self.try_submit)
        self.cancel.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.setSpacing(8)
        layout.addWidget(self.intro)
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def add_field(self, key: str, label: str, placeholder: str = "", accessible: str = "",
                  beside: QWidget | None = None) -> QLineEdit:
        """A text field on a row of its own, labelled (the label's & names its Alt key); `beside`,
        when given, sits at its right (a Choose… button)."""
        edit = QLineEdit(self)
        edit.setObjectName(f"{self.objectName()}-{key}")
        edit.setPlaceholderText(placeholder)
        edit.setAccessibleName(accessible or label.replace("&", "").rstrip(":"))
        edit.textEdited.connect(lambda _: self._clear_error())
        caption = QLabel(label, self)
        caption.setBuddy(edit)
        if beside is None:
            self.form.addRow(caption, edit)
        else:
            row = QWidget(self)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            line.setSpacing(4)
            edit.setParent(row)
            beside.setParent(row)
            line.addWidget(edit, 1)
            line.addWidget(beside)
            QWidget.setTabOrder(edit, beside)  # `beside` was made first; it reads after the field
            self.form.addRow(caption, row)
        self.fields[key] = edit
        return edit

    def add_note(self, key: str, label: str) -> QLabel:
        """A read-only line (the file being imported), in the form's reading order."""
        note = QLabel(self)
        note.setObjectName(f"{self.objectName()}-{key}")
        note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.form.addRow(QLabel(label, self), note)
        return note

    def values(self) -> dict[str, str]:
        return {key: edit.text().strip() for key, edit in self.fields.items()}

    def try_submit(self) -> None:
        """Enter or the submit button: the local check first (its words in the dialog, the field to
        fix focused), then `submitted` for the page to start the action."""
        if self.awaiting is not None:
            return
        values = self.values()
        problem = self.check(values) if self.check is not None else None
        if problem is not None:
            field, message = problem
            self.show_error(message, field)
            return
        self._clear_error()
        self.submitted.emit(values)

    def wait_for(self, action: str, target: str) -> None:
        """The page started `action` on `target`: hold the fields until the engine answers."""
        self.awaiting = (action, target)
        self._set_busy(True)

    def awaits(self, action: str, target: str) -> bool:
        return self.isVisible() and self.awaiting == (action, target)

    def succeeded(self) -> None:
        self.awaiting = None
        self._set_busy(False)
        self.accept()

    def failed(self, message: str) -> None:
        """The engine refused: its words and the next step in the dialog, the fields as typed."""
        self.awaiting = None
        self._set_busy(False)
        step = next_step(message)
        self.show_error(f"{message.rstrip('.')} — {step}" if step and step not in message else message)

    def show_error(self, message: str, field: str = "") -> None:
        self.error.setText(breakable(message))
        self.error.setToolTip(html.escape(message))
        self.error.show()
        self.submit.setAccessibleDescription(message)
        announce(self.error, message)
        edit = self.fields.get(field) or next(iter(self.fields.values()), None)
        if edit is not None:
            edit.setFocus()
            edit.selectAll()

    def _clear_error(self) -> None:
        if self.error.isVisible():
            self.error.hide()
            self.submit.setAccessibleDescription("")

    def _set_busy(self, busy: bool) -> None:
        for edit in self.fields.values():
            edit.setReadOnly(busy)
        self.submit.setEnabled(not busy)
        self.cancel.setText("Close" if busy else "Cancel")
        self.cancel.setAccessibleName("Close" if busy else "Cancel")
        self.status.setText(self.busy_text)
        self.status.setVisible(busy and bool(self.busy_text))

    def reject(self) -> None:
        # Closed while the engine works: the action goes on (a job in the task panel) and its
        # outcome is said on the page, as any action's.
        self.awaiting = None
        self._set_busy(False)
        super().reject()

    def showEvent(self, event: QShowEvent) -> None:
        if not self._ordered:
            self._ordered = True
            layout = self.layout()
            if layout is not None:
                tab_chain(layout_order(layout))
        super().showEvent(event)
        if self.awaiting is None:
            first = next((e for e in self.fields.values() if not e.text()), None) or next(iter(self.fields.values()),
                                                                                          None)
            if first is not None:
                first.setFocus()
                first.selectAll()


def plain_button(parent: QWidget, text: str, name: str, accessible: str, tip: str = "") -> QPushButton:
    """A button inside a dialog's row (Choose…): its icon from its verb, never the default button."""
    button = QPushButton(text, parent)
    button.setObjectName(name)
    button.setAccessibleName(accessible)
    button.setToolTip(tip)
    button.setAutoDefault(False)
    icon = icon_for(text)
    if icon:
        set_icon(button, icon)
    return button
