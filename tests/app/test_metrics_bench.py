"""The metrics benchmark command prints its two figures (a small run: two containers)."""

from __future__ import annotations

import re

import pytest

from app.services.metrics_bench import main

pytestmark = pytest.mark.unit


def test_bench_prints_disk_and_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--containers", "2", "--seconds", "30"])
    out = capsys.readouterr().out
    disk = re.search(r"a week of history for 2 containers: ([\d.]+) MB \((\d+) minute rows, (\d+) second rows", out)
    assert disk is not None, out
    assert 2 * (7 * 1440 - 61) <= int(disk.group(2)) <= 2 * 7 * 1440  # a week of minutes, less the last hour
    assert int(disk.group(3)) == 2 * 3600
    assert 0.1 < float(disk.group(1)) < 10
    assert re.search(r"cpu: stats reader for 2 containers, 30 s of readings: [\d.]+ % of one core with history on", out)
