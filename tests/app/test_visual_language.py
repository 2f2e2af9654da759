"""One visual language across every page (#22): one icon set recoloured per theme, one toolbar
factory with a primary action per page, one row height and header alignment, state chips, row
actions on hover, a high-contrast theme that meets WCAG AA, accessible names."""

from __future__ import annotations

import re
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QIcon, QImage
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPushButton,
    QTableView,
    QToolBar,
    QTreeView,
    QWidget,
)

from app.desktop.theme import THEMES, Theme
from app.display import Tone
from app.models.containers import Column
from app.resources import RESOURCES, themed_icon
from app.widgets.chrome import FACTORY_PROPERTY, ROW_HEIGHT, TOOLBAR_PROPERTY, Toolbar
from app.widgets.containers_page import ContainerDelegate
from app.widgets.sidebar import PLACES
from tests.app.support import state_text
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui

LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


def icon_colors(icon: QIcon, mode: QIcon.Mode = QIcon.Mode.Normal) -> set[str]:
    """The colours of an icon's drawn pixels at 16 px (straight alpha: an edge's colour is its stroke's)."""
    image = icon.pixmap(16, 16, mode).toImage().convertToFormat(QImage.Format.Format_ARGB32)
    colors = set()
    for y in range(image.height()):
        for x in range(image.width()):
            color = image.pixelColor(x, y)
            if color.alpha() >= 128:
                colors.add(color.name())
    return colors


def drawn_in(colors: set[str], name: str) -> bool:
    """Every colour is `name`, give or take rendering's rounding of an edge (a few units a channel)."""
    want = QColor(name)
    return bool(colors) and all(
        max(abs(QColor(c).red() - want.red()), abs(QColor(c).green() - want.green()),
            abs(QColor(c).blue() - want.blue())) <= 6 for c in colors)


def pages(window: Any) -> dict[str, QWidget]:
    return {key: window.pages.widget(index) for key, index in window._page_index.items()}


def test_one_icon_set_drawn_in_each_theme_text_colour(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    # The set is ours and one for all themes: every icon but the brand's draws in currentColor only.
    icons = sorted(p for p in (RESOURCES / "icons").glob("*.svg") if p.stem != "berth")
    assert len(icons) >= 30
    for path in icons:
        svg = path.read_text()
        assert "currentColor" in svg, path.name
        assert not re.search(r"#[0-9a-fA-F]{3,6}\b", svg), f"{path.name} hard-codes a colour"
    window = make_window(fake_engine.url)
    for name in ("light", "dark", "high-contrast"):
        theme = Theme.load(name)
        window.use_theme(theme)
        text = theme.colors["text"]
        # Each place in the sidebar has its icon, in the theme's text colour (the selected one in
        # the selection's text colour).
        for row, (key, _) in enumerate(PLACES):
            icon = window.sidebar.places.item(row).icon()
            assert not icon.isNull(), key
            assert drawn_in(icon_colors(icon), text), (name, key, icon_colors(icon))
            assert drawn_in(icon_colors(icon, QIcon.Mode.Selected), theme.colors["highlighted_text"])
        # A toolbar's icon is redrawn for the new theme too; a primary one in the accent's text colour.
        assert drawn_in(icon_colors(window.images_page.push_button.icon()), text)
        assert drawn_in(icon_colors(window.images_page.pull_button.icon()), theme.colors["highlighted_text"])
    assert drawn_in(icon_colors(themed_icon("stop", color="#ff0000")), "#ff0000")


def test_every_toolbar_comes_from_the_factory(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: window.connection.status.reachable is True)
    primaries: dict[str, list[str]] = {}
    for key, page in pages(window).items():
        assert not page.findChildren(QToolBar), f"{key} has a toolbar of its own"
        if key == "settings":  # a form, no toolbar
            continue
        toolbar = getattr(page, "toolbar", None)
        assert isinstance(toolbar, Toolbar), key
        buttons = toolbar.findChildren(QPushButton)
        assert buttons, key
        for button in buttons:
            label = f"{key}: {button.text()}"
            assert button.property(TOOLBAR_PROPERTY) is True, f"{label} has not the toolbar's look"
            assert button.property(FACTORY_PROPERTY) is True, f"{label} not made by toolbar_button"
            assert not button.icon().isNull(), f"{label} has no icon"
            assert button.accessibleName(), label
            assert button.toolTip(), label
        primaries[key] = [b.text() for b in buttons if b.property("primary")]
    stats_buttons = {b.text() for b in window.stats_page.toolbar.findChildren(QPushButton)}
    assert {"Export CSV…", "Export JSON…"} <= stats_buttons, stats_buttons
    assert primaries == {
        "containers": ["Run…"], "stats": [], "images": ["Pull…"], "volumes": ["Create…"],
        "networks": ["Create…"], "compose": ["Open compose file…"], "machines": ["Create…"],
    }
    # The primary action is drawn in the accent colour: its background is the theme's highlight.
    window.show_place("images")
    pull = window.images_page.pull_button
    qtbot.waitUntil(pull.isVisible)
    image = pull.grab().toImage()
    accent = QColor(window.theme.colors["highlight"])
    assert image.pixelColor(6, image.height() // 2).name() == accent.name()
    push = window.images_page.push_button.grab().toImage()
    assert push.pixelColor(6, push.height() // 2).name() != accent.name()


def test_one_row_height_and_header_alignment(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    fake_engine.add_container("web", state="running")
    fake_engine.volumes.append({"Name": "data", "Driver": "local", "Mountpoint": "/x", "Labels": {}, "Scope": "local"})
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    qtbot.waitUntil(lambda: window.images_model.rowCount() == 1 and window.volumes_model.rowCount() == 1)
    views: dict[str, QAbstractItemView] = {
        "containers": window.containers_page.table, "stats": window.stats_page.table,
        "images": window.images_page.table, "volumes": window.volumes_page.table,
        "networks": window.networks_page.table, "compose projects": window.compose_page.table,
        "compose services": window.compose_page.services, "machines": window.machines_page.table,
        "tasks": window.task_panel.table,
    }
    heights = {}
    for key, view in views.items():
        if isinstance(view, QTableView):
            header = view.horizontalHeader()
            assert view.verticalHeader().defaultSectionSize() == ROW_HEIGHT, key
            assert not view.wordWrap(), key  # a long value is elided, never a taller row
        else:
            assert isinstance(view, QTreeView)
            header = view.header()
        assert header.defaultAlignment() == LEFT, key
        if view.model().rowCount():
            heights[key] = view.visualRect(view.model().index(0, 0)).height()
    # Rows people see are the same height on every page (the Containers tree was 14 px, tables 30).
    for place in ("containers", "images", "volumes"):
        window.show_place(place)
        qtbot.wait(10)
    assert {"containers", "images", "volumes"} <= set(heights)
    assert set(heights.values()) == {ROW_HEIGHT}, heights


STATES = [("running", "running", 0, Tone.OK), ("exited", "exited (0)", 0, Tone.NEUTRAL),
          ("crashed", "exited (2)", 2, Tone.ERROR), ("paused", "paused", 0, Tone.WARNING),
          ("restarting", "restarting", 0, Tone.PENDING), ("created", "created", 0, Tone.NEUTRAL),
          ("dead", "dead", 0, Tone.ERROR)]


@pytest.mark.parametrize("theme_name", THEMES)
def test_state_is_a_coloured_chip_with_its_word(
    qtbot: Any, qapp: Any, fake_engine: FakeEngine, make_window: Any, theme_name: str
) -> None:
    from app.desktop.theme import apply_theme

    ids = {}
    for name, _, code, _ in STATES:
        state = "exited" if name == "crashed" else name
        ids[name] = fake_engine.add_container(name, state="running")
        if state != "running":
            fake_engine.set_state(ids[name], state, exit_code=code)
    theme = Theme.load(theme_name)
    apply_theme(qapp, theme)
    try:
        window = make_window(fake_engine.url)
        window.use_theme(theme)
        window.resize(1100, 500)
        qtbot.waitUntil(lambda: all(state_text(window, n) == word for n, word, _, _ in STATES))
        table = window.containers_page.table
        delegate = table.itemDelegate()
        assert isinstance(delegate, ContainerDelegate)
        qtbot.waitUntil(lambda: set(ids.values()) <= set(delegate.chips_painted))
        shot = table.viewport().grab().toImage()
        base = QColor(theme.colors["base"])
        for name, word, _, tone in STATES:
            chip, fill, color, text = delegate.chips_painted[ids[name]]
            assert text == word  # the word, always, never colour alone
            assert color.name() == theme.tones[tone]
            # Inside the chip, left of its word, the fill is drawn: a tint of the tone, not the row's background.
            sample = shot.pixelColor(chip.left() + 4, chip.center().y())
            assert sample.name() == fill.name(), (name, sample.name(), fill.name())
            assert fill.name() != base.name()
            # The word reads on its chip (WCAG AA for text).
            word_color = QColor(theme.colors["text"])
            assert contrast(word_color, fill) >= 4.5, (theme_name, name, contrast(word_color, fill))
    finally:
        apply_theme(qapp, Theme.load("light"))


def row_center(table: QTreeView, row: int) -> QPoint:
    return table.visualRect(table.model().index(row, 0)).center()


def row_of(window: Any, name: str) -> int:
    table = window.containers_page.table
    model = table.model()
    return next(r for r in range(model.rowCount()) if model.index(r, 0).data() == name)


def test_row_actions_on_hover_by_mouse_and_keyboard(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    web = fake_engine.add_container("web", state="running")
    db = fake_engine.add_container("db", state="running")
    fake_engine.set_state(db, "exited")
    window = make_window(fake_engine.url)
    window.resize(1100, 600)
    page = window.containers_page
    table, actions = page.table, page.row_actions
    qtbot.waitUntil(lambda: state_text(window, "web") == "running" and state_text(window, "db") == "exited (0)")
    assert not actions.isVisible()  # no row hovered or selected

    # The pointer over web's row: its actions show at the row's right end, Stop first (it runs).
    qtbot.mouseMove(table.viewport(), row_center(table, row_of(window, "web")))
    qtbot.waitUntil(actions.isVisible)
    assert actions.ids() == [web]
    row = table.visualRect(table.model().index(row_of(window, "web"), 0))
    assert row.top() <= actions.geometry().center().y() <= row.bottom()
    assert actions.toggle.accessibleName() == "Stop"
    # Over db's row they follow the pointer, and offer Start.
    qtbot.mouseMove(table.viewport(), row_center(table, row_of(window, "db")))
    qtbot.waitUntil(lambda: actions.ids() == [db])
    assert actions.toggle.accessibleName() == "Start"
    qtbot.mouseMove(table.viewport(), row_center(table, row_of(window, "web")))
    qtbot.waitUntil(lambda: actions.ids() == [web])
    qtbot.mouseClick(actions.toggle, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state_text(window, "web") == "exited (137)")
    assert actions.toggle.accessibleName() == "Start"
    qtbot.mouseClick(actions.logs, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.detail.tabs.tabText(window.detail.tabs.currentIndex()) == "Logs")
    assert page.current_id() == web

    # Keyboard: db selected, the list focused; Tab reaches the selected row's actions, Space presses.
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    assert page.select_container(db)
    qtbot.mouseMove(window.header)  # the pointer off the list: the actions go to the selected row
    qtbot.waitUntil(lambda: actions.ids() == [db])
    table.setFocus()
    qtbot.waitUntil(table.hasFocus)
    qtbot.keyClick(table, Qt.Key.Key_Tab)
    qtbot.waitUntil(actions.toggle.hasFocus)
    qtbot.keyClick(actions.toggle, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: state_text(window, "db") == "running")
    qtbot.keyClick(actions.toggle, Qt.Key.Key_Tab)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is actions.remove
    assert actions.ids() == [db]  # the focus holds the row, wherever the pointer goes
    qtbot.keyClick(actions.remove, Qt.Key.Key_Space)  # running: asked first
    qtbot.waitUntil(lambda: window.confirmation is not None and window.confirmation.isVisible())
    assert "db" in window.confirmation.text()
    window.confirmation.reject()

    # The stopped web removed from its row with the mouse: no question, the row goes.
    qtbot.mouseMove(table.viewport(), row_center(table, row_of(window, "web")))
    qtbot.waitUntil(lambda: actions.ids() == [web])
    qtbot.mouseClick(actions.remove, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state_text(window, "web") is None)


def luminance(color: QColor) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.red()) + 0.7152 * channel(color.green()) + 0.0722 * channel(color.blue())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio of two colours."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_pairs(theme: Theme) -> dict[str, tuple[str, str]]:
    c = theme.colors
    pairs = {
        "text on base": (c["text"], c["base"]), "text on alternate rows": (c["text"], c["alternate_base"]),
        "window text": (c["window_text"], c["window"]), "button text": (c["button_text"], c["button"]),
        "selected text": (c["highlighted_text"], c["highlight"]), "muted on window": (c["muted_text"], c["window"]),
        "muted on base": (c["muted_text"], c["base"]), "link on base": (c["link"], c["base"]),
        "sidebar text": (c["window_text"], c["sidebar"]),
    }
    for tone, color in theme.tones.items():
        pairs[f"{tone.value} on base"] = (color, c["base"])
        pairs[f"{tone.value} on window"] = (color, c["window"])
    return pairs


def test_high_contrast_theme_meets_wcag_aa(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    theme = Theme.load("high-contrast")
    ratios = {name: contrast(QColor(fg), QColor(bg)) for name, (fg, bg) in text_pairs(theme).items()}
    assert min(ratios.values()) >= 4.5, ratios  # AA for body text, every pair
    assert all(ratios[k] >= 7 for k in ("text on base", "window text", "button text", "selected text"))  # AAA
    # Light and dark keep AA for their text too.
    for name in ("light", "dark"):
        for pair, (fg, bg) in text_pairs(Theme.load(name)).items():
            assert contrast(QColor(fg), QColor(bg)) >= 4.5, (name, pair, contrast(QColor(fg), QColor(bg)))

    # Settings offers it beside light and dark; the choice is applied and kept.
    window = make_window(fake_engine.url)
    window.show_place("settings")
    button = window.settings_page.theme_buttons["high-contrast"]
    qtbot.waitUntil(button.isVisible)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    try:
        assert window.theme.name == "high-contrast"
        assert window.settings.theme == "high-contrast"
        assert QApplication.palette().color(QApplication.palette().ColorRole.Window).name() == "#000000"
        assert any(command[0] == "Theme: high-contrast" for command in window.palette_commands())
    finally:
        window.choose_theme("light")


def ancestors(widget: QWidget) -> list[QWidget]:
    found = []
    parent = widget.parentWidget()
    while parent is not None:
        found.append(parent)
        parent = parent.parentWidget()
    return found


def test_controls_have_accessible_names(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    """Every control of the pages and chrome this module covers has a name a screen reader says
    (the detail, log and stats widgets are checked by their own tests)."""
    fake_engine.add_container("web", state="running")
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    page = window.containers_page
    page.select_container(page.model.ids()[0])
    roots: list[QWidget] = [window.header, window.task_panel, window.sidebar, page.toolbar, page.row_actions,
                            page.table, window.images_page, window.volumes_page, window.networks_page,
                            window.machines_page, window.settings_page, window.compose_page.toolbar,
                            window.compose_page.table, window.compose_page.services, window.compose_page.empty]
    missing = []
    for root in roots:
        for widget in (root, *root.findChildren(QWidget)):
            if isinstance(widget, QAbstractButton | QLineEdit | QComboBox | QAbstractItemView) and \
                    widget.focusPolicy() & Qt.FocusPolicy.TabFocus and not widget.accessibleName():
                if any(isinstance(a, QComboBox | QAbstractSpinBox) for a in ancestors(widget)):
                    continue  # a combo's or spin box's own parts: the control itself is named
                text = widget.text() if isinstance(widget, QAbstractButton | QLineEdit) else ""
                missing.append(f"{type(widget).__name__} {widget.objectName() or text}")
    assert not missing, missing


def test_icons_are_drawn_on_first_use_each_size_once(
    qtbot: Any, fake_engine: FakeEngine, make_window: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Start is not slowed by icons: an icon renders its SVG when a size is first painted, once."""
    from PySide6.QtSvg import QSvgRenderer

    import app.resources

    rendered: list[int] = []

    class Counting(QSvgRenderer):
        def render(self, painter: Any, *args: Any) -> None:
            rendered.append(painter.device().width())
            super().render(painter, *args)

    monkeypatch.setattr(app.resources, "QSvgRenderer", Counting)
    icon = themed_icon("pull", color="#123456")
    assert rendered == []  # made, not drawn
    icon.pixmap(16, 16)
    icon.pixmap(16, 16)
    assert rendered == [16]
    icon.pixmap(32, 32)
    assert rendered == [16, 32]
    # A window gives dozens of buttons and places their icons, but draws only the ones shown.
    rendered.clear()
    app.resources._cache.clear()
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: window.connection.status.reachable is True)
    icons = [b for b in window.findChildren(QAbstractButton) if not b.icon().isNull()]
    assert len(icons) > 40
    assert len(rendered) < len(icons), (len(rendered), len(icons))


def test_every_action_button_has_an_icon_of_the_set(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    """Beyond the toolbars: the unreachable panel, the container detail (overview, terminal, files,
    inspect), the log panel's actions and the dialogs' buttons carry an icon of the set, redrawn with
    the theme (their names remembered for it)."""
    from PySide6.QtWidgets import QMessageBox

    from app.dialogs.confirm import ask_to_lose_data
    from app.dialogs.run import RunDialog
    from app.widgets.chrome import ICON_PROPERTY

    window = make_window(fake_engine.url)
    detail, logs = window.detail, window.detail.logs
    unreachable = window.containers_page.unreachable
    buttons: dict[str, QAbstractButton] = {
        "retry": unreachable.retry, "trust": unreachable.trust_button, "set up": unreachable.setup_button,
        "copy id": detail.copy_id, "edit": detail.edit_button, "terminal": detail.terminal_button,
        "files up": detail.files_up, "download": detail.files_download, "inspect copy": detail.inspect_view.copy_button,
        "previous match": logs.previous, "next match": logs.next, "filter": logs.filter, "follow": logs.follow,
        "copy lines": logs.copy_button, "save log": logs.save_button,
    }
    run = RunDialog("busybox:latest", window)
    buttons["run"] = run.run_button
    buttons["run copy line"] = run.copy_line
    box = ask_to_lose_data(window, "Remove?", "text", "details", "Remove volume", lambda: None)
    for button in box.buttons():
        buttons[f"confirm {box.buttonRole(button).name}"] = button
    assert isinstance(box, QMessageBox)
    window.show_place("networks")
    dialog = window.networks_page.open_create_dialog()
    buttons["dialog submit"], buttons["dialog cancel"] = dialog.submit, dialog.cancel
    for label, button in buttons.items():
        assert not button.icon().isNull(), f"{label} has no icon"
        assert button.property(ICON_PROPERTY), f"{label}'s icon is not of the set (not redrawn with the theme)"
    # A tool button with words shows them beside its icon.
    for button in (logs.filter, logs.follow, logs.copy_button, logs.save_button, run.copy_line):
        assert button.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonTextBesideIcon, button.text()
    dialog.reject()
    box.reject()
    run.reject()


@pytest.mark.unit
def test_the_desktop_takes_every_theme_on_its_command_line() -> None:
    from app.desktop.main import parse_args

    for name in (*THEMES, "system"):
        assert parse_args(["--theme", name]).theme == name


def test_row_actions_never_cover_the_created_column(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    """The hover actions sit at the list's right end, over the last column (Created): its words stop
    before them, however narrow the column."""
    fake_engine.add_container("web", state="running")
    window = make_window(fake_engine.url)
    window.resize(1180, 600)
    page = window.containers_page
    table, actions = page.table, page.row_actions
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    row = row_of(window, "web")
    table.setCurrentIndex(table.model().index(row, 0))
    qtbot.waitUntil(actions.isVisible)
    header = table.header()
    created = int(Column.CREATED)

    def ink(image: QImage, xs: range, cell: Any) -> list[int]:
        """The columns of `xs` where something is drawn on the cell's background (its words)."""
        ground = image.pixelColor(cell.left() + 1, cell.top() + 2)
        return [x for x in xs for y in range(cell.top() + 4, cell.bottom() - 4)
                if max(abs(image.pixelColor(x, y).red() - ground.red()),
                       abs(image.pixelColor(x, y).green() - ground.green()),
                       abs(image.pixelColor(x, y).blue() - ground.blue())) > 60]

    for width in (60, 90, 140, 260):  # the Created column's width left by the others
        others = sum(header.sectionSize(c) for c in range(created))
        table.setColumnWidth(0, max(40, header.sectionSize(0) + table.viewport().width() - others - width))
        QApplication.processEvents()
        actions.place()
        cell = table.visualRect(table.model().index(row, created))
        assert cell.width() > 0 and actions.isVisible()
        actions.hide()
        image = table.viewport().grab().toImage()
        actions.show()
        under = ink(image, range(actions.geometry().left(), min(cell.right(), image.width() - 1)), cell)
        assert not under, f"Created's words under the row actions at width {width}: x {min(under)}…{max(under)}"
    # The words are there, before the actions, when the column has room.
    assert ink(image, range(cell.left(), actions.geometry().left()), cell)
