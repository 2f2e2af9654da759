"""`TerminalView`: a terminal drawn from pyte's screen model; keys go to the exec's stdin."""

from __future__ import annotations

from collections.abc import Callable

import pyte
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import (
    QColor,
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


class TerminalView(QWidget):
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
        painter.end()
