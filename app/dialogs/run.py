"""The Run dialog (docker run -d): name, the image's ports with host-port fields, volumes and
environment as +/- rows, an Advanced section (restart, network, --rm, labels, platform, command,
entrypoint), a warning when the image has no command, and the `docker run` line it corresponds to.
Opened with `open()`; it stays, with everything typed, until the engine has started the container."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.run_form import RESTART_POLICIES, PortRow, RunForm, image_has_command, image_ports
from app.widgets.accessibility import named, tab_chain
from app.widgets.chrome import icon_beside_text, set_icon


class PairRows(QWidget):
    """Rows of two fields (left, right) with a minus on each and one + below: ports, volumes, env, labels."""

    changed = Signal()

    def __init__(self, name: str, left: str, right: str, separator: str, add_text: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._placeholders = (left, right)
        self._separator = separator
        self._noun = add_text.removeprefix("+ ")
        self.rows: list[tuple[QWidget, QLineEdit, QLineEdit]] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.add_button = QPushButton(add_text, self)
        self.add_button.setObjectName(f"{name}-add")
        self.add_button.clicked.connect(lambda: self.add_row()[1].setFocus())
        self._layout.addWidget(self.add_button)

    def add_row(self, left: str = "", right: str = "", *, fixed_left: bool = False,
                right_hint: str = "") -> tuple[QWidget, QLineEdit, QLineEdit]:
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        first, second = QLineEdit(left, row), QLineEdit(right, row)
        first.setPlaceholderText(self._placeholders[0])
        second.setPlaceholderText(right_hint or self._placeholders[1])
        first.setReadOnly(fixed_left)
        number = len(self.rows) + 1
        named(first, f"{self._noun} {number}: {self._placeholders[0]}")
        named(second, f"{self._noun} {number}: {right_hint or self._placeholders[1]}")
        remove = QToolButton(row)
        remove.setText("\u2212")  # a minus sign, as wide as the +
        remove.setObjectName(f"{self.objectName()}-remove")
        remove.setToolTip("Remove this row")
        named(remove, f"Remove {self._noun.lower()} {number}")
        layout.addWidget(first, 1)
        layout.addWidget(QLabel(self._separator, row))
        layout.addWidget(second, 1)
        layout.addWidget(remove)
        entry = (row, first, second)
        before = self.add_button.previousInFocusChain()
        while before is not None and not before.focusPolicy() & Qt.FocusPolicy.TabFocus and not before.isWindow():
            before = before.previousInFocusChain()  # Qt orders from a control, not from a label or row
        self.rows.append(entry)
        self._layout.insertWidget(self._layout.count() - 1, row)
        # A row made later goes in the Tab order where it shows: before the + button.
        tab_chain([w for w in (before, first, second, remove, self.add_button) if w is not None])
        remove.clicked.connect(lambda: self.remove_row(entry))
        first.textChanged.connect(self.changed)
        second.textChanged.connect(self.changed)
        self.changed.emit()
        return entry

    def remove_row(self, entry: tuple[QWidget, QLineEdit, QLineEdit]) -> None:
        self.rows.remove(entry)
        entry[0].hide()
        entry[0].deleteLater()
        # The rows left are numbered again: names say the place a row now has.
        for number, (row, first, second) in enumerate(self.rows, 1):
            first.setAccessibleName(f"{self._noun} {number}: {self._placeholders[0]}")
            second.setAccessibleName(f"{self._noun} {number}: {second.accessibleName().partition(': ')[2]}")
            for remove in row.findChildren(QToolButton):
                remove.setAccessibleName(f"Remove {self._noun.lower()} {number}")
        self.changed.emit()

    def values(self) -> list[tuple[str, str]]:
        return [(first.text(), second.text()) for _, first, second in self.rows]


class RunDialog(QDialog):
    runRequested = Signal(dict, str, str)  # create body, name, platform
    imageChosen = Signal(str)  # another image typed or picked: its details are wanted

    def __init__(self, image: str, parent: QWidget | None = None, images: Sequence[str] = ()) -> None:
        super().__init__(parent)
        self.setObjectName("run-dialog")
        self.setWindowTitle(f"Run {image}" if image else "Run a container")
        self.image = image
        # The image: an editable choice of the local ones (Run… on the Containers page opens here).
        self.image_box = QComboBox(self)
        self.image_box.setObjectName("run-image")
        self.image_box.setEditable(True)
        self.image_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.image_box.addItems(sorted(set(images) - {image}) if image else sorted(set(images)))
        if image:
            self.image_box.insertItem(0, image)
        self.image_box.setCurrentText(image)
        line = self.image_box.lineEdit()
        if line is not None:
            line.setPlaceholderText("a local image, e.g. busybox:latest")
        named(self.image_box, "Image", "One of the local images; pull others on the Images page")
        self.image_box.setToolTip("The image to run, one of the local images (docker run IMAGE)")
        self._typed = QTimer(self)
        self._typed.setSingleShot(True)
        self._typed.setInterval(600)
        self._typed.timeout.connect(lambda: self.choose_image(self.image_box.currentText()))
        self.image_box.currentTextChanged.connect(self._on_image_text)
        self.editing = ""  # the name of the container being edited (Edit and recreate), else ""
        self.has_command: bool | None = None  # unknown until the image's config is read
        self._image_ports: set[str] = set()
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

        self.name = QLineEdit(self)
        self.name.setObjectName("run-name")
        self.name.setPlaceholderText("optional, e.g. web")
        self.ports = PairRows("run-ports", "container port, e.g. 80", "host port", "→ host", "+ Port", self)
        self.ports.add_button.setToolTip("Publish a container port on this computer (docker run -p HOST:CONTAINER)")
        self.volumes = PairRows("run-volumes", "volume or host folder", "path in the container", "→", "+ Volume",
                                self)
        self.volumes.add_button.setToolTip("Mount a volume or folder (docker run -v SOURCE:PATH)")
        self.env = PairRows("run-env", "NAME", "value", "=", "+ Variable", self)
        self.env.add_button.setToolTip("Set an environment variable (docker run -e NAME=value)")

        self.warning = QLabel(self)
        self.warning.setObjectName("run-warning")
        self.warning.setProperty("role", "error")
        self.warning.setWordWrap(True)
        self.warning.hide()

        self.advanced_toggle = QToolButton(self)
        self.advanced_toggle.setObjectName("run-advanced-toggle")
        self.advanced_toggle.setText("Advanced ▸")
        self.advanced_toggle.setCheckable(True)
        named(self.advanced_toggle, "Advanced settings",
              "Command, entrypoint, restart, network, --rm, labels, platform")
        self.advanced = QWidget(self)
        self.advanced.setObjectName("run-advanced")
        self.restart = QComboBox(self.advanced)
        self.restart.setObjectName("run-restart")
        self.restart.addItems(list(RESTART_POLICIES))
        self.restart.setToolTip("docker run --restart")
        self.network = QComboBox(self.advanced)
        self.network.setObjectName("run-network")
        self.network.setEditable(True)
        self.network.addItem("")
        network_edit = self.network.lineEdit()
        if network_edit is not None:
            network_edit.setPlaceholderText("default (bridge)")
        self.network.setToolTip("docker run --network")
        self.remove = QCheckBox("Remove the container when it stops (--rm)", self.advanced)
        self.remove.setObjectName("run-rm")
        self.labels = PairRows("run-labels", "label", "value", "=", "+ Label", self.advanced)
        self.platform = QLineEdit(self.advanced)
        self.platform.setObjectName("run-platform")
        self.platform.setPlaceholderText("default: this computer's, e.g. linux/arm64")
        self.command = QLineEdit(self.advanced)
        self.command.setObjectName("run-command")
        self.command.setPlaceholderText("default: the image's command")
        self.entrypoint = QLineEdit(self.advanced)
        self.entrypoint.setObjectName("run-entrypoint")
        self.entrypoint.setPlaceholderText("default: the image's entrypoint")
        advanced_form = QFormLayout(self.advanced)
        advanced_form.setContentsMargins(0, 0, 0, 0)
        advanced_form.addRow("Command", self.command)
        advanced_form.addRow("Entrypoint", self.entrypoint)
        advanced_form.addRow("Restart", self.restart)
        advanced_form.addRow("Network", self.network)
        advanced_form.addRow("", self.remove)
        advanced_form.addRow("Labels", self.labels)
        advanced_form.addRow("Platform", self.platform)
        self.advanced.hide()
        self.advanced_toggle.toggled.connect(self.show_advanced)

        self.run_line = QLineEdit(self)
        self.run_line.setObjectName("run-line")
        self.run_line.setReadOnly(True)
        self.run_line.setFont(mono)
        self.run_line.setToolTip("The docker command this form corresponds to")
        named(self.run_line, "docker run line", "The docker command this form corresponds to")
        self.copy_line = QToolButton(self)
        self.copy_line.setObjectName("run-line-copy")
        self.copy_line.setText("Copy")
        named(self.copy_line, "Copy the docker run line")
        icon_beside_text(self.copy_line, "copy")
        self.copy_line.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.run_line.text()))
        line_row = QHBoxLayout()
        line_row.addWidget(self.run_line, 1)
        line_row.addWidget(self.copy_line)

        self.error = QLabel(self)
        self.error.setObjectName("run-error")
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.run_button = self.buttons.addButton("Run", QDialogButtonBox.ButtonRole.AcceptRole)
        self.run_button.setObjectName("run-submit")
        set_icon(self.run_button, "run")
        cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        if cancel is not None:
            set_icon(cancel, "close")
        self.run_button.setDefault(True)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Image", self.image_box)
        self.edit_note = QLabel(self)
        self.edit_note.setObjectName("run-edit-note")
        self.edit_note.setWordWrap(True)
        self.edit_note.setProperty("role", "hint")
        self.edit_note.hide()
        form.addRow(self.edit_note)
        form.addRow(self.warning)
        form.addRow("Name", self.name)
        form.addRow("Ports", self.ports)
        form.addRow("Volumes", self.volumes)
        form.addRow("Environment", self.env)
        form.addRow(self.advanced_toggle)
        form.addRow(self.advanced)
        form.addRow("docker run", line_row)
        form.addRow(self.error)
        form.addRow(self.buttons)
        self.setMinimumWidth(560)
        # The Advanced fields are made in another order than they show.
        tab_chain([self.advanced_toggle, self.command, self.entrypoint, self.restart, self.network, self.remove,
                   self.labels.add_button, self.platform, self.run_line, self.copy_line])

        for edit in (self.name, self.platform, self.command, self.entrypoint):
            edit.textChanged.connect(self._update)
        for rows in (self.ports, self.volumes, self.env, self.labels):
            rows.changed.connect(self._update)
        self.restart.currentTextChanged.connect(self._update)
        self.image_box.currentTextChanged.connect(self._update)
        self.network.currentTextChanged.connect(self._update)
        self.remove.toggled.connect(self._update)
        self._update()

    # -- edit and recreate ---------------------------------------------------------------------

    def fill(self, form: RunForm) -> None:
        """Every field from `form` (a container's settings, for Edit and recreate)."""
        self.name.setText(form.name)
        for row in form.ports:
            self.ports.add_row(row.container, row.host)
        for source, target in form.volumes:
            self.volumes.add_row(source, target)
        for key, value in form.env:
            self.env.add_row(key, value)
        for key, value in form.labels:
            self.labels.add_row(key, value)
        self.command.setText(form.command)
        self.entrypoint.setText(form.entrypoint)
        self.restart.setCurrentText(form.restart)
        if form.network and self.network.findText(form.network) < 0:
            self.network.addItem(form.network)
        self.network.setCurrentText(form.network)
        self.remove.setChecked(form.remove)
        self.platform.setText(form.platform)
        if form.command or form.entrypoint or form.restart != "no" or form.network or form.labels or form.remove:
            self.show_advanced(True)
        self._update()

    def edit(self, name: str) -> None:
        """Recreate mode: the same name, a Recreate button, and what recreating does said first."""
        self.editing = name
        self.setWindowTitle(f"Edit {name}")
        self.name.setText(name)
        self.name.setReadOnly(True)
        self.name.setToolTip("Recreated under the same name")
        self.edit_note.setText(
            f"Recreate replaces {name} with a container made from this form: it is stopped and removed once "
            "the new one is created, under the same name. Named volumes and their data stay; files written "
            "inside the container itself (not in a volume) go with it.")
        self.edit_note.show()
        self.run_button.setText("Recreate")
        self.run_button.setToolTip("docker stop, docker rm, then this docker run")

    # -- what the engine says about the image --------------------------------------------------

    def set_image_details(self, details: dict[str, Any], networks: list[str]) -> None:
        """The image's config (its EXPOSE ports become rows, its command decides the warning) and
        the engine's networks for the Network choice."""
        self.has_command = image_has_command(details)
        self._drop_image_ports()
        shown = {first.text().strip().removesuffix("/tcp") for _, first, _ in self.ports.rows}
        for port in image_ports(details):
            if port not in self._image_ports and port not in shown:
                self._image_ports.add(port)
                self.ports.add_row(port, "", fixed_left=True, right_hint="not published (type a port)")
        for network in networks:
            if self.network.findText(network) < 0:
                self.network.addItem(network)
        self._update()

    def choose_image(self, image: str) -> None:
        """Run `image` instead: the last image's EXPOSE rows go (unless typed in), its details are asked for."""
        image = image.strip()
        if image == self.image:
            return
        self.image = image
        self.setWindowTitle(f"Run {image}" if image else "Run a container")
        self.has_command = None
        self._drop_image_ports()
        self._update()
        if image:
            self.imageChosen.emit(image)

    def _on_image_text(self, text: str) -> None:
        # A pick from the list is a choice at once; typing is one once it pauses.
        if self.image_box.findText(text) >= 0:
            self.choose_image(text)
        else:
            self._typed.start()

    def _drop_image_ports(self) -> None:
        """Rows an image's EXPOSE made, not published by hand: they belong to that image only."""
        for entry in list(self.ports.rows):
            _, first, second = entry
            if first.isReadOnly() and first.text() in self._image_ports and not second.text().strip():
                self.ports.remove_row(entry)
        self._image_ports.clear()

    def show_advanced(self, shown: bool = True) -> None:
        self.advanced_toggle.setChecked(shown)
        self.advanced_toggle.setText("Advanced ▾" if shown else "Advanced ▸")
        self.advanced.setVisible(shown)
        self.adjustSize()

    # -- the form ------------------------------------------------------------------------------

    def form(self) -> RunForm:
        ports = tuple(PortRow(container, host, container in self._image_ports and first.isReadOnly())
                      for (_, first, _), (container, host) in zip(self.ports.rows, self.ports.values(), strict=True))
        return RunForm(
            image=self.image_box.currentText().strip(), name=self.name.text(), ports=ports,
            volumes=tuple(self.volumes.values()),
            env=tuple(self.env.values()), command=self.command.text(), entrypoint=self.entrypoint.text(),
            restart=self.restart.currentText(), network=self.network.currentText(), remove=self.remove.isChecked(),
            labels=tuple(self.labels.values()), platform=self.platform.text(),
        )

    def _missing_command(self) -> bool:
        return self.has_command is False and not self.command.text().strip() and not self.entrypoint.text().strip()

    def _update(self, *_: object) -> None:
        form = self.form()
        # No image chosen yet: the line says where it goes rather than quoting an empty word.
        self.run_line.setText((form if form.image else dataclasses.replace(form, image="IMAGE")).docker_run_line())
        self.run_line.setCursorPosition(0)
        if self._missing_command():
            self.warning.setText(f"{self.image} has no command of its own, so it would not start: "
                                 "give one under Advanced → Command (e.g. sleep 300).")
            self.warning.show()
        else:
            self.warning.hide()

    def _submit(self) -> None:
        if not self.image_box.currentText().strip():
            self.image_box.setFocus()
            self.show_error("Choose the image to run, e.g. busybox:latest.")
            return
        self.choose_image(self.image_box.currentText())
        if self._missing_command():
            # Said before the engine refuses it, and where to type the fix.
            self.show_advanced(True)
            self.command.setFocus()
            self.show_error("Give a command first: this image has none of its own.")
            return
        form = self.form()
        try:
            config = form.create_body()
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.error.hide()
        self.run_button.setEnabled(False)
        self.run_button.setText("Recreating…" if self.editing else "Running…")
        self.runRequested.emit(config, form.name.strip(), form.platform.strip())

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()
        self.run_button.setEnabled(True)
        self.run_button.setText("Recreate" if self.editing else "Run")

    def finished_run(self) -> None:
        self.accept()
