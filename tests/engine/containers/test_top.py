"""docker top's tables: ps -ef from a fake /proc, and ps output filtered to a container."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.containers.top import PS_EF_TITLES, cpu_time, parse_ps_output, ps_ef, start_time, tty_name
from engine.errors import RuntimeFailure

pytestmark = pytest.mark.unit


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    p = tmp_path / "proc"
    hz = os.sysconf("SC_CLK_TCK")
    (p / "10").mkdir(parents=True)
    (p / "11").mkdir()
    (p / "stat").write_text("cpu  1 2 3\nbtime 1700000000\n")
    (p / "uptime").write_text("1000.00 900.00\n")
    # pid 10 started at 500 s after boot, used 50 s of CPU; its comm has a space and a paren
    fields = ["S", "1", "10", "10", "34816", "-1", "0", "0", "0", "0", "0", str(40 * hz), str(10 * hz),
              "0", "0", "20", "0", "1", "0", str(500 * hz)] + ["0"] * 30
    (p / "10" / "stat").write_text(f"10 (my (odd) sh) {' '.join(fields)}\n")
    (p / "10" / "status").write_text("Name:\tsh\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n")
    (p / "10" / "cmdline").write_bytes(b"sh\0-c\0sleep 5\0")
    fields11 = list(fields)
    fields11[1] = "10"
    fields11[4] = "0"
    (p / "11" / "stat").write_text(f"11 (kworker) {' '.join(fields11)}\n")
    (p / "11" / "status").write_text("Uid:\t0\t65534\t0\t0\n")
    (p / "11" / "cmdline").write_bytes(b"")
    return p


def test_ps_ef_from_proc(proc: Path) -> None:
    now = 1700000000 + 1000
    table = ps_ef([11, 10, 99], proc, now=now)
    assert table.titles == PS_EF_TITLES
    assert [row[1] for row in table.processes] == ["10", "11"]  # 99 is gone: left out
    sh = table.processes[0]
    assert sh[0] == "root"  # the effective uid, as ps -f shows it
    assert sh[2] == "1"
    assert sh[3] == "10"  # 50 s of CPU over 500 s of life
    assert sh[4] == time.strftime("%H:%M", time.localtime(1700000000 + 500))
    assert sh[5] == "pts/0"
    assert sh[6] == "00:00:50"
    assert sh[7] == "sh -c sleep 5"
    kworker = table.processes[1]
    assert kworker[0] in ("nobody", "65534")
    assert kworker[5] == "?"
    assert kworker[7] == "[kworker]"


def test_formats() -> None:
    assert tty_name(0) == "?"
    assert tty_name(os.makedev(136, 3)) == "pts/3"
    assert tty_name(os.makedev(4, 1)) == "tty1"
    assert tty_name(os.makedev(4, 65)) == "ttyS1"
    assert cpu_time(3 * 86400 + 3661) == "3-01:01:01"
    now = time.mktime((2024, 6, 15, 12, 0, 0, 0, 0, -1))
    assert start_time(now - 3600, now) == time.strftime("%H:%M", time.localtime(now - 3600))
    assert start_time(now - 40 * 86400, now) == time.strftime("%b%d", time.localtime(now - 40 * 86400))
    assert start_time(now - 400 * 86400, now) == "2023"


def test_parse_ps_output_keeps_the_container_rows() -> None:
    out = ("  PID USER     COMMAND\n"
           "    1 root     /sbin/init splash\n"
           "  200 root     sleep 300\n"
           "  201 nobody   sh -c while true; do :; done\n")
    table = parse_ps_output(out, [200, 201])
    assert table.titles == ["PID", "USER", "COMMAND"]
    assert table.processes == [["200", "root", "sleep 300"], ["201", "nobody", "sh -c while true; do :; done"]]


def test_parse_ps_output_needs_a_pid_column() -> None:
    with pytest.raises(RuntimeFailure, match="PID"):
        parse_ps_output("USER COMMAND\nroot init\n", [1])
