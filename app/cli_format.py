"""`--format` as docker users write it: a small, documented subset of Go templates.

Supported (what scripts use):
- `json`: one JSON object per line; `table`: the verb's default table;
- `table TEMPLATE`: a table whose header row names the fields (`{{.ID}}` -> `CONTAINER ID`);
- `{{.Field}}`, `{{.A.B}}` (nested, as `{{.State.Status}}` on inspect), `{{json .}}`, `{{json .X}}`,
  `{{upper .X}}`, `{{lower .X}}`, `{{len .X}}`, `{{index .X "key"}}`, `{{join .X ","}}`, `{{println}}`;
- `{{range .X}}...{{end}}` (a map's values in key order, a list's items; `{{else}}` when empty) and
  `{{if .X}}...{{else}}...{{end}}`, as in `{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}`;
- `\\t` and `\\n` written literally in the format stand for a tab and a newline, as in docker.
Anything else is an error that names the unsupported part, not silently wrong output.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}")


class FormatError(ValueError):
    """A --format that is not in the supported subset; the message says which part."""


def _lookup(value: Any, path: str) -> Any:
    if path == ".":
        return value
    for part in path.strip(".").split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def _text(value: Any) -> str:
    # Go prints a nil as <no value>, maps as map[k:v], booleans lowercase.
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_text(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_text(v) for v in value) + "]"
    return str(value)


def _evaluate(action: str, item: Any) -> str:
    words = shlex.split(action, posix=True)
    if not words:
        return ""
    if len(words) == 1 and words[0].startswith("."):
        return _text(_lookup(item, words[0]))
    name, args = words[0], [_lookup(item, w) if w.startswith(".") else w for w in words[1:]]
    if name == "json" and len(args) == 1:
        return json.dumps(args[0], separators=(",", ":"), ensure_ascii=False)
    if name in ("upper", "lower") and len(args) == 1:
        text = _text(args[0])
        return text.upper() if name == "upper" else text.lower()
    if name == "len" and len(args) == 1:
        return str(len(args[0] or []))
    if name == "index" and len(args) == 2:
        container = args[0]
        if isinstance(container, Mapping):
            return _text(container.get(str(args[1])))
        if isinstance(container, list):
            return _text(container[int(args[1])])
        return "<no value>"
    if name == "join" and len(args) == 2:
        return str(args[1]).join(_text(v) for v in args[0] or [])
    if name == "println" and not args:
        return "\n"
    raise FormatError(f"template: unsupported action {{{{{action}}}}} (berth supports .Field, json, upper, "
                      "lower, len, index, join, println)")


# A parsed template: text, an action, or a block (`range X` / `if X`, its body, an `else` body).
_Node = tuple[str, Any, Any, Any]


def _parse(pieces: list[str], at: int) -> tuple[list[_Node], int, str]:
    """Nodes from pieces[at:] (text and actions alternate) up to an `end` or `else`; that word and
    where parsing stopped."""
    nodes: list[_Node] = []
    while at < len(pieces):
        piece, is_action = pieces[at], at % 2 == 1
        at += 1
        if not is_action:
            if piece:
                nodes.append(("text", piece, None, None))
            continue
        word = piece.split(" ", 1)[0]
        if word in ("end", "else"):
            return nodes, at, word
        if word in ("range", "if"):
            body, at, stop = _parse(pieces, at)
            other: list[_Node] = []
            if stop == "else":
                other, at, stop = _parse(pieces, at)
            if stop != "end":
                raise FormatError(f"template: unexpected EOF: {{{{{piece}}}}} has no {{{{end}}}}")
            nodes.append((word, piece[len(word):].strip(), body, other))
        else:
            nodes.append(("action", piece, None, None))
    return nodes, at, ""


def _value(expression: str, item: Any) -> Any:
    return _lookup(item, expression) if expression.startswith(".") and " " not in expression else (
        _evaluate(expression, item))


def _truth(value: Any) -> bool:
    # Go's template truth: false, 0, nil, and empty strings, lists and maps are false.
    return bool(value) and value != "<no value>"


def _run(nodes: list[_Node], item: Any) -> str:
    out: list[str] = []
    for kind, text, body, other in nodes:
        if kind == "text":
            out.append(text)
        elif kind == "action":
            out.append(_evaluate(text, item))
        elif kind == "if":
            out.append(_run(body if _truth(_value(text, item)) else other, item))
        else:  # range: a map's values in key order, as Go's; a list's items
            value = _value(text, item)
            items = [value[k] for k in sorted(value)] if isinstance(value, Mapping) else list(value or [])
            out.append("".join(_run(body, element) for element in items) if items else _run(other, item))
    return "".join(out)


def render(template: str, item: Any) -> str:
    """One item through one template (no `table` prefix)."""
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    pieces = _ACTION.split(template)  # text, action, text, action, ..., text
    nodes, _, stop = _parse(pieces, 0)
    if stop:
        raise FormatError(f"template: unexpected {{{{{stop}}}}}")
    return _run(nodes, item)


def _header(action: str, headers: Mapping[str, str]) -> str:
    field = action.strip().split()[-1].lstrip(".")
    return headers.get(field, field.upper())


def table(header: Sequence[str], rows: Sequence[Sequence[str]], minwidth: int = 10) -> str:
    """docker's tabwriter layout: columns padded to the widest cell plus three spaces."""
    # tabwriter(minwidth 10, padding 3) as docker's formatter sets it up; `widths` include the padding.
    widths = [max(minwidth, 3 + max(len(str(row[i])) for row in [header, *rows])) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [str(cell).ljust(widths[i]) if i < len(row) - 1 else str(cell) for i, cell in enumerate(row)]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


def output(format: str | None, items: Sequence[Mapping[str, Any]], default: Sequence[str],
           headers: Mapping[str, str], quiet_field: str | None = None, quiet: bool = False) -> str:
    """The listing `items` (display dicts) as `--format` asks; `default` lists the table's fields."""
    if quiet and quiet_field:
        return "\n".join(str(item.get(quiet_field, "")) for item in items)
    if format == "json":
        return "\n".join(json.dumps(dict(item), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
                         for item in items)
    if not format or format == "table":
        format = "table " + "\\t".join("{{." + f + "}}" for f in default)
    if format.startswith("table"):
        body = format[len("table"):].strip().replace("\\t", "\t")
        cells = body.split("\t")
        header = [_ACTION.sub(lambda m: _header(m.group(1), headers), cell) for cell in cells]
        rows = [[render(cell, item) for cell in cells] for item in items]
        return table(header, rows)
    return "\n".join(render(format, item) for item in items)
