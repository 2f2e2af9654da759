"""ANSI SGR escape sequences (colours, bold, underline) turned into styled spans; no Qt here.

Only what logs and prompts use: SGR (`ESC [ ... m`). Other CSI sequences (cursor moves, erase)
are dropped from the text, since a log line is not a screen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

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


# SGR codes that switch one attribute on or off.
_SWITCHES: dict[int, Callable[[Style], Style]] = {
    1: lambda s: replace(s, bold=True), 22: lambda s: replace(s, bold=False),
    3: lambda s: replace(s, italic=True), 23: lambda s: replace(s, italic=False),
    4: lambda s: replace(s, underline=True), 24: lambda s: replace(s, underline=False),
    7: lambda s: replace(s, inverse=True), 27: lambda s: replace(s, inverse=False),
    39: lambda s: replace(s, fg=None), 49: lambda s: replace(s, bg=None),
}


def _extended_color(codes: list[int], i: int) -> tuple[str | None, int]:
    """The colour of `38;5;n` / `38;2;r;g;b` (or 48) starting at codes[i], and how many codes it used."""
    if i + 2 < len(codes) and codes[i + 1] == 5:
        return color_256(codes[i + 2] % 256), 2
    if i + 4 < len(codes) and codes[i + 1] == 2:
        r, g, b = (max(0, min(255, c)) for c in codes[i + 2 : i + 5])
        return f"#{r:02x}{g:02x}{b:02x}", 4
    return None, 0


def _apply(style: Style, params: str) -> Style:
    codes = [int(p) if p.isdigit() else 0 for p in params.replace(":", ";").split(";")] if params else [0]
    i = 0
    while i < len(codes):
        code = codes[i]
        if code == 0:
            style = PLAIN
        elif code in _SWITCHES:
            style = _SWITCHES[code](style)
        elif 30 <= code <= 37 or 90 <= code <= 97:
            style = replace(style, fg=BASIC[code - 30 if code < 90 else code - 82])
        elif 40 <= code <= 47 or 100 <= code <= 107:
            style = replace(style, bg=BASIC[code - 40 if code < 100 else code - 92])
        elif code in (38, 48) and i + 1 < len(codes):
            color, used = _extended_color(codes, i)
            style = replace(style, fg=color) if code == 38 else replace(style, bg=color)
            i += used
        i += 1
    return style


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
