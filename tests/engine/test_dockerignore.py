"""`.dockerignore` with Docker's pattern rules."""

from __future__ import annotations

import pytest

from engine.dockerignore import IgnoreRules, read_patterns

pytestmark = pytest.mark.unit


def test_patterns_are_cleaned() -> None:
    assert read_patterns("# c\n\n/abs\n./rel/../x\n!  keep\n") == ["abs", "x", "!keep"]


@pytest.mark.parametrize(("path", "excluded"), [
    ("a.log", True), ("keep.log", False), ("sub/a.log", False), ("secret", True), ("secret/x/y", True),
    ("docs/a/b.md", True), ("docs/b.md", True), ("docs/important.md", False), ("docs/other.txt", False),
    ("x/tmp/y", True), ("tmp", True), ("main.txt", False), ("[x]", True),
])
def test_matching(path: str, excluded: bool) -> None:
    rules = IgnoreRules.from_text("*.log\n!keep.log\nsecret\ndocs/**/*.md\n!docs/important.md\n**/tmp\n\\[x\\]\n")
    assert rules.excluded(path) is excluded


def test_last_pattern_wins_and_exceptions_below_an_excluded_dir() -> None:
    rules = IgnoreRules.from_text("dir\n!dir/keep\n")
    assert rules.excluded("dir/other") and not rules.excluded("dir/keep") and rules.has_exclusions
    rules = IgnoreRules.from_text("!a\na\n")
    assert rules.excluded("a")
