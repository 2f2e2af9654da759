"""Berth Desktop's settings: engine contexts and the theme, kept in an INI file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Signal

from engine.client.address import BERTH_SOCKET, DOCKER_SOCKET


@dataclass(frozen=True, slots=True)
class Context:
    name: str
    url: str
    note: str = ""
    available: bool = True  # False: a placeholder (remote over SSH comes with machines)


DEFAULT_CONTEXTS = [
    Context("local berthd", f"unix://{BERTH_SOCKET}", "Berth's own engine on this machine"),
    Context("dockerd", f"unix://{DOCKER_SOCKET}", "a stock Docker Engine"),
    Context("podman", "unix:///run/podman/podman.sock", "podman's Docker-compatible socket"),
    Context("remote (SSH)", "ssh://user@host", "a remote engine over SSH — coming with Berth machines", False),
]


def settings_path() -> Path:
    base = os.environ.get("BERTH_CONFIG_DIR") or QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.AppConfigLocation
    )
    return Path(base) / "desktop.ini"


class Settings(QObject):
    changed = Signal()

    def __init__(self, path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = QSettings(str(path or settings_path()), QSettings.Format.IniFormat)

    @property
    def theme(self) -> str:
        value = str(self._store.value("theme", "system"))
        return value if value in ("system", "light", "dark") else "system"

    @theme.setter
    def theme(self, value: str) -> None:
        self._store.setValue("theme", value)
        self._store.sync()
        self.changed.emit()

    def contexts(self, current_url: str | None = None) -> list[Context]:
        contexts = list(DEFAULT_CONTEXTS)
        size = self._store.beginReadArray("contexts")
        for i in range(size):
            self._store.setArrayIndex(i)
            contexts.append(Context(str(self._store.value("name")), str(self._store.value("url")), "added by you"))
        self._store.endArray()
        if current_url and all(c.url != current_url for c in contexts):
            contexts.insert(0, Context("current", current_url, "from --host or the environment"))
        return contexts

    def add_context(self, name: str, url: str) -> None:
        mine = [c for c in self.contexts() if c.note == "added by you" and c.name != name]
        mine.append(Context(name, url, "added by you"))
        self._store.beginWriteArray("contexts", len(mine))
        for i, context in enumerate(mine):
            self._store.setArrayIndex(i)
            self._store.setValue("name", context.name)
            self._store.setValue("url", context.url)
        self._store.endArray()
        self._store.sync()
        self.changed.emit()
