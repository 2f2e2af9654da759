"""Settings: which engine (contexts) and the look (theme)."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.display import engine_advice
from app.services.settings import Context
from app.services.socket_status import SocketStatus, socket_status
from app.widgets.chrome import ask_for_file, set_icon, show_message
from engine.client.tls import TLSFiles


class SettingsPage(QWidget):
    themeChosen = Signal(str)
    contextChosen = Signal(str)  # url
    contextAdded = Signal(str, str, object)  # name, url, TLSFiles or None
    contextRemoved = Signal(str)  # name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settings-page")
        self._contexts: list[Context] = []
        self._current_url = ""
        engines = QGroupBox("Engines", self)
        self.contexts = QListWidget(engines)
        self.contexts.setObjectName("contexts")
        self.contexts.setAccessibleName("Engines")
        self.contexts.itemActivated.connect(self._on_context)
        self.contexts.currentItemChanged.connect(self._on_current)
        self.use = QPushButton("Use this engine", engines)
        self.use.setObjectName("use-context")
        self.use.setAccessibleName("Use this engine")
        set_icon(self.use, "use")
        self.use.clicked.connect(self._use_current)
        self.remove = QPushButton("Remove", engines)
        self.remove.setObjectName("remove-context")
        self.remove.setAccessibleName("Remove this engine")
        set_icon(self.remove, "remove")
        self.remove.setEnabled(False)
        self.remove.clicked.connect(self._remove)
        box = QVBoxLayout(engines)
        box.addWidget(QLabel("Berth talks the Docker Engine API: berthd, a stock dockerd or podman all work, "
                             "here or on another host (like <code>docker context use</code>).", engines))
        box.addWidget(self.contexts)
        self.absent = QLabel(engines)
        self.absent.setObjectName("contexts-absent")
        self.absent.setProperty("role", "hint")
        self.absent.setWordWrap(True)
        self.absent.linkActivated.connect(self.choose)
        self.absent.hide()
        box.addWidget(self.absent)
        row = QHBoxLayout()
        row.addWidget(self.use)
        row.addWidget(self.remove)
        row.addStretch(1)
        box.addLayout(row)
        box.addWidget(self._add_form(engines))
        self.message = QLabel(engines)
        self.message.setObjectName("settings-message")
        self.message.setWordWrap(True)
        self.message.hide()
        box.addWidget(self.message)

        look = QGroupBox("Theme", self)
        self.themes = QButtonGroup(self)
        look_row = QHBoxLayout(look)
        self.theme_buttons: dict[str, QRadioButton] = {}
        for key, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark"),
                           ("high-contrast", "High contrast")):
            button = QRadioButton(label, look)
            button.setObjectName(f"theme-{key}")
            button.setAccessibleName(f"Theme: {label}")
            self.themes.addButton(button)
            self.theme_buttons[key] = button
            button.toggled.connect(lambda on, k=key: self._on_theme(k, on))
            look_row.addWidget(button)
        look_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(engines, 1)
        layout.addWidget(look)
        layout.addStretch(0)

    def _add_form(self, parent: QWidget) -> QWidget:
        form_box = QGroupBox("Add an engine", parent)
        self.new_name = QLineEdit(form_box)
        self.new_name.setObjectName("context-name")
        self.new_name.setAccessibleName("Engine name")
        self.new_name.setPlaceholderText("a name, e.g. build server")
        self.new_url = QLineEdit(form_box)
        self.new_url.setObjectName("context-url")
        self.new_url.setAccessibleName("Engine address")
        self.new_url.setPlaceholderText("unix:///path/engine.sock, ssh://user@host or tcp://host:2376")
        self.new_url.textChanged.connect(self._on_url_edited)
        # TLS files matter for tcp:// only (dockerd --tlsverify); ssh:// uses the user's SSH keys.
        self.tls = QCheckBox("TLS (dockerd --tlsverify): verify the engine with this CA and show this "
                             "client certificate", form_box)
        self.tls.setObjectName("context-tls")
        self.tls.setAccessibleName("Use TLS")
        self.tls_files: dict[str, QLineEdit] = {}
        form = QFormLayout(form_box)
        self._form = form
        self._tls_rows: list[int] = []
        form.addRow("Name", self.new_name)
        form.addRow("Address", self.new_url)
        form.addRow("", self.tls)
        for key, label in (("ca", "CA certificate"), ("cert", "Client certificate"), ("key", "Client key")):
            edit = QLineEdit(form_box)
            edit.setObjectName(f"context-tls-{key}")
            edit.setAccessibleName(label)
            edit.setPlaceholderText(f"{key}.pem")
            pick = QPushButton("Choose…", form_box)
            pick.setObjectName(f"context-tls-{key}-choose")
            pick.setAccessibleName(f"Choose the {label.lower()}")
            set_icon(pick, "browse")
            pick.clicked.connect(lambda _=False, e=edit, t=label: self._choose_file(e, t))
            line = QHBoxLayout()
            line.addWidget(edit, 1)
            line.addWidget(pick)
            self._tls_rows.append(form.rowCount())
            form.addRow(label, line)
            self.tls_files[key] = edit
        self.add_button = QPushButton("Add", form_box)
        self.add_button.setObjectName("add-context")
        self.add_button.setAccessibleName("Add the engine")
        set_icon(self.add_button, "create")
        self.add_button.clicked.connect(self._add)
        form.addRow("", self.add_button)
        self.tls.toggled.connect(self._on_url_edited)
        self._on_url_edited()
        return form_box

    def set_contexts(self, contexts: list[Context], current_url: str) -> None:
        """Each engine with its status; a built-in engine whose socket does not exist here is not
        listed (named under the list instead, where picking it says how to start it)."""
        self._contexts, self._current_url = list(contexts), current_url
        self.contexts.clear()
        absent: list[Context] = []
        for context in contexts:
            status = socket_status(context.url)
            if status is SocketStatus.MISSING and not context.mine and context.url != current_url:
                absent.append(context)
                continue
            mark = "●  " if context.url == current_url else "    "
            secure = ", TLS" if context.tls is not None else ""
            words = f" — {status.value}" if status.value else ""
            item = QListWidgetItem(f"{mark}{context.name} — {context.url}{words}   ({context.note}{secure})",
                                   self.contexts)
            item.setData(_URL_ROLE, context.url)
            item.setData(_NAME_ROLE, context.name if context.mine else "")
            item.setData(_STATUS_ROLE, status.value)
            item.setToolTip(html.escape(context.note if status.usable else advice(context.url, status)))
        self.absent.setText(
            "Not on this computer: " + ", ".join(
                f"<a href='{html.escape(c.url)}'>{html.escape(c.name)}</a> ({html.escape(c.url.removeprefix('unix://'))})"
                for c in absent) + " — pick one to see how to start it." if absent else "")
        self.absent.setVisible(bool(absent))

    def status_of(self, url: str) -> str:
        """The status word the list shows for `url` ("" for a remote engine or one not listed)."""
        for row in range(self.contexts.count()):
            item = self.contexts.item(row)
            if item.data(_URL_ROLE) == url:
                return str(item.data(_STATUS_ROLE) or "")
        return ""

    def showEvent(self, event: QShowEvent) -> None:
        # Engines start and stop while Berth runs: the statuses are read again whenever the page shows.
        super().showEvent(event)
        if self._contexts:
            self.set_contexts(self._contexts, self._current_url)

    def set_theme(self, name: str) -> None:
        button = self.theme_buttons.get(name)
        if button is not None:
            button.blockSignals(True)
            button.setChecked(True)
            button.blockSignals(False)

    def show_error(self, text: str) -> None:
        show_message(self.message, text, "error")

    def added(self, context: Context) -> None:
        """The window stored a new engine: clear the form and say so."""
        for edit in (self.new_name, self.new_url, *self.tls_files.values()):
            edit.clear()
        self.tls.setChecked(False)
        status = socket_status(context.url)
        if status.usable:
            show_message(self.message, f"Added {context.name}: double-click it to use it.", "hint")
        else:
            show_message(self.message, f"Added {context.name} ({status.value}). {advice(context.url, status)}", "hint")

    def _on_current(self, item: QListWidgetItem | None) -> None:
        self.remove.setEnabled(bool(item is not None and item.data(_NAME_ROLE)))

    def _on_url_edited(self) -> None:
        # Calm by default: the TLS choice shows for tcp:// addresses, its files once it is ticked.
        tcp = self.new_url.text().strip().startswith("tcp://")
        self.tls.setEnabled(tcp)
        self._form.setRowVisible(self.tls, tcp)
        for edit in self.tls_files.values():
            edit.setEnabled(tcp and self.tls.isChecked())
        for row in self._tls_rows:
            self._form.setRowVisible(row, tcp and self.tls.isChecked())

    def _choose_file(self, edit: QLineEdit, title: str) -> None:
        ask_for_file(self, title, edit.setText)

    def _on_theme(self, key: str, on: bool) -> None:
        if on:
            self.themeChosen.emit(key)

    def _use_current(self) -> None:
        item: QListWidgetItem | None = self.contexts.currentItem()
        if item is not None:
            self._on_context(item)

    def _on_context(self, item: QListWidgetItem) -> None:
        self.choose(str(item.data(_URL_ROLE)))

    def choose(self, url: str) -> None:
        """Switch to the engine at `url`, unless its socket cannot be used: then say what to do for
        that engine (start dockerd, podman's socket or berthd; or join its group)."""
        status = socket_status(url)
        if not status.usable:
            show_message(self.message, advice(url, status), "error")
            return
        self.message.hide()
        self.contextChosen.emit(url)

    def _remove(self) -> None:
        item = self.contexts.currentItem()
        if item is not None and item.data(_NAME_ROLE):
            self.contextRemoved.emit(str(item.data(_NAME_ROLE)))

    def _add(self) -> None:
        name, url = self.new_name.text().strip(), self.new_url.text().strip()
        if not name or not url:
            self.show_error("Give the engine a name and an address.")
            return
        tls = None
        if self.tls.isEnabled() and self.tls.isChecked():

            def path(key: str) -> Path | None:
                text = self.tls_files[key].text().strip()
                return Path(text).expanduser() if text else None

            tls = TLSFiles(path("ca"), path("cert"), path("key"))
        self.contextAdded.emit(name, url, tls)


_URL_ROLE = 256  # Qt.UserRole
_NAME_ROLE = 257  # set for engines the user added (they can be removed)
_STATUS_ROLE = 258


def advice(url: str, status: SocketStatus) -> str:
    """What to do about an engine whose socket cannot be used, in the unreachable panel's words."""
    return engine_advice(url, socket_exists=status is not SocketStatus.MISSING,
                         permission_denied=status is SocketStatus.DENIED)
