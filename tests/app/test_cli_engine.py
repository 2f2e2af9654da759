"""`berth` against a real berthd."""

from __future__ import annotations

from typing import Any

import pytest

from app import cli

pytestmark = pytest.mark.integration


def test_run_ps_and_version(berthd: Any, busybox_image: str, capfd: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--host", berthd.url, "run", "--rm", busybox_image, "sh", "-c", "echo hi; exit 3"]) == 3
    assert capfd.readouterr().out == "hi\n"
    assert cli.main(["--host", berthd.url, "ps", "-a"]) == 0
    assert capfd.readouterr().out.startswith("CONTAINER ID")
    assert cli.main(["--host", berthd.url, "version"]) == 0
    assert "Server: Berth" in capfd.readouterr().out
