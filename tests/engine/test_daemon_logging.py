"""berthd's --log-level debug shows berthd's own lines, not every netlink message pyroute2 exchanges."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

_CHILD = """
import logging
from engine.daemon import configure_logging
configure_logging("debug")
logging.getLogger("pyroute2.netlink.core").debug("a netlink message")
logging.getLogger("pyroute2").info("pyroute2 says something worth saying")
logging.getLogger("engine.networks.service").debug("network join of x: 9.9 ms")
"""


def test_debug_keeps_pyroute2_at_info() -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stderr
    assert "network join of x" in out and "worth saying" in out
    assert "a netlink message" not in out
