"""What screen readers read of Berth: names and descriptions set in one place, announcements, and
an accessible interface for the widgets Berth paints itself (graphs, the log view, the terminal).

Qt hands AT-SPI (Linux), UI Automation (Windows) and NSAccessibility (macOS) one tree of
`QAccessibleInterface`s. Stock widgets bring theirs; a widget that paints its own content has only
a generic one, with no role and no value. A painted widget subclasses `Painted` and says its role
and its value (the point or line under its keyboard cursor); the factory installed here gives it an
interface that reports them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from typing import TypeVar

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent, QAccessibleEvent, QAccessibleInterface
from PySide6.QtWidgets import QAccessibleWidget, QLayout, QWidget

W = TypeVar("W", bound=QWidget)


def named(widget: W, name: str, description: str = "") -> W:
    """`widget` with an accessible name (and description): for controls whose text is a symbol
    (arrows, a minus, .*), or that have no text at all (fields with a placeholder, combo boxes, tables)."""
    widget.setAccessibleName(name)
    if description:
        widget.setAccessibleDescription(description)
    return widget


def tab_chain(widgets: Iterable[QWidget]) -> None:
    """Tab goes through `widgets` in this order (as the eye reads them), whatever the order they
    were made in, which is Qt's default. Rows added later are placed with this too."""
    for before, after in itertools.pairwise(widgets):
        QWidget.setTabOrder(before, after)


def layout_order(layout: QLayout) -> list[QWidget]:
    """The Tab stops under `layout` in the order its rows and columns place them, which is the
    order the eye reads them; inside a widget of its own (a table, a side panel) the order that
    widget's chain already has, so an order a panel chose for itself is kept."""
    chain = _chain_positions(layout.parentWidget())
    out: list[QWidget] = []

    def stops_in(widget: QWidget) -> list[QWidget]:
        inner = [w for w in widget.findChildren(QWidget) if _takes_tab(w)]
        return ([widget] if _takes_tab(widget) else []) + sorted(inner, key=lambda w: chain.get(w, len(chain)))

    def walk(level: QLayout) -> None:
        for index in range(level.count()):
            item = level.itemAt(index)
            if item is None:
                continue
            if (inner := item.layout()) is not None:
                walk(inner)
            elif (widget := item.widget()) is not None:
                out.extend(stops_in(widget))

    walk(layout)
    return out


def _takes_tab(widget: QWidget) -> bool:
    return bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus) and widget.focusProxy() is None


def _chain_positions(widget: QWidget | None) -> dict[QWidget, int]:
    if widget is None:
        return {}
    root = widget.window()
    positions: dict[QWidget, int] = {}
    current = root.nextInFocusChain()
    while current is not None and current is not root and current not in positions:
        positions[current] = len(positions)
        current = current.nextInFocusChain()
    return positions


def announce(widget: QWidget, text: str) -> None:
    """Have a screen reader say `text` now (a graph's point or a log line under the keyboard cursor).
    Kept on the widget as `announced` too, so tests and sighted helpers can read what was said."""
    widget.setProperty("announced", text)
    if QAccessible.isActive():
        QAccessible.updateAccessibility(QAccessibleAnnouncementEvent(widget, text))


class Painted:
    """Mixin for a QWidget that paints its content: its role, and the text of its current value."""

    def accessible_role(self) -> QAccessible.Role:
        return QAccessible.Role.Client

    def accessible_value(self) -> str:
        return ""


class _PaintedInterface(QAccessibleWidget):
    def __init__(self, widget: QWidget, role: QAccessible.Role) -> None:
        super().__init__(widget, role, "")
        self._painted = widget

    def text(self, t: QAccessible.Text) -> str:
        if t == QAccessible.Text.Value:
            painted = self._painted
            return painted.accessible_value() if isinstance(painted, Painted) else ""
        return super().text(t)


def _factory(key: str, obj: QObject) -> QAccessibleInterface | None:
    if isinstance(obj, QWidget) and isinstance(obj, Painted):
        # Qt keeps the interface in its cache and deletes it with the widget.
        return _PaintedInterface(obj, obj.accessible_role())
    return None


QAccessible.installFactory(_factory)


def value_changed(widget: QWidget) -> None:
    """Tell assistive technology that a painted widget's value changed."""
    if QAccessible.isActive():
        QAccessible.updateAccessibility(QAccessibleEvent(widget, QAccessible.Event.ValueChanged))


class ThrottledDescription(QObject):
    """A description that follows live data (a graph's latest values) at most once per `interval`
    seconds: a screen reader re-reads a description when it changes, and once a second is noise.
    The latest text always lands, `interval` after the one before."""

    def __init__(self, widget: QWidget, interval: float = 5.0) -> None:
        super().__init__(widget)
        self._widget = widget
        self.interval = interval
        self._pending = ""
        self._applied = -1e9
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._apply)

    def set(self, text: str, now: bool = False) -> None:
        self._pending = text
        wait = self.interval - (time.monotonic() - self._applied)
        if now or wait <= 0:
            self._apply()
        elif not self._timer.isActive():
            self._timer.start(int(wait * 1000) + 1)

    def _apply(self) -> None:
        self._timer.stop()
        self._applied = time.monotonic()
        if self._widget.accessibleDescription() != self._pending:
            self._widget.setAccessibleDescription(self._pending)
