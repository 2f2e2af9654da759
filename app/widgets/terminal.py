"""`TerminalView`: a terminal drawn from pyte's screen model; keys go to the exec's stdin.

Tab belongs to the shell (completion), so the way out is Ctrl+Tab (Ctrl+Shift+Tab backwards), as in
VS Code's terminal. A screen reader hears the line the cursor is on, and the new text as it comes.
"""

from __future__ import annotations

from collections.abc import Callable

import pyte
from PySide6.QtCore import QRect, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAccessible,
    QColor,
    QFocusEvent,
    QFont,
    QFontDatabase,
    QFontMetrics,
    QGuiApplication,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import QWidget

from app.models.ansi import BASIC
from app.widgets.accessibility import Painted, announce, value_changed

_NAMES = ["black", "red", "green", "brown", "blue", "magenta", "cyan", "white"]
_KEYS = {
    Qt.Key.Key_Return: b"\r",
    Qt.Key.Key_Enter: b"\r",
    Qt.Key.Key_Backspace: b"\x7f",
    Qt.Key.Key_Tab: b"\t",
    Qt.Key.Key_Escape: b"\x1b",
    Qt.Key.Key_Up: b"\x1b[A",
    Qt.Key.Key_Down: b"\x1b[B",
    Qt.Key.Key_Right: b"\x1b[C",
    Qt.Key.Key_Left: b"\x1b[D",
    Qt.Key.Key_Home: b"\x1b[H",
    Qt.Key.Key_End: b"\x1b[F",
    Qt.Key.Key_Delete: b"\x1b[3~",
    Qt.Key.Key_PageUp: b"\x1b[5~",
    Qt.Key.Key_PageDown: b"\x1b[6~",
}


def _color(value: str, default: QColor, bright: bool = False) -> QColor:
    if value == "default":
        return default
    if value in _NAMES:
        return QColor(BASIC[_NAMES.index(value) + (8 if bright else 0)])
    if value.startswith("bright"):
        name = value[len("bright") :]
        if name in _NAMES:
            return QColor(BASIC[_NAMES.index(name) + 8])
    if len(value) == 6:
        return QColor(f"#{value}")
    return default


class _Screen(pyte.Screen):
    """pyte's screen whose answers to the program's queries (cursor position, device attributes)
    go back to its stdin."""

    def __init__(self, columns: int, lines: int, answer: Callable[[str], object]) -> None:
        super().__init__(columns, lines)
        self._answer = answer

    def write_process_input(self, data: str) -> None:
        self._answer(data)


LEAVE_KEYS = "Ctrl+Tab"  # what takes the focus out of the terminal (Tab goes to the shell)
DESCRIPTION = ("Keys go to the shell in the container, Tab too. Ctrl+Tab moves to the next control, "
               "Ctrl+Shift+Tab to the previous one; Ctrl+Shift+C and Ctrl+Shift+V copy and paste.")


class TerminalView(QWidget, Painted):
    typed = Signal(bytes)  # what to send to the process
    resized = Signal(int, int)  # rows, columns

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("terminal")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.setFont(font)
        metrics = QFontMetrics(font)
        self._cw = max(1, metrics.horizontalAdvance("M"))  # columns and rows follow from these
        self._lh = max(1, metrics.height())
        self._ascent = metrics.ascent()
        self.vt = _Screen(80, 24, lambda data: self.typed.emit(data.encode()))
        self.stream = pyte.ByteStream(self.vt)
        self.background = QColor("#1e1e1e")
        self.foreground = QColor("#d4d4d4")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAccessibleName("Terminal")
        self.setAccessibleDescription(DESCRIPTION)
        # New output is said once it settles (a burst is one announcement, not one per chunk).
        self._said = ""
        self._say_output = QTimer(self)
        self._say_output.setSingleShot(True)
        self._say_output.setInterval(300)
        self._say_output.timeout.connect(self._announce_output)

    @property
    def cell_width(self) -> int:
        return self._cw

    @property
    def cell_height(self) -> int:
        return self._lh

    def grid_size(self) -> tuple[int, int]:
        """The rows and columns this widget's size holds in its font (4 px margin each side)."""
        return max(4, (self.height() - 8) // self._lh), max(20, (self.width() - 8) // self._cw)

    def feed(self, data: bytes) -> None:
        self.stream.feed(data)
        self.update()
        if self.hasFocus():
            self._say_output.start()

    def cursor_line(self) -> str:
        return self.vt.display[self.vt.cursor.y].rstrip() if 0 <= self.vt.cursor.y < self.vt.lines else ""

    def accessible_role(self) -> QAccessible.Role:
        return QAccessible.Role.Terminal

    def accessible_value(self) -> str:
        return self.cursor_line()

    def _announce_output(self) -> None:
        # What came after the text said last; when the screen scrolled, the lines after the part
        # of the old screen still showing at the top (its last line may have been typed on since).
        text = self.text()
        if text.startswith(self._said):
            new = text[len(self._said):]
        else:
            stable, lines = self._said.split("\n")[:-1], text.split("\n")
            kept = next((k for k in range(min(len(stable), len(lines)), 0, -1) if stable[-k:] == lines[:k]), 0)
            new = "\n".join(lines[kept:])
        self._said = text
        if new.strip():
            announce(self, new.strip())
        value_changed(self)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.vt.display).rstrip("\n")

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text())

    def paste(self) -> None:
        text = QGuiApplication.clipboard().text()
        if text:
            # Bracketed paste is up to the shell; a plain paste sends the text as typed.
            self.typed.emit(text.replace("\n", "\r").encode())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event: QShowEvent) -> None:
        # A pane laid out while hidden (another tab in front) gets its real size when shown.
        super().showEvent(event)
        self._fit()

    def _fit(self) -> None:
        rows, columns = self.grid_size()
        if (rows, columns) != (self.vt.lines, self.vt.columns):
            self.vt.resize(rows, columns)
            self.resized.emit(rows, columns)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        modifiers = event.modifiers()
        ctrl = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
        shift = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        if ctrl and event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
            self.leave(forward=not shift and event.key() == Qt.Key.Key_Tab)
            return
        if ctrl and shift and event.key() == Qt.Key.Key_C:
            self.copy()
            return
        if ctrl and shift and event.key() == Qt.Key.Key_V:
            self.paste()
            return
        if event.key() in _KEYS:
            self.typed.emit(_KEYS[Qt.Key(event.key())])
            return
        if ctrl and Qt.Key.Key_A <= event.key() <= Qt.Key.Key_Z:
            self.typed.emit(bytes([event.key() - Qt.Key.Key_A + 1]))
            return
        text = event.text()
        if text:
            self.typed.emit(text.encode())
            return
        super().keyPressEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:
        return False  # Tab belongs to the shell

    def leave(self, forward: bool = True) -> None:
        """Ctrl+Tab: the focus to the next (or previous) control, as Tab does elsewhere."""
        parent = self.parentWidget()
        if parent is not None:
            # Qt's own step (this widget's override refuses it): the window's chain from here.
            QWidget.focusNextPrevChild(parent, forward)

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self._said = self.text()  # what is on screen is read as the value; only new text is announced
        self.update()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.background)
        bold = QFont(self.font())
        bold.setBold(True)
        screen = self.vt
        for y in range(screen.lines):
            line = screen.buffer[y]
            top = 4 + y * self._lh
            x = 0
            while x < screen.columns:
                char = line[x]
                start = x
                text = [char.data]
                x += 1
                while x < screen.columns:
                    nxt = line[x]
                    if (nxt.fg, nxt.bg, nxt.bold, nxt.reverse, nxt.underscore) != (
                        char.fg, char.bg, char.bold, char.reverse, char.underscore
                    ):
                        break
                    text.append(nxt.data)
                    x += 1
                fg = _color(char.fg, self.foreground, char.bold)
                bg = _color(char.bg, self.background)
                if char.reverse:
                    fg, bg = bg, fg
                rect = QRect(4 + start * self._cw, top, (x - start) * self._cw, self._lh)
                if bg != self.background:
                    painter.fillRect(rect, bg)
                run = "".join(text)
                if run.strip():
                    painter.setFont(bold if char.bold else self.font())
                    painter.setPen(fg)
                    painter.drawText(rect.left(), top + self._ascent, run)
        if not screen.cursor.hidden:
            cursor = QRect(4 + screen.cursor.x * self._cw, 4 + screen.cursor.y * self._lh, self._cw, self._lh)
            color = QColor(self.foreground)
            color.setAlpha(160 if self.hasFocus() else 70)
            painter.fillRect(cursor, color)
        if self.hasFocus():  # where the keys go is seen, not only guessed from the cursor's shade
            painter.setPen(self.palette().color(self.palette().ColorRole.Highlight))
            painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()
