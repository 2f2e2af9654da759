"""The Dockerfile parser and Docker's word rules (quotes, escapes, variables)."""

from __future__ import annotations

import pytest

from engine.build.parser import DockerfileError, parse
from engine.build.words import name_values, process_word, split_words
from engine.errors import InvalidArgument

pytestmark = pytest.mark.unit


def test_directives_continuations_comments_and_forms() -> None:
    df = parse("# syntax=docker/dockerfile:1\n# escape=`\n\nFROM busybox AS b\n# c\nRUN echo a `\n# inside\n"
               "    b\nCMD [\"x\", \"y\"]\nCOPY --chown=1:2 --from=b a b\n")
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "`"} and df.escape == "`"
    cmds = [(i.command, i.rest, i.line) for i in df.instructions]
    assert cmds == [("FROM", "busybox AS b", 4), ("RUN", "echo a     b", 6), ("CMD", '["x", "y"]', 9),
                    ("COPY", "a b", 10)]
    assert df.instructions[2].exec_form == ["x", "y"]
    assert df.instructions[3].flags == (("chown", "1:2"), ("from", "b"))
    assert df.instructions[1].exec_form is None


def test_a_directive_after_a_comment_is_a_comment() -> None:
    df = parse("# hello\n# escape=`\nFROM x\n")
    assert df.directives == {} and df.escape == "\\"


def test_heredocs() -> None:
    df = parse("FROM x\nRUN <<EOF\necho 1\necho 2\nEOF\nCOPY <<-'A' <<B /d/\n\tone $X\n\tA\ntwo\nB\nENV K=v\n")
    run, copy, env = df.instructions[1:]
    assert run.heredocs[0].content == "echo 1\necho 2\n" and run.heredocs[0].expand
    assert [(h.name, h.content, h.expand) for h in copy.heredocs] == [("A", "one $X\n", False), ("B", "two\n", True)]
    assert env.command == "ENV" and env.line == 11


def test_errors_name_the_line() -> None:
    with pytest.raises(DockerfileError, match="line 3: unknown instruction: NOPE"):
        parse("FROM x\n\nNOPE y\n")
    with pytest.raises(DockerfileError, match="line 2: unterminated heredoc EOF"):
        parse("FROM x\nRUN <<EOF\necho\n")


def test_words() -> None:
    env = {"A": "1", "E": ""}
    assert process_word("'$A' \"$A\" \\$A ${A}x", env) == "$A 1 $A 1x"
    assert process_word("${B:-def} ${E:-empty} ${E-unset} ${A:+alt} ${B:+alt}", env) == "def empty  alt "
    assert process_word('"a \\" b" c\\ d', env) == 'a " b c d'
    assert process_word("`$A", env, escape="`") == "$A"
    with pytest.raises(InvalidArgument):
        process_word("${B:?needed}", env)
    assert split_words("a 'b c' \"d e\"  f\\ g") == ["a", "'b c'", '"d e"', "f\\ g"]


def test_env_and_label_pairs() -> None:
    assert name_values('A=1 B="two words" C=$X', "ENV", "\\", {"X": "x"}) == [("A", "1"), ("B", "two words"),
                                                                                 ("C", "x")]
    assert name_values("LEGACY value with  spaces", "ENV", "\\", {}) == [("LEGACY", "value with  spaces")]
    assert name_values("\"my key\"='v'", "LABEL", "\\", {}) == [("my key", "v")]
