"""Variable substitution in compose files and `.env` files, as Compose does it.

`$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?message}`,
`${VAR?message}`, `${VAR:+replacement}`, `${VAR+replacement}`, and `$$` for a literal `$`. Defaults may
themselves hold substitutions (`${A:-${B}}`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engine.compose.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MissingVariable(ConfigError):
    """`${VAR:?message}` on an unset variable: the message is the user's own."""


def interpolate(text: str, env: Mapping[str, str], *, where: str = "", unset: Callable[[str], None] | None = None
                ) -> str:
    """Substitute variables in one string. `unset(name)` is told of each variable used but not set."""
    return _scan(text, env, where, unset)


def _scan(text: str, env: Mapping[str, str], where: str, unset: Callable[[str], None] | None) -> str:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch != "$":
            out.append(ch)
            pos += 1
            continue
        nxt = text[pos + 1] if pos + 1 < len(text) else ""
        if nxt == "$":
            out.append("$")
            pos += 2
        elif nxt == "{":
            value, pos = _braced(text, pos + 2, env, where, unset)
            out.append(value)
        else:
            match = _NAME.match(text, pos + 1)
            if match is None:
                # A lone `$` (or `$` before something that is no name) stays as written.
                out.append("$")
                pos += 1
                continue
            out.append(_lookup(match.group(), env, unset))
            pos = match.end()
    return "".join(out)


def _lookup(name: str, env: Mapping[str, str], unset: Callable[[str], None] | None) -> str:
    if name in env:
        return env[name]
    if unset is not None:
        unset(name)
    return ""


def _braced(text: str, pos: int, env: Mapping[str, str], where: str, unset: Callable[[str], None] | None
            ) -> tuple[str, int]:
    """`${...}` starting after the brace; returns the value and the position after the closing brace."""
    match = _NAME.match(text, pos)
    if match is None:
        raise ConfigError(f"{where}: invalid variable substitution in {text!r}".lstrip(": "))
    name = match.group()
    pos = match.end()
    if pos < len(text) and text[pos] == "}":
        return _lookup(name, env, unset), pos + 1
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if text.startswith(op, pos):
            break
    else:
        raise ConfigError(f"{where}: invalid variable substitution in {text!r}".lstrip(": "))
    # Only evaluate the operand where it is used, so `${A:-${B:?}}` errs only when A is unset.
    start = pos + len(op)
    end = _closing_brace(text, start, where)

    def operand() -> str:
        return _scan(text[start:end], env, where, unset)

    is_set = name in env
    present = (is_set and env[name] != "") if op.startswith(":") else is_set
    kind = op[-1]
    if kind == "-":
        return (env[name] if present else operand()), end + 1
    if kind == "+":
        return (operand() if present else ""), end + 1
    # "?": required
    if present:
        return env[name], end + 1
    message = operand() or f"required variable {name} is missing a value"
    raise MissingVariable(f"{where}: {message}" if where else message)


def _closing_brace(text: str, pos: int, where: str) -> int:
    """The index of the `}` closing a `${` whose operand starts at `pos` (nested `${...}` skipped)."""
    depth = 0
    while pos < len(text):
        if text.startswith("$$", pos):
            pos += 2
            continue
        if text.startswith("${", pos):
            depth += 1
            pos += 2
            continue
        if text[pos] == "}":
            if depth == 0:
                return pos
            depth -= 1
        pos += 1
    raise ConfigError(f"{where}: unterminated variable substitution in {text!r}".lstrip(": "))


def interpolate_tree(value: Any, env: Mapping[str, str], *, path: tuple[str, ...] = (), source: str = "",
                     unset: Callable[[str], None] | None = None) -> Any:
    """Substitute in every string value (not keys) of a loaded YAML tree."""
    if isinstance(value, str):
        where = f"{source}: {'.'.join(path)}" if path else source
        return interpolate(value, env, where=where, unset=unset)
    if isinstance(value, dict):
        return {key: interpolate_tree(item, env, path=(*path, str(key)), source=source, unset=unset)
                for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate_tree(item, env, path=(*path, str(i)), source=source, unset=unset)
                for i, item in enumerate(value)]
    return value


_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=(.*))?$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "\\$"}


def parse_env_file(path: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A `.env` / `env_file`: `KEY=value` lines, `export` allowed, `#` comments, quotes as Compose reads them.

    Unquoted and double-quoted values are interpolated against `env` and the lines before them;
    single-quoted values are literal. A bare `KEY` takes its value from `env`, or is left out."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read env file {path}: {exc.strerror}") from exc
    result: dict[str, str] = {}
    base = dict(env or {})
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            raise ConfigError(f"{path}:{number}: expected KEY=value, got {stripped!r}")
        key, raw = match.group(1), match.group(2)
        if raw is None:
            if key in base:
                result[key] = base[key]
            continue
        scope = {**base, **result}
        where = f"{path}:{number}"
        raw = raw.strip()
        if raw.startswith("'"):
            end = raw.find("'", 1)
            result[key] = raw[1:end] if end > 0 else raw[1:]
        elif raw.startswith('"'):
            value, i = [], 1
            while i < len(raw) and raw[i] != '"':
                if raw[i] == "\\" and i + 1 < len(raw):
                    value.append(_ESCAPES.get(raw[i + 1], "\\" + raw[i + 1]))
                    i += 2
                else:
                    value.append(raw[i])
                    i += 1
            result[key] = interpolate("".join(value), scope, where=where)
        else:
            comment = re.search(r"\s#", raw)
            if comment:
                raw = raw[: comment.start()]
            result[key] = interpolate(raw.strip(), scope, where=where)
    return result
