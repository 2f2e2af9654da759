from __future__ import annotations

import os

# Before anything imports Qt: tests draw offscreen, with no display.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp/berth-tests-runtime")
os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)

import asyncio  # noqa: E402
import gc  # noqa: E402
import shutil  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from tests.app.support import run_in_loop  # noqa: E402
from tests.engine.client.fake_engine import FakeEngine, short_socket_dir  # noqa: E402


@pytest.fixture(autouse=True)
def _collect_garbage_in_gui_thread() -> Iterator[None]:
    """Qt objects must die in the GUI thread. Automatic collection may run in any thread (the fake
    engine's), destroying a window's leftovers there ("Timers cannot be stopped from another
    thread"): so collect only here, before and after each test (this fixture wraps all others).
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


@pytest.fixture(autouse=True)
def _private_settings(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The desktop's settings (theme, engines, last engine) go to the test's own directory, never
    the user's, and no engine address leaks in from the environment."""
    monkeypatch.setenv("BERTH_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("BERTH_HOST", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)


@pytest.fixture(autouse=True)
def _private_qt_settings(tmp_path: Any) -> Iterator[None]:
    """Qt's own user settings (a file dialog saves its history to QtProject.conf when deleted) go
    to the test's directory, not the home of whoever runs the suite."""
    from PySide6.QtCore import QSettings, QStandardPaths

    original = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    formats = (QSettings.Format.NativeFormat, QSettings.Format.IniFormat)
    for fmt in formats:
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "qt-user-settings"))
    try:
        yield
    finally:
        for fmt in formats:
            QSettings.setPath(fmt, QSettings.Scope.UserScope, original)


@pytest.fixture
def fake_engine() -> Iterator[FakeEngine]:
    directory = short_socket_dir()
    engine = FakeEngine(directory / "engine.sock").start()
    try:
        yield engine
    finally:
        engine.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def qt_loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    """asyncio running inside Qt's loop, as in the app; qtbot.wait*/waitUntil drive both.

    `already_running` makes qasync treat Qt's event processing (which pytest-qt does while a test
    waits) as the running loop, so a test stays synchronous and never nests Qt loops in a task.
    """
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        deadline = loop.time() + 5
        while any(not task.done() for task in pending) and loop.time() < deadline:
            qapp.processEvents()
        # Leave "running" mode by hand: stop() would ask Qt's (not running) loop to exit.
        asyncio.events._set_running_loop(None)
        loop._QEventLoop__is_running = False
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def run_async(qtbot: Any, qt_loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    return lambda coro, timeout=10_000: run_in_loop(qtbot, coro, timeout)


@pytest.fixture
def make_window(qtbot: Any, qapp: Any, run_async: Callable[..., Any]) -> Iterator[Callable[[str], Any]]:
    """Open Berth's main window on an engine URL; its connections are closed after the test."""
    from app.desktop.theme import Theme, apply_theme
    from app.desktop.window import MainWindow

    windows: list[MainWindow] = []
    theme = Theme.load("light")
    apply_theme(qapp, theme)

    def make(url: str | None) -> MainWindow:
        window = MainWindow(url, theme)
        window.show()
        window.start()
        windows.append(window)
        return window

    yield make
    # Shut down first, as the app does when its loop ends, then delete: the services' timers and
    # signals must still exist while they end their work (qtbot.addWidget would delete the window
    # before this teardown runs).
    for window in windows:
        run_async(window.shutdown())
    for window in windows:
        window.close()
        window.deleteLater()
    qapp.processEvents()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The offscreen platform warns whenever a top-level window's layout sets its size limits;
    # that says nothing about our code, every other Qt warning still fails the test.
    ignore = pytest.mark.qt_log_ignore(r"^This plugin does not support propagateSizeHints\(\)$")
    for item in items:
        if item.get_closest_marker("gui") is not None:
            item.add_marker(ignore)
