"""The detail's Terminal takes its pane's size: columns and rows from the widget and the font, and
the exec's tty resized to them when it opens and on every resize (issue 22: it stayed 80 wide)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.client import EngineClient
from tests.app.support import remove_and_close, state_text

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def _stty(detail: Any) -> tuple[int, int] | None:
    sizes = re.findall(r"^(\d+) (\d+)\s*$", detail.terminal.text(), re.MULTILINE)
    return (int(sizes[-1][0]), int(sizes[-1][1])) if sizes else None


def _asked_size(qtbot: Any, detail: Any, expected: tuple[int, int]) -> tuple[int, int] | None:
    """Asks the shell for its tty's size until it says `expected` (bounded): a line typed while
    busybox's shell sets up its tty can be dropped."""
    answer = None
    for _ in range(5):
        detail.session.write(b"clear; stty size\r")
        try:
            qtbot.waitUntil(lambda: _stty(detail) == expected, timeout=2_000)
        except Exception:
            answer = _stty(detail)
            continue
        return expected
    return answer


def test_a_wide_pane_gives_a_wide_tty(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Any, run_async: Any,
) -> None:
    engine = EngineClient(berthd.url)

    async def start() -> str:
        id = await engine.create_container({"Image": busybox_image, "Cmd": ["sleep", "300"]}, name="berth-gui-tty")
        await engine.start(id)
        return id

    id = run_async(start(), timeout=30_000)
    try:
        window = make_window(berthd.url)
        window.resize(1600, 1000)
        qtbot.waitUntil(lambda: state_text(window, "berth-gui-tty") == "running", timeout=10_000)
        assert window.containers_page.select_container(id)
        detail = window.detail
        detail.show_tab("Terminal")
        qtbot.waitUntil(lambda: detail.session is not None and detail.session.active, timeout=20_000)
        view = detail.terminal
        metrics_columns = (view.width() - 8) // view.cell_width
        assert view.vt.columns == metrics_columns > 80
        wide = view.vt.columns
        qtbot.waitUntil(lambda: "#" in view.text(), timeout=10_000)  # the shell's prompt: it reads
        assert _asked_size(qtbot, detail, (view.vt.lines, view.vt.columns)) == (view.vt.lines, wide), view.text()

        # A narrower pane: the tty follows.
        view.resize(view.width() // 2, view.height())
        qtbot.waitUntil(lambda: view.vt.columns == (view.width() - 8) // view.cell_width, timeout=5_000)
        assert view.vt.columns < wide
        # Typed at once after the resize: the line reaches the tty after the resize, never before.
        detail.session.write(b"clear; stty size\r")
        qtbot.waitUntil(lambda: _stty(detail) is not None and _stty(detail) != (view.vt.lines, wide), timeout=10_000)
        assert _stty(detail) == (view.vt.lines, view.vt.columns), view.text()
    finally:
        remove_and_close(run_async, engine, id)
