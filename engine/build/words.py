"""Words in a Dockerfile as Docker's shell lexer reads them: quotes, the escape token and
variables ($name, ${name}, ${name:-default}, ${name:+alt}, ${name-default}, ${name+alt},
${name:?error}).

`process_word` gives one word (quotes removed, variables expanded): ENV and LABEL values,
WORKDIR, USER, COPY sources... `split_words` splits on blanks outside quotes, keeping the quotes
for `process_word` to remove later: ENV/LABEL `key=value` pairs, EXPOSE, VOLUME.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.errors import InvalidArgument

_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME_CHARS = _NAME_START + "0123456789"


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, expand: bool = True) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.expand = expand

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def word(self, stop: str = "") -> str:
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.peek()
            if ch in stop and stop:
                break
            self.pos += 1
            if ch == self.escape:
                nxt = self.next()
                out.append(nxt)
            elif ch == "'":
                end = self.text.find("'", self.pos)
                if end < 0:
                    raise InvalidArgument("unexpected end of statement while looking for matching single-quote")
                out.append(self.text[self.pos:end])
                self.pos = end + 1
            elif ch == '"':
                out.append(self.double_quoted())
            elif ch == "$" and self.expand:
                out.append(self.variable())
            else:
                out.append(ch)
        return "".join(out)

    def double_quoted(self) -> str:
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise InvalidArgument("unexpected end of statement while looking for matching double-quote")
            ch = self.next()
            if ch == '"':
                return "".join(out)
            if ch == self.escape:
                nxt = self.peek()
                if nxt in ('"', "$", self.escape) and nxt:
                    out.append(self.next())
                else:
                    out.append(ch)
            elif ch == "$" and self.expand:
                out.append(self.variable())
            else:
                out.append(ch)

    def name(self) -> str:
        start = self.pos
        if self.peek() and self.peek() in _NAME_START:
            while self.peek() and self.peek() in _NAME_CHARS:
                self.pos += 1
        return self.text[start:self.pos]

    def variable(self) -> str:
        ch = self.peek()
        if ch == "{":
            self.pos += 1
            name = self.name()
            if not name:
                raise InvalidArgument(f"bad substitution in {self.text!r}")
            ch = self.next()
            if ch == "}":
                return self.env.get(name, "")
            colon = ch == ":"
            if colon:
                ch = self.next()
            if ch not in ("-", "+", "?"):
                raise InvalidArgument(f"unsupported modifier ({ch}) in substitution in {self.text!r}")
            word = self.word(stop="}")
            if self.next() != "}":
                raise InvalidArgument(f"missing '}}' in substitution in {self.text!r}")
            value = self.env.get(name)
            is_set = value is not None and (value != "" or not colon)
            if ch == "-":
                return value if is_set and value is not None else word
            if ch == "+":
                return word if is_set else ""
            if not is_set or value is None:
                raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}")
            return value
        name = self.name()
        if not name:
            return "$"
        return self.env.get(name, "")


def process_word(text: str, env: Mapping[str, str], escape: str = "\\", expand: bool = True) -> str:
    """One word: quotes removed, escapes applied, variables expanded (unless `expand` is off)."""
    return _Lexer(text, env, escape, expand).word()


def expand_only(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Variables expanded, nothing else touched: a heredoc's content."""
    out: list[str] = []
    lexer = _Lexer(text, env, escape)
    while lexer.pos < len(text):
        ch = lexer.next()
        if ch == escape and lexer.peek() == "$":
            out.append(lexer.next())
        elif ch == "$":
            out.append(lexer.variable())
        else:
            out.append(ch)
    return "".join(out)


def split_words(text: str, escape: str = "\\") -> list[str]:
    """Split on blanks outside quotes; quotes and escapes stay for `process_word`."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    in_word = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == escape and quote != "'" and i + 1 < len(text):
            current.append(ch + text[i + 1])
            in_word = True
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
            current.append(ch)
        elif ch in ("'", '"'):
            quote = ch
            current.append(ch)
            in_word = True
        elif ch in " \t\n":
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(ch)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(current))
    return words


def name_values(rest: str, instruction: str, escape: str, env: Mapping[str, str],
                expand: bool = True) -> list[tuple[str, str]]:
    """ENV and LABEL: `k=v k2="v 2"`, or the legacy `k v with spaces` (one pair)."""
    words = split_words(rest, escape)
    if not words:
        raise InvalidArgument(f"{instruction} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = rest.strip().partition(" ")
        if not value.strip() and instruction == "ENV":
            raise InvalidArgument(f"{instruction} names can not be blank: {instruction} {rest} must have two arguments")
        return [(process_word(key, env, escape, expand), process_word(value.strip(), env, escape, expand))]
    pairs = []
    for word in words:
        if "=" not in word:
            raise InvalidArgument(f"Syntax error - can't find = in {word!r}. Must be of the form: name=value")
        key, _, value = word.partition("=")
        key = process_word(key, env, escape, expand)
        if not key:
            raise InvalidArgument(f"{instruction} names can not be blank")
        pairs.append((key, process_word(value, env, escape, expand)))
    return pairs
