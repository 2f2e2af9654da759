"""Settings → Engines: add engines on other hosts (TLS, SSH), switch between them, and remember them."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.desktop.window import MainWindow
from app.services.settings import Settings
from tests.support.remote import SshHost, TLSDockerd

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def _item(window: MainWindow, name: str) -> Any:
    page = window.settings_page
    for row in range(page.contexts.count()):
        item = page.contexts.item(row)
        if f" {name} — " in item.text():
            return item
    return None


def _add(window: MainWindow, name: str, url: str, tls: tuple[Path, Path, Path] | None = None) -> None:
    page = window.settings_page
    page.new_name.setText(name)
    page.new_url.setText(url)
    if tls is not None:
        assert page.tls.isEnabled()  # offered for tcp:// only
        page.tls.setChecked(True)
        for key, path in zip(("ca", "cert", "key"), tls, strict=True):
            page.tls_files[key].setText(str(path))
    page.add_button.click()


def _use(qtbot: Any, window: MainWindow, name: str) -> None:
    item = _item(window, name)
    assert item is not None, f"{name} is not listed"
    url = item.data(256)
    window.settings_page.contexts.setCurrentItem(item)
    window.settings_page.use.click()
    qtbot.waitUntil(lambda: window.connection.status.reachable is not None and window.connection.url == url
                    and window.connection.status.url == url, timeout=20_000)


def test_tls_engine_added_used_and_remembered(
    qtbot: Any, berthd: Any, tls_engine: TLSDockerd, make_window: Callable[[str], MainWindow]
) -> None:
    window = make_window(berthd.url)
    window.show_place("settings")
    pki = tls_engine.pki
    _add(window, "tls dockerd", tls_engine.url, (pki.ca, pki.cert, pki.key))
    assert _item(window, "tls dockerd") is not None
    assert "TLS" in _item(window, "tls dockerd").text()
    _use(qtbot, window, "tls dockerd")
    status = window.connection.status
    assert status.reachable is True, status.reason
    assert status.description.startswith("Docker Engine")
    assert window.header.engine.currentData() == tls_engine.url
    # The next window (no --host) opens on the engine chosen last, with its TLS files.
    later = make_window(None)  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: later.connection.status.reachable is not None, timeout=20_000)
    assert later.connection.url == tls_engine.url
    assert later.connection.status.reachable is True, later.connection.status.reason


def test_tls_engine_without_client_files_is_unreachable_with_the_reason(
    qtbot: Any, berthd: Any, tls_engine: TLSDockerd, make_window: Callable[[str], MainWindow]
) -> None:
    window = make_window(berthd.url)
    window.show_place("settings")
    _add(window, "plain", tls_engine.url)
    _use(qtbot, window, "plain")
    status = window.connection.status
    # Plain HTTP to a TLS port: dockerd says so, and the window shows it instead of hanging.
    assert status.reachable is False
    assert "HTTPS" in status.reason or "http" in status.reason.lower(), status.reason


@pytest.mark.parametrize(("name", "url", "tls", "says"), [
    ("", "unix:///x.sock", False, "Give the engine a name"),
    ("bad", "docker.sock", False, "not an engine address"),
    ("bad", "tcp://:2376", False, "names no host"),
    ("local berthd", "unix:///x.sock", False, "built-in engine"),
    ("tls", "tcp://127.0.0.1:2376", True, r"CA certificate .*absent-ca\.pem does not exist"),
])
def test_bad_engine_is_refused_and_nothing_stored(
    qtbot: Any, fake_engine: Any, make_window: Callable[[str], MainWindow], tmp_path: Path,
    name: str, url: str, tls: bool, says: str,
) -> None:
    window = make_window(fake_engine.url)
    before = [c.name for c in window.settings.contexts()]
    missing = tmp_path / "absent-ca.pem"
    _add(window, name, url, (missing, missing, missing) if tls else None)
    message = window.settings_page.message
    assert message.isVisibleTo(window.settings_page) and message.property("role") == "error"
    assert re.search(says, html.unescape(message.text())), message.text()
    assert [c.name for c in window.settings.contexts()] == before
    assert [c.name for c in Settings().contexts()] == before  # nothing written to the file either


def test_ssh_engine_switch_and_back(
    qtbot: Any, remote: SshHost, berthd: Any, busybox_image: str, fake_engine: Any,
    make_window: Callable[[str], MainWindow],
) -> None:
    window = make_window(fake_engine.url)
    window.show_place("settings")
    url = f"ssh://{remote.alias}{berthd.socket}"
    _add(window, "remote berthd", url)
    _use(qtbot, window, "remote berthd")
    status = window.connection.status
    assert status.reachable is True, status.reason
    assert status.description.startswith("Berth ")
    assert window.connection.url == url  # the address the user chose, not the tunnel's socket
    tunnel = Path(window.connection.client.url.removeprefix("unix://"))
    assert tunnel.is_socket()
    # Containers listed through the tunnel are berthd's.
    created = berthd.api.request("POST", "/containers/create?name=seen-over-ssh",
                                 b'{"Image": "busybox:latest", "Cmd": ["true"]}', {"Content-Type": "application/json"})
    assert created[0] == 201, created
    try:
        window.show_place("containers")
        qtbot.waitUntil(lambda: window.containers_model.find_by_name("seen-over-ssh") is not None, timeout=20_000)
    finally:
        berthd.api.request("DELETE", "/containers/seen-over-ssh?force=1")
    # Back to the first engine: the tunnel is closed and its socket removed.
    window.switch_engine(fake_engine.url)
    qtbot.waitUntil(lambda: window.connection.status.reachable is True and not tunnel.exists(), timeout=20_000)


def test_ssh_engine_with_unknown_host_key_shows_the_fingerprint(
    qtbot: Any, remote: SshHost, berthd: Any, fake_engine: Any, make_window: Callable[[str], MainWindow]
) -> None:
    (remote.home / ".ssh" / "known_hosts").write_text("")
    window = make_window(fake_engine.url)
    window.switch_engine(f"ssh://{remote.alias}{berthd.socket}")
    qtbot.waitUntil(lambda: window.connection.status.reachable is False, timeout=20_000)
    assert "is not known" in window.connection.status.reason and "SHA256:" in window.connection.status.reason
    # The containers page says why in place, and does not suggest starting berthd here.
    message = window.containers_page.unreachable.message
    assert "Is not known" in message or "is not known" in message
    assert "Start it with" not in message and "another engine in Settings" in message
    # Checked with the host's owner: trust it from the panel, and the engine answers.
    trust = window.containers_page.unreachable.trust_button
    assert trust.isVisibleTo(window.containers_page.unreachable)
    trust.click()
    qtbot.waitUntil(lambda: window.connection.status.reachable is True, timeout=20_000)
    assert window.connection.status.description.startswith("Berth ")
    assert not trust.isVisibleTo(window.containers_page.unreachable)
    trusted = (Path(os.environ["BERTH_CONFIG_DIR"]) / "known_hosts").read_text()
    assert trusted == remote.known_hosts_line.rsplit(" ", 1)[0] + "\n"  # the key, without its comment


def test_user_engine_can_be_removed(qtbot: Any, fake_engine: Any, make_window: Callable[[str], MainWindow]) -> None:
    window = make_window(fake_engine.url)
    window.show_place("settings")
    _add(window, "spare", "unix:///run/spare.sock")
    page = window.settings_page
    builtin = _item(window, "current")  # the built-in engines whose socket is absent here are not listed
    page.contexts.setCurrentItem(builtin)
    assert not page.remove.isEnabled()  # built-in engines stay
    page.contexts.setCurrentItem(_item(window, "spare"))
    assert page.remove.isEnabled()
    page.remove.click()
    assert _item(window, "spare") is None
    assert "spare" not in [c.name for c in Settings().contexts()]
    assert window.header.engine.findText("spare", Qt.MatchFlag.MatchContains) == -1


def test_tls_choices_show_for_tcp_addresses_only(
    qtbot: Any, fake_engine: Any, make_window: Callable[[str], MainWindow]
) -> None:
    window = make_window(fake_engine.url)
    window.show_place("settings")
    page = window.settings_page
    ca = page.tls_files["ca"]
    for url, tls_shown in (("ssh://me@box", False), ("unix:///x.sock", False), ("tcp://box:2376", True)):
        page.new_url.setText(url)
        assert page.tls.isVisible() == tls_shown and page.tls.isEnabled() == tls_shown
        assert not ca.isVisible()  # the files only once TLS is ticked
    page.tls.setChecked(True)
    assert ca.isVisible() and ca.isEnabled()
    page.new_url.setText("ssh://me@box")
    assert not ca.isVisible() and not page.tls.isVisible()
