"""The Dockerfile language, up to instructions: directives, continuations, comments, heredocs,
flags, and the JSON (exec) form.

What the words mean (variables, quotes) is `words.py`'s; what instructions do is the builder's.
Errors name the line, as Docker's parser does: "Dockerfile parse error line 3: ...".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from engine.errors import InvalidArgument

DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
DIRECTIVES = ("syntax", "escape", "check")
HEREDOC_RE = re.compile(r"<<(-?)\s*(?:([\"'])([A-Za-z0-9_.-]+)\2|([A-Za-z0-9_.-]+))")
HEREDOC_COMMANDS = frozenset({"RUN", "COPY", "ADD"})
JSON_COMMANDS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
FLAG_COMMANDS = frozenset({"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"})
COMMANDS = frozenset({"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                      "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"})


class DockerfileError(InvalidArgument):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"Dockerfile parse error line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str
    expand: bool  # an unquoted delimiter: variables are expanded in the content
    strip_tabs: bool  # <<-


@dataclass(frozen=True)
class Instruction:
    command: str  # upper case
    rest: str  # the text after the command and its flags (continuations joined)
    flags: tuple[tuple[str, str], ...]
    line: int  # where it starts (1-based)
    original: str  # as written: the "Step N/M : ..." text
    exec_form: list[str] | None = None  # the JSON form, when the command takes one and it parses
    heredocs: tuple[Heredoc, ...] = ()

    def flag(self, name: str) -> str | None:
        value = None
        for key, v in self.flags:
            if key == name:
                value = v
        return value

    def flag_values(self, name: str) -> list[str]:
        return [v for key, v in self.flags if key == name]


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    directives: dict[str, str] = field(default_factory=dict)
    escape: str = "\\"


def parse(text: str) -> Dockerfile:
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    directives: dict[str, str] = {}
    start = 0
    for i, raw in enumerate(lines):
        m = DIRECTIVE_RE.match(raw)
        if not m or m.group(1).lower() not in DIRECTIVES:
            break
        key = m.group(1).lower()
        if key in directives:
            raise DockerfileError(i + 1, f"only one {key} parser directive can be used")
        directives[key] = m.group(2)
        start = i + 1
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise DockerfileError(1, f"invalid escape token {escape!r} does not match ` or \\")
    out: list[Instruction] = []
    i = start
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        first = i
        logical, i = _logical_line(lines, i, escape)
        command, _, rest = logical.strip().partition(" ")
        if not rest:
            command, _, rest = logical.strip().partition("\t")
        command = command.upper()
        if command not in COMMANDS:
            raise DockerfileError(first + 1, f"unknown instruction: {command}")
        rest = rest.strip()
        heredocs: list[Heredoc] = []
        if command in HEREDOC_COMMANDS:
            for m in HEREDOC_RE.finditer(rest):
                name = m.group(3) or m.group(4)
                body: list[str] = []
                while True:
                    if i >= len(lines):
                        raise DockerfileError(first + 1, f"unterminated heredoc {name}")
                    line = lines[i]
                    i += 1
                    check = line.lstrip("\t") if m.group(1) else line
                    if check == name:
                        break
                    body.append(check)
                heredocs.append(Heredoc(name, "".join(b + "\n" for b in body), expand=m.group(2) is None,
                                        strip_tabs=bool(m.group(1))))
        flags: list[tuple[str, str]] = []
        if command in FLAG_COMMANDS:
            rest, flags = _flags(rest, first + 1)
        exec_form = None
        if command in JSON_COMMANDS and rest.startswith("["):
            try:
                value = json.loads(rest)
            except ValueError:
                value = None
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                exec_form = value
        if not rest and command not in ("RUN", "CMD", "ENTRYPOINT") and not heredocs:
            raise DockerfileError(first + 1, f"{command} requires at least one argument")
        original = (command + " " + logical.strip().partition(" ")[2].strip()).strip()
        out.append(Instruction(command, rest, tuple(flags), first + 1, original, exec_form, tuple(heredocs)))
    return Dockerfile(out, directives, escape)


def _logical_line(lines: list[str], i: int, escape: str) -> tuple[str, int]:
    """One instruction's text, continuation lines joined; comment and empty lines inside skipped."""
    parts: list[str] = []
    while i < len(lines):
        line = lines[i]
        i += 1
        if parts and (not line.strip() or line.lstrip().startswith("#")):
            continue
        trimmed = line.rstrip()
        if trimmed.endswith(escape):  # Docker's rule: any trailing escape token continues
            parts.append(trimmed[:-1])
            continue
        parts.append(line)
        return "".join(parts), i
    return "".join(parts), i


_FLAG_RE = re.compile(r"^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(\S*))?(?:\s+|$)")


def _flags(rest: str, line: int) -> tuple[str, list[tuple[str, str]]]:
    flags: list[tuple[str, str]] = []
    while rest.startswith("--"):
        m = _FLAG_RE.match(rest)
        if m is None:
            raise DockerfileError(line, f"malformed flag in {rest.split()[0]!r}")
        flags.append((m.group(1).lower(), m.group(2) if m.group(2) is not None else "true"))
        rest = rest[m.end():]
    return rest.strip(), flags
