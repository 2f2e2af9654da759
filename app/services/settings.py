"""Berth Desktop's settings: engine contexts and the theme, kept in an INI file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Signal

from engine.client.address import BERTH_SOCKET, DOCKER_SOCKET, check_engine_url
from engine.client.tls import TLSFiles


@dataclass(frozen=True, slots=True)
class Context:
    name: str
    url: str
    note: str = ""
    tls: TLSFiles | None = None  # for tcp:// engines that require TLS (dockerd --tlsverify)

    @property
    def mine(self) -> bool:
        """Added by the user (so it can be removed), not one of the built-in ones."""
        return self.note == ADDED_NOTE


ADDED_NOTE = "added by you"

DEFAULT_CONTEXTS = [
    Context("local berthd", f"unix://{BERTH_SOCKET}", "Berth's own engine on this machine"),
    Context("dockerd", f"unix://{DOCKER_SOCKET}", "a stock Docker Engine"),
    Context("podman", "unix:///run/podman/podman.sock", "podman's Docker-compatible socket"),
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
        return value if value in ("system", "light", "dark", "high-contrast") else "system"

    @theme.setter
    def theme(self, value: str) -> None:
        self._store.setValue("theme", value)
        self._store.sync()
        self.changed.emit()

    @property
    def engine(self) -> str:
        """The engine last chosen in the window ("" if none yet)."""
        return str(self._store.value("engine", "") or "")

    @engine.setter
    def engine(self, url: str) -> None:
        self._store.setValue("engine", url)
        self._store.sync()

    def contexts(self, current_url: str | None = None, extra: Sequence[Context] = ()) -> list[Context]:
        """The built-in engines, `extra` ones known elsewhere (Berth machines), those the user added, and
        the current engine when it is none of them."""
        contexts = [*DEFAULT_CONTEXTS, *extra]
        size = self._store.beginReadArray("contexts")
        for i in range(size):
            self._store.setArrayIndex(i)
            contexts.append(Context(str(self._store.value("name")), str(self._store.value("url")), ADDED_NOTE,
                                    self._read_tls()))
        self._store.endArray()
        if current_url and all(c.url != current_url for c in contexts):
            contexts.insert(0, Context("current", current_url, "from --host or the environment"))
        return contexts

    def context(self, url: str) -> Context | None:
        return next((c for c in self.contexts() if c.url == url), None)

    def add_context(self, name: str, url: str, tls: TLSFiles | None = None) -> Context:
        """Add (or replace, by name) an engine; ValueError says what is wrong with the address."""
        name = name.strip()
        if not name:
            raise ValueError("give the engine a name")
        url = check_engine_url(url)
        if tls is not None and not url.startswith("tcp://"):
            raise ValueError("TLS files apply to tcp:// engines only")
        if tls is not None:
            tls.ssl_context()  # TLSSetupError (a ValueError) names a missing or mismatched file now, not later
        if any(c.name == name for c in DEFAULT_CONTEXTS):
            raise ValueError(f"{name!r} is a built-in engine: choose another name")
        context = Context(name, url, ADDED_NOTE, tls)
        self._write_mine([*(c for c in self.contexts() if c.mine and c.name != name), context])
        return context

    def remove_context(self, name: str) -> None:
        self._write_mine([c for c in self.contexts() if c.mine and c.name != name])

    def _write_mine(self, mine: list[Context]) -> None:
        self._store.remove("contexts")
        self._store.beginWriteArray("contexts", len(mine))
        for i, context in enumerate(mine):
            self._store.setArrayIndex(i)
            self._store.setValue("name", context.name)
            self._store.setValue("url", context.url)
            tls = context.tls
            if tls is not None:
                self._store.setValue("tls_ca", str(tls.ca or ""))
                self._store.setValue("tls_cert", str(tls.cert or ""))
                self._store.setValue("tls_key", str(tls.key or ""))
                self._store.setValue("tls_verify", "yes" if tls.verify else "no")
        self._store.endArray()
        self._store.sync()
        self.changed.emit()

    def _read_tls(self) -> TLSFiles | None:
        verify = self._store.value("tls_verify")
        if verify is None:
            return None

        def path(key: str) -> Path | None:
            value = str(self._store.value(key) or "")
            return Path(value) if value else None

        return TLSFiles(path("tls_ca"), path("tls_cert"), path("tls_key"), str(verify) != "no")
