"""No silent skips: with `--strict-skips` (the test command passes it) a run fails when a test is skipped
for a reason that `tests/expected_skips.py` does not list. Everything the README's commands install is
here when the test command runs, so any other skip is a gap in the set-up, not a pass."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import pytest

from tests.expected_skips import EXPECTED, ExpectedSkip


@dataclass(frozen=True)
class Skip:
    nodeid: str
    reason: str


def reason_of(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def expected(skip: Skip, listed: list[ExpectedSkip] = EXPECTED) -> ExpectedSkip | None:
    for entry in listed:
        if fnmatch.fnmatchcase(skip.nodeid, entry.tests) and entry.reason in skip.reason:
            return entry
    return None


class SkipAccount:
    """A pytest plugin: records every skip, and fails the session on one that is not expected."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.skips: list[Skip] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skips.append(Skip(report.nodeid, reason_of(report)))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:
            self.skips.append(Skip(report.nodeid, reason_of(report)))

    def unexpected(self) -> list[Skip]:
        return [s for s in self.skips if expected(s) is None]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skips:
            return
        terminalreporter.section("skips")
        for skip in self.skips:
            entry = expected(skip)
            verdict = f"expected: {entry.why}" if entry else "NOT EXPECTED"
            terminalreporter.line(f"{skip.nodeid}: {skip.reason} [{verdict}]")
        if self.strict and self.unexpected():
            terminalreporter.line(
                f"{len(self.unexpected())} skip(s) not listed in tests/expected_skips.py: install what they "
                "need (scripts/berth.sh setup), or list them there with the reason they are expected", red=True)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.strict and self.unexpected() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
