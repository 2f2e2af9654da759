"""Desktop flows against the in-memory engine: the command palette (Ctrl+K), the saved theme, and the
task panel's percentage during a pull."""

from __future__ import annotations

import configparser
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from app.desktop.theme import Theme, apply_theme
from app.desktop.window import MainWindow
from app.dialogs.palette import CommandPalette
from app.services.settings import Settings
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui

DARK_WINDOW = Theme.load("dark").colors["window"]
LIGHT_WINDOW = Theme.load("light").colors["window"]


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The window's settings file lives here (never in the user's config dir), where the test reads it."""
    directory = tmp_path / "config"
    directory.mkdir(exist_ok=True)
    monkeypatch.setenv("BERTH_CONFIG_DIR", str(directory))
    return directory


@pytest.fixture
def light_again(qapp: QApplication) -> Iterator[None]:
    """A theme applies to the whole QApplication: hand the next test the light one back."""
    yield
    apply_theme(qapp, Theme.load("light"))


def window_color(app: QApplication) -> str:
    return app.palette().color(QPalette.ColorRole.Window).name()


def saved_theme(directory: Path) -> str | None:
    ini = configparser.ConfigParser(interpolation=None)  # Qt's INI may hold a literal %
    ini.read(directory / "desktop.ini")
    return ini.get("General", "theme", fallback=None)


def open_palette_with_shortcut(qtbot: Any, window: MainWindow) -> CommandPalette:
    """Ctrl+K as a person presses it: the window must be active for its shortcut to fire."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    before = window.command_palette
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.command_palette is not before and window.command_palette is not None
                    and window.command_palette.isVisible())
    palette = window.command_palette
    assert palette is not None
    qtbot.waitUntil(lambda: palette.query.hasFocus())  # typing goes straight to the query
    return palette


def test_palette_shortcut_filters_and_enter_runs_theme_dark(
    qtbot: Any, qapp: QApplication, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow],
    config_dir: Path, light_again: None,
) -> None:
    window = make_window(fake_engine.url)
    assert window_color(qapp) == LIGHT_WINDOW
    palette = open_palette_with_shortcut(qtbot, window)
    everything = palette.visible_titles()
    assert {"Go to Volumes", "Theme: dark", "About Berth"} <= set(everything)

    qtbot.keyClicks(palette.query, "theme da")
    assert palette.visible_titles() == ["Theme: dark"]
    qtbot.keyClick(palette.query, Qt.Key.Key_Return)

    qtbot.waitUntil(lambda: not palette.isVisible())
    assert window_color(qapp) == DARK_WINDOW
    assert window.theme is not None and window.theme.name == "dark"
    assert Theme.load("dark").colors["sidebar"] in qapp.styleSheet()
    assert saved_theme(config_dir) == "dark"


def test_palette_arrow_keys_choose_a_place_and_no_match_runs_nothing(
    qtbot: Any, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow], config_dir: Path,
) -> None:
    window = make_window(fake_engine.url)
    assert window.current_place() == "containers"
    palette = open_palette_with_shortcut(qtbot, window)

    qtbot.keyClicks(palette.query, "nothing-is-called-this")
    assert palette.visible_titles() == []
    qtbot.keyClick(palette.query, Qt.Key.Key_Return)  # nothing chosen: it stays open, nothing runs
    assert palette.isVisible() and window.current_place() == "containers"

    palette.query.clear()
    qtbot.keyClicks(palette.query, "go to")
    titles = palette.visible_titles()
    assert titles[:5] == ["Go to Containers", "Go to Stats", "Go to Images", "Go to Volumes", "Go to Networks"]
    assert all(title.startswith("Go to ") for title in titles)
    for _ in range(3):
        qtbot.keyClick(palette.query, Qt.Key.Key_Down)
    qtbot.keyClick(palette.query, Qt.Key.Key_Up)
    assert palette.list.currentRow() == 2
    qtbot.keyClick(palette.query, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.current_place() == "images")
    assert not palette.isVisible()
    assert window.sidebar.places.currentItem().text() == "Images"
    window.go_back()  # the palette's jump is a step in the history like any other
    assert window.current_place() == "containers"
    assert window.sidebar.places.currentItem().text() == "Containers"


def test_palette_finds_a_container_and_opens_its_logs(
    qtbot: Any, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow], config_dir: Path,
) -> None:
    fake_engine.add_container("web", state="running")
    db = fake_engine.add_container("db", state="running")
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: window.containers_model.rowCount() == 2)
    window.show_place("volumes")
    # The header's button opens the same palette as Ctrl+K.
    qtbot.mouseClick(window.header.palette_button, Qt.MouseButton.LeftButton)
    palette = window.command_palette
    assert palette is not None and palette.isVisible()
    assert {"Container web", "Container db"} <= set(palette.visible_titles())
    qtbot.keyClicks(palette.query, "container db")
    assert palette.visible_titles() == ["Container db"]
    qtbot.keyClick(palette.query, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.current_place() == "containers")
    assert window.containers_page.current_id() == db
    assert window.detail.name == "db"
    assert window.detail.tabs.tabText(window.detail.tabs.currentIndex()) == "Logs"


def test_theme_chosen_on_settings_page_is_saved(
    qtbot: Any, qapp: QApplication, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow],
    config_dir: Path, light_again: None, run_async: Callable[..., Any],
) -> None:
    window = make_window(fake_engine.url)
    window.show_place("settings")
    dark = window.settings_page.theme_buttons["dark"]
    assert dark.objectName() == "theme-dark" and not dark.isChecked()
    qtbot.mouseClick(dark, Qt.MouseButton.LeftButton)
    assert dark.isChecked()
    assert window_color(qapp) == DARK_WINDOW
    assert saved_theme(config_dir) == "dark"

    # A second window reading the same file shows the saved choice on its Settings page.
    again = MainWindow(fake_engine.url, settings=Settings(config_dir / "desktop.ini"))
    qtbot.addWidget(again)
    try:
        assert again.settings.theme == "dark"
        assert again.settings_page.theme_buttons["dark"].isChecked()
        assert not again.settings_page.theme_buttons["system"].isChecked()
    finally:
        run_async(again.shutdown())


def test_new_window_starts_in_the_saved_theme(
    qtbot: Any, qapp: QApplication, fake_engine: FakeEngine, config_dir: Path, light_again: None,
    run_async: Callable[..., Any],
) -> None:
    path = config_dir / "desktop.ini"
    Settings(path).theme = "dark"
    apply_theme(qapp, Theme.load("light"))
    window = MainWindow(fake_engine.url, settings=Settings(path))  # no theme argument: the saved one
    qtbot.addWidget(window)
    try:
        window.show()
        assert window.settings_page.theme_buttons["dark"].isChecked()
        assert window.theme is not None and window.theme.name == "dark"
        assert window_color(qapp) == DARK_WINDOW
    finally:
        run_async(window.shutdown())


# What berthd streams for a one-layer pull (engine/images/pull.py): the layer's Downloading bar,
# then its Extracting bar, each with its own current/total under the same layer id.
_LAYER = "95d054fc4faf"
BERTHD_PULL = [
    {"status": "Pulling from gui/pulled", "id": "1"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": _LAYER},
    {"status": "Downloading", "progressDetail": {"current": 65536, "total": 2 << 20}, "id": _LAYER},
    {"status": "Downloading", "progressDetail": {"current": 2 << 20, "total": 2 << 20}, "id": _LAYER},
    {"status": "Verifying Checksum", "progressDetail": {}, "id": _LAYER},
    {"status": "Download complete", "progressDetail": {}, "id": _LAYER},
    {"status": "Extracting", "progressDetail": {"current": 4096, "total": 2 << 20}, "id": _LAYER},
    {"status": "Extracting", "progressDetail": {"current": 2 << 20, "total": 2 << 20}, "id": _LAYER},
    {"status": "Pull complete", "progressDetail": {}, "id": _LAYER},
    {"status": "Digest: sha256:" + "e" * 64},
    {"status": "Status: Downloaded newer image for gui/pulled:1"},
]


def test_task_panel_percentage_never_goes_back_during_a_pull(
    qtbot: Any, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow], config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = make_window(fake_engine.url)

    async def pull(reference: str, auth: str | None = None) -> Any:
        for item in BERTHD_PULL:
            yield item

    monkeypatch.setattr(window.connection.client, "pull", pull)
    shown: list[str] = []
    window.jobs.jobChanged.connect(lambda job: shown.append(window.task_panel.summary.text()))
    window.show_place("images")
    page = window.images_page
    qtbot.mouseClick(page.pull_button, Qt.MouseButton.LeftButton)
    assert page.pull_dialog is not None
    field = page.pull_dialog.fields["image"]
    qtbot.keyClicks(field, "gui/pulled:1")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.jobs.jobs[0].state == "done")
    qtbot.waitUntil(lambda: not page.pull_dialog.isVisible())  # closed once the pull worked
    percentages = [int(line.rsplit(" ", 2)[1]) for line in shown if line.endswith(" %")]
    assert percentages, shown
    assert percentages == sorted(percentages), shown


def test_failed_volume_export_leaves_no_file(
    qtbot: Any, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow], tmp_path: Path
) -> None:
    window = make_window(fake_engine.url)
    folder = tmp_path / "exports"  # its own folder: the test's settings live in tmp_path too
    folder.mkdir()
    target = folder / "keep.tar"
    target.write_bytes(b"an older export")
    with qtbot.waitSignal(window.volumes.actionFailed, timeout=10_000) as failed:
        window.volumes.export("no-such-volume", str(target))
    assert failed.args[:2] == ["no-such-volume", "export"]
    # The refusal shows in place, the file that was there is untouched and no side file remains.
    assert window.volumes_page.message.property("role") == "error"
    assert target.read_bytes() == b"an older export"
    assert list(folder.iterdir()) == [target]


def test_ctrl_and_a_number_goes_to_that_place(
    qtbot: Any, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow]
) -> None:
    window = make_window(fake_engine.url)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    for number, place in ((2, "stats"), (3, "images"), (8, "settings"), (1, "containers")):
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{number}"), Qt.KeyboardModifier.ControlModifier)
        assert window.current_place() == place
