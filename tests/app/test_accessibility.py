"""Keyboard and screen readers (issue 23): a focus-chain walk over every page of the main window
(on the fake engine, and the container detail's tabs with the Run and Edit dialogs on a real
berthd container) finds an accessible name for each control Tab reaches, in reading order; the
painted widgets (graphs, the log view, the terminal) answer Qt's accessibility with a role and a
value, and are worked from the keyboard."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QWidget

from app.models.logs import MARK, STDERR, LogBuffer
from app.widgets.log_panel import LogPanel
from app.widgets.stats_graph import Mark, StatsGraph, name_color
from app.widgets.terminal import TerminalView
from tests.app.support import remove_and_close, state_text

pytestmark = pytest.mark.gui

PLACES = ["containers", "stats", "images", "volumes", "networks", "compose", "machines", "settings"]


def accessible_name(widget: QWidget) -> str:
    interface = QAccessible.queryAccessibleInterface(widget)
    return interface.text(QAccessible.Text.Name) if interface is not None else ""


def well_named(widget: QWidget) -> bool:
    """A name with a word in it: not empty, not a symbol (an arrow, a minus, .*), and a combo box's name is
    not merely its current choice."""
    name = accessible_name(widget).strip()
    if not any(c.isalpha() for c in name):
        return False
    if isinstance(widget, QComboBox) and not widget.accessibleName() and name == widget.currentText():
        return widget.isEditable() is False and bool(_buddy_named(widget))
    return True


def _buddy_named(widget: QWidget) -> bool:
    from PySide6.QtWidgets import QLabel

    parent = widget.parentWidget()
    return parent is not None and any(label.buddy() is widget for label in parent.findChildren(QLabel))


def tab_stops(root: QWidget, within: QWidget) -> list[QWidget]:
    """The widgets Tab visits in `root`'s window, in order, that lie inside `within` and show."""
    out: list[QWidget] = []
    widget: QWidget | None = root.nextInFocusChain()
    seen = 0
    while widget is not None and widget is not root and seen < 5000:
        seen += 1
        if (widget.focusPolicy() & Qt.FocusPolicy.TabFocus and widget.isVisible() and widget.isEnabled()
                and (widget is within or within.isAncestorOf(widget)) and widget.focusProxy() is None):
            out.append(widget)
        widget = widget.nextInFocusChain()
    return out


def key(place: str, widget: QWidget) -> tuple[str, str, str]:
    return place, type(widget).__name__, widget.objectName()


def global_rect(widget: QWidget) -> QRect:
    return QRect(widget.mapToGlobal(widget.rect().topLeft()), widget.size())


def out_of_reading_order(before: QWidget, after: QWidget) -> bool:
    """`after` comes before `before` as the eye reads: wholly above it, or on its row (the two
    overlap vertically) and wholly left of it."""
    a, b = global_rect(before), global_rect(after)
    if b.bottom() < a.top():
        return True
    same_row = b.top() <= a.bottom() and a.top() <= b.bottom()
    return same_row and b.right() < a.left() and not (a.contains(b) or b.contains(a))


def check_page(place: str, root: QWidget, within: QWidget, unnamed: list[Any], disorder: list[Any],
               reached: set[QWidget]) -> list[QWidget]:
    stops = tab_stops(root, within)
    reached.update(stops)
    for widget in stops:
        if not well_named(widget):
            unnamed.append((*key(place, widget), accessible_name(widget)))
    for before, after in itertools.pairwise(stops):
        if out_of_reading_order(before, after):
            disorder.append((place, f"{type(before).__name__}#{before.objectName()} {accessible_name(before)!r}",
                             f"{type(after).__name__}#{after.objectName()} {accessible_name(after)!r}"))
    # Every enabled button and field that shows is a Tab stop.
    for control in within.findChildren(QWidget):
        if (isinstance(control, QAbstractButton | QLineEdit | QComboBox) and control.isVisible()
                and control.isEnabled() and control.focusPolicy() & Qt.FocusPolicy.TabFocus
                and control.focusProxy() is None):
            assert control in reached, f"{place}: Tab never reaches {key(place, control)}"
    return stops


def test_every_page_of_the_window_is_named_and_in_order(qtbot: Any, fake_engine: Any, make_window: Any) -> None:
    fake_engine.add_container("web", state="running")
    window = make_window(fake_engine.url)
    window.resize(1280, 860)
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    unnamed: list[Any] = []
    disorder: list[Any] = []
    for place in PLACES:
        window.show_place(place)
        qtbot.wait(50)
        reached: set[QWidget] = set()
        stops = check_page(place, window, window.pages.currentWidget(), unnamed, disorder, reached)
        assert stops, f"{place}: Tab reaches nothing on the page"
    # The window's own chrome around the pages (sidebar, header, task panel).
    reached = set()
    check_page("chrome", window, window.centralWidget(), unnamed, disorder, reached)
    assert window.sidebar.places in reached
    assert not unnamed, f"controls without an accessible name: {unnamed}"
    assert not disorder, f"Tab goes against reading order: {disorder}"


@pytest.mark.integration
def test_container_detail_tabs_and_dialogs_on_a_real_container(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Any, run_async: Any,
) -> None:
    from engine.client import EngineClient

    engine = EngineClient(berthd.url)

    async def start() -> str:
        id = await engine.create_container({"Image": busybox_image, "Cmd": ["sh", "-c", "echo hello; sleep 300"],
                                            "Env": ["GREETING=hi"]}, name="berth-gui-a11y")
        await engine.start(id)
        return id

    id = run_async(start(), timeout=30_000)
    try:
        window = make_window(berthd.url)
        window.resize(1280, 900)
        qtbot.waitUntil(lambda: state_text(window, "berth-gui-a11y") == "running", timeout=10_000)
        assert window.containers_page.select_container(id)
        detail = window.detail
        qtbot.waitUntil(lambda: detail.inspected.get("Id") == id, timeout=10_000)
        unnamed: list[Any] = []
        disorder: list[Any] = []
        for tab in ("Overview", "Logs", "Stats", "Terminal", "Files", "Inspect", "Environment"):
            detail.show_tab(tab)
            if tab == "Terminal":
                qtbot.waitUntil(lambda: "Connected" in detail.terminal_status.text(), timeout=15_000)
            qtbot.wait(100)
            reached: set[QWidget] = set()
            stops = check_page(f"detail {tab}", window, detail, unnamed, disorder, reached)
            assert detail.tabs.tabBar() in stops, tab
            if tab == "Terminal":
                assert detail.terminal in stops and detail.terminal_button in stops
                assert stops.index(detail.terminal_button) < stops.index(detail.terminal)
                assert "Ctrl+Tab leaves the terminal" in detail.terminal_status.text()  # the way out, said
            if tab == "Files":
                qtbot.waitUntil(lambda: detail.files.topLevelItemCount() > 3, timeout=10_000)
                detail.files.setFocus()
                detail.files.setCurrentItem(detail.files.topLevelItem(0))
                qtbot.keyClick(detail.files, Qt.Key.Key_Menu)  # the menu key offers the actions
                menu = detail.files_menu
                assert menu is not None and menu.isVisible()
                assert "Download…" in [a.text() for a in menu.actions()]
                menu.close()
            if tab == "Inspect":
                detail.inspect_view.search.setText('"Id"')
                assert detail.inspect_view.search.property("announced") == "1 of 1"
            if tab == "Stats":
                assert [g for g in detail.graphs if g in stops] == list(detail.graphs)
        detail.show_tab("Overview")

        # The Edit dialog (Edit and recreate) and the Run dialog: their own windows.
        detail.edit_button.click()
        qtbot.waitUntil(lambda: detail.edit_flow.dialog is not None and detail.edit_flow.dialog.isVisible(),
                        timeout=10_000)
        for dialog, place in ((detail.edit_flow.dialog, "edit dialog"),
                              (window.open_run_dialog(busybox_image), "run dialog")):
            assert dialog is not None
            dialog.show_advanced(True)
            dialog.env.add_row("LATE", "row")  # rows added later take their place in the Tab order
            qtbot.wait(50)
            reached = set()
            stops = check_page(place, dialog, dialog, unnamed, disorder, reached)
            assert dialog.env.rows[-1][1] in stops and dialog.run_button in stops
            late = stops.index(dialog.env.rows[-1][1])
            assert stops[late + 1] is dialog.env.rows[-1][2] and stops.index(dialog.env.add_button) > late
            assert stops.index(dialog.command) < stops.index(dialog.restart) < stops.index(dialog.platform)
            dialog.env.add_row("LAST", "row")
            dialog.env.remove_row(dialog.env.rows[0])  # the rows left are renumbered in their names
            assert accessible_name(dialog.env.rows[0][1]) == "Variable 1: NAME"
            assert accessible_name(dialog.env.rows[-1][2]) == f"Variable {len(dialog.env.rows)}: value"
            dialog.reject()
        assert not unnamed, f"controls without an accessible name: {unnamed}"
        assert not disorder, f"Tab goes against reading order: {disorder}"
    finally:
        remove_and_close(run_async, engine, id)


# -- painted widgets -----------------------------------------------------------------------------


def test_graph_is_a_chart_walked_by_arrows_with_each_reading_said(qtbot: Any) -> None:
    graph = StatsGraph("CPU", lambda v: f"{v:.1f} %")
    qtbot.addWidget(graph)
    graph.resize(600, 200)
    end = time.time()
    start = end - 300
    points = [(start + i * 10, float(i)) for i in range(31)]
    chosen: list[float] = []
    graph.pointChosen.connect(chosen.append)
    graph.click_hint = "Click: the logs at this moment"
    graph.set_timed([("web", name_color("web"), points)], start, end, marks=[Mark(start + 100, "exited 3", "die")])
    graph.show()
    qtbot.waitExposed(graph)
    interface = QAccessible.queryAccessibleInterface(graph)
    assert interface.role() == QAccessible.Role.Chart
    assert interface.text(QAccessible.Text.Name) == "CPU graph"
    description = interface.text(QAccessible.Text.Description)
    assert "web 30.0 %" in description and "5 minutes" in description and "exited 3" in description
    assert "Left and Right" in description and "Enter: the logs at this moment" in description
    assert graph.focusPolicy() & Qt.FocusPolicy.TabFocus

    graph.setFocus()
    qtbot.keyClick(graph, Qt.Key.Key_End)
    assert graph.cursor_t == points[-1][0]
    assert "web: 30.0 %" in str(graph.property("announced"))
    qtbot.keyClick(graph, Qt.Key.Key_Left)
    assert graph.cursor_t == points[-2][0] and "web: 29.0 %" in interface.text(QAccessible.Text.Value)
    qtbot.keyClick(graph, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)  # the previous event
    assert graph.cursor_t == start + 100 and "exited 3" in str(graph.property("announced"))
    qtbot.keyClick(graph, Qt.Key.Key_Right)
    assert graph.cursor_t == points[11][0]
    qtbot.keyClick(graph, Qt.Key.Key_Home)
    assert graph.cursor_t == points[0][0]
    qtbot.keyClick(graph, Qt.Key.Key_Return)
    assert chosen == [points[0][0]]  # Enter does what a click there does
    qtbot.keyClick(graph, Qt.Key.Key_Escape)
    assert graph.property("announced")  # (the cursor let go below)
    assert not graph.cursor_words() and "web 30.0 %" in interface.text(QAccessible.Text.Value)

    # Live values reach the description at most every few seconds; a new span or event at once.
    graph.set_timed([("web", name_color("web"), [*points, (end, 99.0)])], start, end,
                    marks=[Mark(start + 100, "exited 3", "die")])
    assert "99.0 %" not in graph.accessibleDescription()
    graph.set_timed([("web", name_color("web"), [*points, (end, 99.0)])], start, end,
                    marks=[Mark(start + 100, "exited 3", "die"), Mark(start + 200, "start", "start")])
    assert "99.0 %" in graph.accessibleDescription() and "start" in graph.accessibleDescription()
    # The limit is named in the legend's words, not by its red dashes alone.
    graph.set_timed([("web", name_color("web"), points)], start, end, limit=50.0)
    assert "limit 50.0 %" in graph.accessibleDescription()


def test_log_view_line_cursor_marks_and_search_are_said(qtbot: Any) -> None:
    buffer = LogBuffer()
    holder = QWidget()  # the panel in a page, as in the app (Tab order is the window's)
    qtbot.addWidget(holder)
    QLineEdit(holder).setObjectName("before")
    panel = LogPanel(buffer, holder)
    QLineEdit(holder).setObjectName("after")
    panel.resize(800, 400)
    buffer.append_lines([f"line {i}" for i in range(200)])
    buffer.append_lines(["── exited with code 3 ──"], MARK)
    buffer.mark_kinds[len(buffer) - 1] = "die"
    buffer.append_lines(["boom"], STDERR)
    buffer.append_lines([f"after {i}" for i in range(50)])
    panel.on_appended()
    holder.resize(800, 400)
    holder.show()
    qtbot.waitExposed(holder)
    qtbot.wait(50)
    view = panel.view
    interface = QAccessible.queryAccessibleInterface(view)
    assert interface.role() == QAccessible.Role.Document
    assert interface.text(QAccessible.Text.Name) == "Log"
    assert "Alt+Down" in interface.text(QAccessible.Text.Description)
    assert "252 lines" in interface.text(QAccessible.Text.Value)

    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Home)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.property("announced") == "line 1 of 252, line 0"
    qtbot.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert view.selected_text() == "line 0\nline 1"
    qtbot.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)  # the next container event
    assert "event: exited with code 3" in str(view.property("announced"))
    assert view.top_row() <= 200 < view.top_row() + view.page_rows()
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert "stderr: boom" in interface.text(QAccessible.Text.Value)  # stderr said in words
    qtbot.keyClick(view, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert "exited with code 3" in str(view.property("announced"))

    # Search: named, its count in the field's description, each step said; F3 from the log.
    assert accessible_name(panel.query) == "Search logs"
    assert all(well_named(w) for w in (panel.previous, panel.next, panel.case, panel.regex, panel.filter))
    panel.set_query("after 4")
    qtbot.waitUntil(lambda: panel.search.done and panel.search.count == 11)
    qtbot.keyClick(panel.query, Qt.Key.Key_Return)
    assert str(panel.query.property("announced")).startswith("match 2 of 11")
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_F3)
    assert str(panel.query.property("announced")).startswith("match 3 of 11")
    qtbot.waitUntil(lambda: "of 11 matches" in panel.query.accessibleDescription(), timeout=3000)
    # Tab reads the panel as it shows: the search bar first, the log after its buttons.
    stops = tab_stops(holder, panel)
    assert stops[0] is panel.query and stops.index(view) > stops.index(panel.save_button)
    view.set_follow(False)
    view.new_lines = 3
    view._show_jump()  # paused with new lines below: the jump button comes right after the log
    stops = tab_stops(holder, panel)
    assert stops[-1] is view.jump and stops[-2] is view and well_named(view.jump)


def test_terminal_keeps_tab_and_lets_go_on_ctrl_tab(qtbot: Any) -> None:
    from PySide6.QtWidgets import QPushButton, QVBoxLayout

    holder = QWidget()
    qtbot.addWidget(holder)
    before = QPushButton("Before", holder)
    terminal = TerminalView(holder)
    after = QPushButton("After", holder)
    layout = QVBoxLayout(holder)
    for widget in (before, terminal, after):
        layout.addWidget(widget)
    holder.show()
    qtbot.waitExposed(holder)
    holder.activateWindow()
    typed: list[bytes] = []
    terminal.typed.connect(typed.append)
    terminal.setFocus()
    qtbot.waitUntil(terminal.hasFocus)
    qtbot.keyClick(terminal, Qt.Key.Key_Tab)
    assert typed == [b"\t"] and terminal.hasFocus()  # Tab is the shell's (completion)
    qtbot.keyClick(terminal, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert after.hasFocus() and typed == [b"\t"]
    terminal.setFocus()
    qtbot.keyClick(terminal, Qt.Key.Key_Backtab,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert before.hasFocus()

    interface = QAccessible.queryAccessibleInterface(terminal)
    assert interface.role() == QAccessible.Role.Terminal
    assert interface.text(QAccessible.Text.Name) == "Terminal"
    assert "Ctrl+Tab" in interface.text(QAccessible.Text.Description)
    terminal.feed(b"/ # ls\r\nbin  etc\r\n/ # ")
    assert interface.text(QAccessible.Text.Value) == "/ #"
    terminal.setFocus()
    qtbot.wait(50)  # the focus-in comes as an event: what shows then is the value, not news
    terminal.feed(b"echo hi\r\nhi\r\n/ # ")
    qtbot.waitUntil(lambda: "hi\n" in str(terminal.property("announced")), timeout=2000)
