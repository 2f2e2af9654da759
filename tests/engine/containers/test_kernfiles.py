"""Kernel files kept open between readings: each reading is the kernel's text of that moment."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from engine.containers.kernfiles import ONCE, KeptFiles

pytestmark = pytest.mark.unit


def test_a_kept_file_reads_what_the_kernel_says_now_and_is_dropped_once_gone() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    files = KeptFiles()
    status = f"/proc/{proc.pid}/status"
    try:
        assert "Name:\tsleep" in (files.text(status) or "")
        proc.send_signal(signal.SIGSTOP)
        for _ in range(100):
            if "State:\tT" in (files.text(status) or ""):
                break
        assert "State:\tT" in (files.text(status) or "")  # the same descriptor, read again
        assert files.text(status) == ONCE.text(status)
    finally:
        proc.kill()
        proc.wait()
    assert files.text(status) is None and ONCE.text(status) is None
    files.close()


def test_a_long_file_is_read_whole(tmp_path: Path) -> None:
    long = tmp_path / "long"
    text = "".join(f"8:{i} Read {i}\n" for i in range(20_000))  # past one 64 KiB read
    long.write_text(text)
    files = KeptFiles()
    assert files.text(str(long)) == text
    assert files.text(str(tmp_path / "missing")) is None
    files.close()
