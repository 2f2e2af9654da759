"""ANSI SGR escape sequences (colours, bold, underline) turned into styled spans; no Qt here.

Only what logs and prompts use: SGR (`ESC [ ... m`). Other CSI sequences (cursor moves, erase)
are dropped from the text, since a log line is not a screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CSI = re.compile(r"\x1b\[([0-9;:?]*)([@-~])|\x1b[()][0-9A-Za-z]|\x1b[=>]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")

# The xterm default 16 colours, readable on light and dark backgrounds alike.
BASIC = [
    "#000000", "#cd3131", "#0dbc79", "#b58900", "#2472c8", "#bc3fbc", "#11a8cd", "#a0a0a0",
    "#666666", "#f14c4c", "#23d18b", "#d7ba00", "#3b8eea", "#d670d6", "#29b8db", "#e5e5e5",
]


def color_256(n: int) -> str:
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        levels = [0, 95, 135, 175, 215, 255]
        return f"#{levels[n // 36]:02x}{levels[(n // 6) % 6]:02x}{levels[n % 6]:02x}"
    gray = 8 + (n - 232) * 10
    return f"#{gray:02x}{gray:02x}{gray:02x}"


@dataclass(frozen=True, slots=True)
class Style:
    fg: str | None = None
    bg: str | None = None
    bold: bool = False
    italic: bool = False
    underline: bool = False
    inverse: bool = False


PLAIN = Style()


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    style: Style


def strip_ansi(text: str) -> str:
    return CSI.sub("", text) if "\x1b" in text else text


def _apply(style: Style, params: str) -> Style:
    codes = [int(p) if p.isdigit() else 0 for p in params.replace(":", ";").split(";")] if params else [0]
    fg, bg, bold, italic, underline, inverse = (
        style.fg, style.bg, style.bold, style.italic, style.underline, style.inverse
    )
    i = 0
    while i < len(codes):
        code = codes[i]
        if code == 0:
            fg, bg, bold, italic, underline, inverse = None, None, False, False, False, False
        elif code == 1:
            bold = True
        elif code == 3:
            italic = True
        elif code == 4:
            underline = True
        elif code == 7:
            inverse = True
        elif code == 22:
            bold = False
        elif code == 23:
            italic = False
        elif code == 24:
            underline = False
        elif code == 27:
            inverse = False
        elif 30 <= code <= 37:
            fg = BASIC[code - 30 + (8 if False else 0)]
        elif code == 39:
            fg = None
        elif 40 <= code <= 47:
            bg = BASIC[code - 40]
        elif code == 49:
            bg = None
        elif 90 <= code <= 97:
            fg = BASIC[code - 90 + 8]
        elif 100 <= code <= 107:
            bg = BASIC[code - 100 + 8]
        elif code in (38, 48) and i + 1 < len(codes):
            color: str | None = None
            if codes[i + 1] == 5 and i + 2 < len(codes):
                color = color_256(codes[i + 2] % 256)
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                r, g, b = (max(0, min(255, c)) for c in codes[i + 2 : i + 5])
                color = f"#{r:02x}{g:02x}{b:02x}"
                i += 4
            if code == 38:
                fg = color
            else:
                bg = color
        i += 1
    return Style(fg, bg, bold, italic, underline, inverse)


def parse(text: str, style: Style = PLAIN) -> tuple[str, list[Span], Style]:
    """Plain text, its styled spans (plain runs included), and the style in force at the end."""
    if "\x1b" not in text:
        return text, [Span(0, len(text), style)] if text else [], style
    out: list[str] = []
    spans: list[Span] = []
    length = 0
    position = 0
    for match in CSI.finditer(text):
        piece = text[position : match.start()]
        if piece:
            out.append(piece)
            spans.append(Span(length, length + len(piece), style))
            length += len(piece)
        if match.group(2) == "m":
            style = _apply(style, match.group(1))
        position = match.end()
    piece = text[position:]
    if piece:
        out.append(piece)
        spans.append(Span(length, length + len(piece), style))
    return "".join(out), spans, style
