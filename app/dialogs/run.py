"""The Run dialog (docker run -d): name, ports, volumes, environment, command. Opened with `open()`."""

from __future__ import annotations

import shlex
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QWidget


def parse_run_form(
    image: str, name: str, ports: str, volumes: str, env: str, command: str
) -> tuple[dict[str, Any], str]:
    """The `/containers/create` body for the form's fields; raises ValueError naming a bad field."""
    config: dict[str, Any] = {"Image": image}
    host: dict[str, Any] = {}
    if command.strip():
        try:
            config["Cmd"] = shlex.split(command)
        except ValueError as exc:
            raise ValueError(f"command: {exc}") from exc
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in filter(None, (p.strip() for p in ports.replace(",", " ").split())):
        host_part, _, container_part = spec.rpartition(":")
        container_port = container_part if "/" in container_part else f"{container_part}/tcp"
        if not container_port.split("/")[0].isdigit() or (host_part and not host_part.split(":")[-1].isdigit()):
            raise ValueError(f"ports: {spec!r} is not HOST:CONTAINER (e.g. 8080:80)")
        exposed[container_port] = {}
        # As `docker run -p 8000`: a bare port is published too, on a host port the engine picks.
        address, _, port = host_part.rpartition(":")
        bindings.setdefault(container_port, []).append({"HostIp": address, "HostPort": port})
    if exposed:
        config["ExposedPorts"] = exposed
        host["PortBindings"] = bindings
    binds = [v.strip() for v in volumes.replace(",", " ").split() if v.strip()]
    for bind in binds:
        if ":" not in bind:
            raise ValueError(f"volumes: {bind!r} is not SOURCE:/path (e.g. data:/var/lib/data)")
    if binds:
        host["Binds"] = binds
    variables = [line.strip() for line in env.splitlines() if line.strip()]
    for variable in variables:
        if "=" not in variable:
            raise ValueError(f"environment: {variable!r} is not NAME=value")
    if variables:
        config["Env"] = variables
    if host:
        config["HostConfig"] = host
    return config, name.strip()


class RunDialog(QDialog):
    runRequested = Signal(dict, str)  # create body, name

    def __init__(self, image: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("run-dialog")
        self.setWindowTitle(f"Run {image}")
        self.image = image
        self.name = QLineEdit(self)
        self.name.setPlaceholderText("optional, e.g. web")
        self.ports = QLineEdit(self)
        self.ports.setPlaceholderText("e.g. 8080:80 (host:container), 443 (any free host port)")
        self.volumes = QLineEdit(self)
        self.volumes.setPlaceholderText("e.g. data:/var/lib/data")
        self.env = QPlainTextEdit(self)
        self.env.setPlaceholderText("NAME=value, one per line")
        self.env.setFixedHeight(70)
        self.command = QLineEdit(self)
        self.command.setPlaceholderText("default: the image's command")
        self.error = QLabel(self)
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.run_button = self.buttons.addButton("Run", QDialogButtonBox.ButtonRole.AcceptRole)
        self.run_button.setObjectName("run-submit")
        self.run_button.setToolTip("docker run -d")
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Image", QLabel(f"<b>{image}</b>"))
        form.addRow("Name", self.name)
        form.addRow("Ports", self.ports)
        form.addRow("Volumes", self.volumes)
        form.addRow("Environment", self.env)
        form.addRow("Command", self.command)
        form.addRow(self.error)
        form.addRow(self.buttons)

    def _submit(self) -> None:
        try:
            config, name = parse_run_form(self.image, self.name.text(), self.ports.text(), self.volumes.text(),
                                          self.env.toPlainText(), self.command.text())
        except ValueError as exc:
            self.show_error(str(exc))
            return
        # The dialog stays, with everything typed, until the engine has started the container
        # (`finished_run`); a refusal is shown here (`show_error`) for the user to correct.
        self.error.hide()
        self.run_button.setEnabled(False)
        self.run_button.setText("Running…")
        self.runRequested.emit(config, name)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()
        self.run_button.setEnabled(True)
        self.run_button.setText("Run")

    def finished_run(self) -> None:
        self.accept()
