"""The Compose page: the engine's projects, one project's containers, its merged logs, and the actions."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.models.compose import TonedModel
from app.models.logs import LogBuffer
from app.services.compose_yaml import read_project_yaml
from app.services.logs import LogFollower
from app.widgets.chrome import Toolbar, ask_for_file, set_icon, show_message
from app.widgets.log_panel import LogPanel
from app.widgets.table_page import KeyedTablePage, keyed_table, message_label

EMPTY_TEXT = (
    "<h3>No compose projects on this engine</h3>"
    "Compose runs a whole application — a web server, its database, a worker — from one file, "
    "<code>compose.yaml</code>, that lists its services, networks and volumes.<br>"
    "Open such a file to bring the project up (<code>docker compose up -d</code>); "
    "its containers then appear here grouped as one project."
)


class ComposePage(KeyedTablePage, QWidget):
    openRequested = Signal(list)  # compose files to bring up
    projectSelected = Signal(str)
    upRequested = Signal(str)
    downRequested = Signal(str, bool)  # project, remove its volumes too
    startRequested = Signal(str)
    stopRequested = Signal(str)
    restartRequested = Signal(str)
    logsRequested = Signal(str)

    def __init__(self, projects: TonedModel, containers: TonedModel, log_buffer: LogBuffer,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compose-page")
        self.model = projects
        self.containers_model = containers
        self.busy: dict[str, str] = {}  # project -> action under way
        self._pending = ""  # a project to select once listed
        self.confirmation: QMessageBox | None = None
        self.file_dialog: QFileDialog | None = None

        self.toolbar = Toolbar(self, "compose-toolbar", "Compose project actions")
        self.buttons = self.toolbar.buttons
        self.open_button = self._button("Open compose file…", "Bring up a project from its compose.yaml "
                                        "(docker compose -f FILE up -d)", "compose-open", primary=True)
        self.up_button = self._button("Up", "Create and start the project's containers from its files "
                                      "(docker compose up -d)", "compose-up")
        self.start_button = self._button("Start", "Start the project's stopped containers (docker compose start)",
                                         "compose-start")
        self.stop_button = self._button("Stop", "Stop the project's containers (docker compose stop)", "compose-stop")
        self.restart_button = self._button("Restart", "Restart the project's containers (docker compose restart)",
                                           "compose-restart")
        self.logs_button = self._button("Logs", "The services' logs merged (docker compose logs -f)", "compose-logs")
        self.yaml_button = self._button("YAML", "The project's compose file, as its containers' labels name it "
                                        "(docker compose config shows it resolved)", "compose-yaml")
        self.down_button = self._button("Down…", "Stop and remove the project's containers and networks "
                                        "(docker compose down)", "compose-down")
        self.message = message_label(self, "compose-message")

        self.table, self.proxy = keyed_table(self, projects, "compose-projects", (200, 130, 160, 300))
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_selected())
        self.services, self.services_proxy = keyed_table(self, containers, "compose-services",
                                                         (140, 220, 90, 180, 160, 140))
        self.table.setAccessibleName("Compose projects")
        self.services.setAccessibleName("The project's services")
        self.detail_title = QLabel(self)
        self.detail_title.setObjectName("compose-detail-title")
        self.logs = LogPanel(log_buffer, self)
        self.logs.hide()
        self.yaml = QPlainTextEdit(self)
        self.yaml.setObjectName("compose-yaml-text")
        self.yaml.setAccessibleName("Compose file")
        self.yaml.setReadOnly(True)
        self.yaml.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.yaml.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.yaml.hide()
        detail = QWidget(self)
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 4, 0, 0)
        detail_layout.addWidget(self.detail_title)
        detail_layout.addWidget(self.services, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(detail)
        self.splitter.addWidget(self.logs)
        self.splitter.addWidget(self.yaml)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setStretchFactor(2, 3)

        self.empty = QWidget(self)
        self.empty.setObjectName("compose-empty")
        empty_layout = QVBoxLayout(self.empty)
        empty_layout.addStretch(1)
        self.empty_text = QLabel(EMPTY_TEXT, self.empty)
        self.empty_text.setWordWrap(True)
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty_layout.addWidget(self.empty_text)
        self.empty_open = QPushButton("Open compose file…", self.empty)
        self.empty_open.setObjectName("compose-empty-open")
        self.empty_open.setAccessibleName("Open compose file")
        set_icon(self.empty_open, "open")
        self.empty_open.setToolTip("docker compose -f FILE up -d")
        self.empty_open.clicked.connect(self.ask_file)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.empty_open)
        row.addStretch(1)
        empty_layout.addLayout(row)
        empty_layout.addStretch(2)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.splitter)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.setSpacing(4)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.message)
        layout.addWidget(self.stack, 1)

        self.open_button.clicked.connect(self.ask_file)
        self.up_button.clicked.connect(lambda: self._emit_selected(self.upRequested))
        self.start_button.clicked.connect(lambda: self._emit_selected(self.startRequested))
        self.stop_button.clicked.connect(lambda: self._emit_selected(self.stopRequested))
        self.restart_button.clicked.connect(lambda: self._emit_selected(self.restartRequested))
        self.logs_button.clicked.connect(self._logs)
        self.yaml_button.clicked.connect(self.show_yaml)
        self.down_button.clicked.connect(self.ask_down)
        for signal in (projects.rowsInserted, projects.rowsRemoved, projects.modelReset, projects.dataChanged):
            signal.connect(lambda *_: self._update_view())
        self._update_view()

    def _button(self, text: str, tip: str, name: str, primary: bool = False) -> QPushButton:
        return self.toolbar.button(text, tip, name, primary=primary)

    # -- selection -------------------------------------------------------------------------------

    def selected_project(self) -> str:
        return self.selected_key()

    def select_project(self, name: str) -> bool:
        """Select `name`; a project not listed yet (just brought up) is selected when it appears."""
        selected = self.select_key(name)
        self._pending = "" if selected else name
        return selected

    def _on_selected(self) -> None:
        name = self.selected_project()
        self.detail_title.setText(f"<b>{html.escape(name)}</b> — services and containers" if name else "")
        if self.logs.isVisible():
            self.logs.hide()
        self.yaml.hide()
        self.projectSelected.emit(name)
        self._update_buttons()

    def _logs(self) -> None:
        name = self.selected_project()
        if name:
            self.logs.reset()
            self.yaml.hide()
            self.logs.show()
            self.logsRequested.emit(name)

    def follow_logs(self, follower: LogFollower) -> None:
        """Show what `follower` reads (the project's merged logs) in the page's log panel."""
        follower.appended.connect(self.logs.on_appended)
        follower.ended.connect(lambda reason: self.logs.show_status(f"log stream ended: {reason}" if reason else ""))
        follower.waiting.connect(self.logs.show_waiting)

    def show_yaml(self) -> None:
        """The selected project's compose file in place of its logs, or why it cannot be read here."""
        item = self.model.item(self.selected_project())
        if item is None:
            return
        found = read_project_yaml([str(p) for p in item.get("config_files") or []])
        self.yaml.setPlainText(found.text)
        self.yaml.setVisible(bool(found.text))
        if found.problem:
            show_message(self.message, found.problem, "error")
        else:
            self.clear_message()
        if found.text:
            self.logs.hide()

    # -- dialogs (open(), never exec(): no nested loop under qasync) -------------------------------

    def ask_file(self) -> QFileDialog:
        dialog = ask_for_file(self, "Open a compose file", lambda path: self.open_files([path]),
                              filters=("Compose files (*.yaml *.yml)", "All files (*)"))
        self.file_dialog = dialog
        return dialog

    def open_files(self, files: list[str]) -> None:
        if files:
            self.clear_message()
            self.openRequested.emit(list(files))

    def ask_down(self) -> QMessageBox | None:
        name = self.selected_project()
        if not name:
            return None
        box = QMessageBox(QMessageBox.Icon.Warning, f"Take {name} down?",
                          f"Stop and remove the containers and networks of <b>{html.escape(name)}</b> "
                          "(docker compose down).", QMessageBox.StandardButton.Cancel, self)
        down = box.addButton("Down", QMessageBox.ButtonRole.DestructiveRole)
        volumes = QCheckBox("Also remove its named volumes (their data is lost)", box)
        volumes.setObjectName("compose-down-volumes")
        box.setCheckBox(volumes)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(
            lambda button: self._confirm_down(name, volumes.isChecked()) if button is down else None)
        box.open()
        self.confirmation = box
        return box

    def _confirm_down(self, name: str, volumes: bool) -> None:
        self.clear_message()
        self.downRequested.emit(name, volumes)

    # -- state -----------------------------------------------------------------------------------

    def set_busy(self, name: str, action: str, on: bool) -> None:
        if on:
            self.busy[name] = action
        else:
            self.busy.pop(name, None)
        self._update_buttons()

    def _update_view(self) -> None:
        self.stack.setCurrentWidget(self.splitter if self.model.rowCount() else self.empty)
        if self._pending and self.model.row_of(self._pending) is not None:
            self.select_project(self._pending)
        self._update_buttons()

    def _update_buttons(self) -> None:
        name = self.selected_project()
        busy = bool(name) and name in self.busy
        for button in (self.up_button, self.start_button, self.stop_button, self.restart_button, self.down_button):
            button.setEnabled(bool(name) and not busy)
        self.logs_button.setEnabled(bool(name))
        self.yaml_button.setEnabled(bool(name))
