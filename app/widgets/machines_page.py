"""The Machines page: Linux VMs running berthd (for macOS and Windows), their life cycle and boot log."""

from __future__ import annotations

import html
import sys

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.models.compose import TonedModel
from app.widgets.chrome import Toolbar, set_icon
from app.widgets.table_page import KeyedTablePage, keyed_table, message_label

LINUX_NOTE = ("On Linux, machines are optional: berthd runs natively here (start it with <code>berthd</code>). "
              "A machine is a small Linux VM running berthd — what macOS and Windows need.")
EMPTY_TEXT = ("<h3>No machines</h3>A machine is a small Linux VM that runs berthd, so containers work on "
              "macOS and Windows. Create one with <b>Create…</b> above (<code>berth machine init</code>), "
              "start it, then use its engine.")


class MachinesPage(KeyedTablePage, QWidget):
    createRequested = Signal(str, int, int, int)  # name, cpus, memory MiB, disk GiB
    startRequested = Signal(str)
    stopRequested = Signal(str)
    removeRequested = Signal(str)
    useRequested = Signal(str)  # the machine's engine URL (DOCKER_HOST)
    bootLogRequested = Signal(str)
    reclaimRequested = Signal(str)
    contextRequested = Signal(str)  # machine: make the docker CLI's current context Berth's (`berth`)

    def __init__(self, model: TonedModel, platform: str = sys.platform, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("machines-page")
        self.model = model
        self.busy: dict[str, str] = {}
        self.confirmation: QMessageBox | None = None

        self.toolbar = Toolbar(self, "machines-toolbar", "Machine actions")
        self.buttons = self.toolbar.buttons
        self.create_button = self._button("Create…", "Make a new machine (berth machine init)", "machine-create",
                                          primary=True)
        self.start_button = self._button("Start", "Boot the machine (berth machine start)", "machine-start")
        self.stop_button = self._button("Stop", "Shut the machine down (berth machine stop)", "machine-stop")
        self.use_button = self._button("Use this engine", "Point this window at the machine's berthd "
                                       "(DOCKER_HOST=unix://…/berth.sock)", "machine-use")
        self.log_button = self._button("Boot log", "The end of the machine's serial console", "machine-boot-log")
        self.reclaim_button = self._button("Reclaim disk space", "Give the disk space the machine freed back to "
                                           "this computer (berth machine reclaim)", "machine-reclaim")
        self.remove_button = self._button("Remove…", "Delete the machine and its disk (berth machine rm)",
                                          "machine-remove")

        self.note = QLabel(LINUX_NOTE, self)
        self.note.setObjectName("machines-linux-note")
        self.note.setProperty("role", "hint")
        self.note.setWordWrap(True)
        self.note.setVisible(platform.startswith("linux"))

        self.form = QWidget(self)
        self.form.setObjectName("machine-create-form")
        form = QHBoxLayout(self.form)
        form.setContentsMargins(0, 0, 0, 0)
        self.name_input = QLineEdit(self.form)
        self.name_input.setObjectName("machine-name")
        self.name_input.setPlaceholderText("name, e.g. default")
        self.name_input.setAccessibleName("Machine name")
        self.cpus_input = self._spin(1, 64, 2, " CPUs", "machine-cpus")
        self.memory_input = self._spin(256, 1024 * 1024, 2048, " MiB", "machine-memory")
        self.memory_input.setSingleStep(512)
        self.disk_input = self._spin(1, 16 * 1024, 20, " GiB", "machine-disk")
        self.create_submit = QPushButton("Create", self.form)
        self.create_submit.setObjectName("machine-create-submit")
        self.create_submit.setAccessibleName("Create the machine")
        set_icon(self.create_submit, "create")
        for widget in (self.name_input, self.cpus_input, self.memory_input, self.disk_input, self.create_submit):
            form.addWidget(widget, 2 if widget is self.name_input else 0)
        self.form.hide()

        self.message = message_label(self, "machines-message")

        # The user's own docker CLI: offered once a machine runs (MachineService.contextOffered).
        self.context_offer = QWidget(self)
        self.context_offer.setObjectName("machine-context-offer")
        offer = QHBoxLayout(self.context_offer)
        offer.setContentsMargins(0, 0, 0, 0)
        self.context_text = QLabel(self.context_offer)
        self.context_text.setObjectName("machine-context-text")
        self.context_text.setWordWrap(True)
        self.context_button = QPushButton("Make docker use Berth", self.context_offer)
        self.context_button.setObjectName("machine-use-context")
        self.context_button.setAccessibleName("Make docker use Berth")
        set_icon(self.context_button, "use")
        self.context_button.setToolTip("docker context use berth: the docker command in any terminal then "
                                       "reaches this machine's engine")
        self.context_later = QPushButton("Not now", self.context_offer)
        self.context_later.setObjectName("machine-context-later")
        self.context_later.setAccessibleName("Not now")
        offer.addWidget(self.context_text, 1)
        offer.addWidget(self.context_button)
        offer.addWidget(self.context_later)
        self.context_offer.hide()
        self._context_machine = ""

        self.table, self.proxy = keyed_table(self, model, "machines-table", (160,))
        self.table.setAccessibleName("Machines")
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.empty = QLabel(EMPTY_TEXT, self)
        self.empty.setObjectName("machines-empty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.table)
        self.boot_log = QPlainTextEdit(self)
        self.boot_log.setObjectName("machine-boot-log-view")
        self.boot_log.setAccessibleName("Boot log")
        self.boot_log.setReadOnly(True)
        self.boot_log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.boot_log.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.setSpacing(4)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.note)
        layout.addWidget(self.form)
        layout.addWidget(self.message)
        layout.addWidget(self.context_offer)
        layout.addWidget(self.stack, 3)
        layout.addWidget(self.boot_log, 2)

        self.create_button.clicked.connect(self.toggle_form)
        self.create_submit.clicked.connect(self.submit_create)
        self.name_input.returnPressed.connect(self.submit_create)
        self.start_button.clicked.connect(lambda: self._emit_selected(self.startRequested))
        self.stop_button.clicked.connect(lambda: self._emit_selected(self.stopRequested))
        self.log_button.clicked.connect(lambda: self._emit_selected(self.bootLogRequested))
        self.use_button.clicked.connect(self._use)
        self.remove_button.clicked.connect(self.ask_remove)
        self.reclaim_button.clicked.connect(lambda: self._emit_selected(self.reclaimRequested))
        self.context_button.clicked.connect(self._use_context)
        self.context_later.clicked.connect(self.context_offer.hide)
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset, model.dataChanged):
            signal.connect(lambda *_: self._update_view())
        self._update_view()

    def _button(self, text: str, tip: str, name: str, primary: bool = False) -> QPushButton:
        return self.toolbar.button(text, tip, name, primary=primary)

    def _spin(self, low: int, high: int, value: int, suffix: str, name: str) -> QSpinBox:
        spin = QSpinBox(self.form)
        spin.setObjectName(name)
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setSuffix(suffix)
        return spin

    # -- selection and actions -------------------------------------------------------------------

    def select_machine(self, name: str) -> bool:
        return self.select_key(name)

    def _use(self) -> None:
        url = str((self.selected_item() or {}).get("docker_host", ""))
        if url:
            self.useRequested.emit(url)

    # -- the docker CLI's context ----------------------------------------------------------------

    def offer_context(self, name: str, host: str) -> None:
        self._context_machine = name
        self.context_text.setText(
            f"Machine <b>{html.escape(name)}</b> is running. The <code>docker</code> command in your terminals "
            f"can use it too, through the docker context <code>berth</code> ({html.escape(host)}).")
        self.context_button.setEnabled(True)
        self.context_offer.show()

    def _use_context(self) -> None:
        if self._context_machine:
            self.context_button.setEnabled(False)
            self.contextRequested.emit(self._context_machine)

    def context_used(self, name: str, host: str) -> None:
        self.context_offer.hide()
        self.show_info(f"docker now uses Berth: context berth → {host} (docker context use default undoes it)")

    def context_failed(self, message: str) -> None:
        self.context_button.setEnabled(True)
        self.show_error(f"Could not set the docker context: {message}")

    def open_create_form(self) -> None:
        """Create a machine…: the form shown."""
        self.form.show()

    def toggle_form(self) -> None:
        self.form.setVisible(not self.form.isVisible())
        if self.form.isVisible():
            self.name_input.setFocus()

    def submit_create(self) -> None:
        name = self.name_input.text().strip()
        if not name:
            self.show_error("A machine needs a name (letters, digits, '_', '.' or '-').")
            return
        self.clear_message()
        self.createRequested.emit(name, self.cpus_input.value(), self.memory_input.value(), self.disk_input.value())
        self.name_input.clear()
        self.form.hide()

    def ask_remove(self) -> QMessageBox | None:
        name = self.selected_key()
        if not name:
            return None
        box = QMessageBox(QMessageBox.Icon.Warning, f"Remove machine {name}?",
                          f"Delete <b>{html.escape(name)}</b> with its disk: the images, containers and volumes "
                          "inside it are lost (berth machine rm).", QMessageBox.StandardButton.Cancel, self)
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(lambda button: self.removeRequested.emit(name) if button is remove else None)
        box.open()  # never exec(): no nested loop under qasync
        self.confirmation = box
        return box

    def show_boot_log(self, name: str, text: str) -> None:
        self.boot_log.setPlainText(f"— boot log of {name} —\n{text or '(empty: the machine has not booted yet)'}")
        self.boot_log.show()
        bar = self.boot_log.verticalScrollBar()
        bar.setValue(bar.maximum())

    # -- state -----------------------------------------------------------------------------------

    def set_busy(self, name: str, action: str, on: bool) -> None:
        if on:
            self.busy[name] = action
        else:
            self.busy.pop(name, None)
        self._update_buttons()

    def _update_view(self) -> None:
        self.stack.setCurrentWidget(self.table if self.model.rowCount() else self.empty)
        self._update_buttons()

    def _update_buttons(self) -> None:
        item = self.selected_item() or {}
        name = str(item.get("name", ""))
        state = str(item.get("state", ""))
        idle = bool(name) and name not in self.busy
        self.start_button.setEnabled(idle and state in ("stopped", "error"))
        self.stop_button.setEnabled(idle and state in ("running", "starting", "error"))
        self.use_button.setEnabled(state == "running")
        self.remove_button.setEnabled(idle and state in ("stopped", "error"))
        self.reclaim_button.setEnabled(idle and state == "running")
        self.log_button.setEnabled(bool(name))
