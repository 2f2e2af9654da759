""".dockerignore with Docker's rules (moby/patternmatcher).

One pattern a line; `#` starts a comment line; blank lines are skipped. A pattern is cleaned like
a path (a leading "/" and "./" mean the context root). `*` matches any run of characters but "/",
`?` one character but "/", `[...]` a class, `**` any number of directories (also none), and the
escape `\\` quotes the next character. `!pattern` re-includes what an earlier pattern excluded;
the last matching pattern decides. A pattern that matches a directory excludes all below it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from engine.errors import InvalidArgument


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool  # a `!` pattern: matching paths are kept
    regex: re.Pattern[str]


def read_patterns(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        body = line[1:].strip() if negate else line
        if body:
            body = posixpath.normpath(body)
            body = body.lstrip("/") if body != "/" else "."
        out.append(("!" if negate else "") + (body or "."))
    return out


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    out.append("(.*/)?")  # `**/` is any number of directories, none included
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f"invalid .dockerignore pattern {pattern!r}: unterminated [")
            body = pattern[i + 1:end]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


class IgnoreRules:
    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [Pattern(p, p.startswith("!"), _compile(p[1:] if p.startswith("!") else p))
                         for p in patterns]

    @classmethod
    def from_text(cls, text: str) -> IgnoreRules:
        return cls(read_patterns(text))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether `path` (relative to the context root, "/"-separated) is left out."""
        path = posixpath.normpath(path).lstrip("/")
        parents = []
        parts = path.split("/")
        for k in range(1, len(parts)):
            parents.append("/".join(parts[:k]))
        matched = False
        for p in self.patterns:
            if p.exclusion != matched:
                continue  # cannot change the outcome
            hit = bool(p.regex.match(path)) or any(p.regex.match(parent) for parent in parents)
            if hit:
                matched = not p.exclusion
        return matched
