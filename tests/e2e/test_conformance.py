"""docker-py's own integration suite against a private berthd, compared test by test with stock
dockerd: every test dockerd passes must pass here.

The suite and its runner are upstream's code kept beside the project (`../shared/conformance`, or
`$BERTH_CONFORMANCE`), never copied into it. A user's clone has no such folder: then this test is
skipped, and says so in the run's summary, never silently.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.daemon import REPO, Berthd, prerequisites_missing

pytestmark = pytest.mark.e2e

RUNNER = Path(os.environ.get("BERTH_CONFORMANCE", REPO.parent / "shared" / "conformance")) / "docker-py.sh"


def test_docker_py_suite_passes_everything_dockerd_passes(tmp_path: Path) -> None:
    if not RUNNER.is_file():
        pytest.skip(f"CONFORMANCE NOT RUN: {RUNNER} is absent (a clone without ../shared); "
                    "set BERTH_CONFORMANCE to the folder holding docker-py.sh to run it")
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    daemon = Berthd(tmp_path / "berthd")
    try:
        daemon.start()
        out = subprocess.run(["bash", str(RUNNER), daemon.url, str(tmp_path / "out")], capture_output=True,
                             text=True, timeout=1800)
    finally:
        daemon.cleanup()
    report = out.stdout.strip()
    print(report)  # the last line is the figure quoted in closing notes
    assert out.returncode == 0, f"{report}\n{out.stderr[-3000:]}"
    assert "conformance:" in report.splitlines()[-1]
