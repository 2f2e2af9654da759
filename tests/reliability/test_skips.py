"""The test command's skip accounting (tests/support/skips.py): an unlisted skip fails the run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.expected_skips import EXPECTED
from tests.support.skips import Skip, SkipAccount, expected

pytestmark = pytest.mark.unit


def _report(nodeid: str, reason: str) -> Any:
    return SimpleNamespace(nodeid=nodeid, skipped=True, longrepr=("file.py", 1, f"Skipped: {reason}"))


def _finish(account: SkipAccount) -> int:
    session: Any = SimpleNamespace(exitstatus=pytest.ExitCode.OK)
    account.pytest_sessionfinish(session)
    return int(session.exitstatus)


def test_a_skip_nobody_listed_fails_a_strict_run() -> None:
    account = SkipAccount(strict=True)
    account.pytest_runtest_logreport(_report("tests/e2e/test_images.py::test_pull", "needs skopeo"))
    assert account.unexpected() == [Skip("tests/e2e/test_images.py::test_pull", "needs skopeo")]
    assert _finish(account) == pytest.ExitCode.TESTS_FAILED


def test_a_listed_skip_passes_and_a_lenient_run_only_reports() -> None:
    strict = SkipAccount(strict=True)
    strict.pytest_collectreport(_report("tests/e2e/test_conformance.py::test_docker_py",
                                        "CONFORMANCE NOT RUN: the runner is absent"))
    assert strict.unexpected() == [] and _finish(strict) == pytest.ExitCode.OK
    lenient = SkipAccount(strict=False)
    lenient.pytest_runtest_logreport(_report("tests/x.py::t", "needs root"))
    assert _finish(lenient) == pytest.ExitCode.OK


def test_the_reason_must_match_not_only_the_test() -> None:
    assert expected(Skip("tests/e2e/test_conformance.py::test_docker_py", "needs root")) is None
    assert all(entry.why and entry.reason for entry in EXPECTED)
