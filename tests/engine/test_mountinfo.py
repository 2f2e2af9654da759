"""engine/mountinfo.py: proc(5)'s mountinfo lines, escapes and optional fields included."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import mountinfo

pytestmark = pytest.mark.unit

SAMPLE = (
    "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro\n"
    "35 22 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
    "36 22 0:31 /data /mnt/with\\040space rw master:3 shared:4 - overlay over\\011lay rw,lowerdir=/a\n"
    "37 22 0:32 / /no/optional rw - tmpfs tmpfs rw\n"
    "garbage without a separator\n"
)


def test_fields_and_escapes() -> None:
    entries = mountinfo.parse(SAMPLE)
    assert [e.mount_point for e in entries] == ["/", "/sys/fs/cgroup", "/mnt/with space", "/no/optional"]
    cg = entries[1]
    assert (cg.mount_id, cg.parent_id, cg.fstype, cg.super_options) == (35, 22, "cgroup2", ("rw", "nsdelegate"))
    assert (entries[2].root, entries[2].source, entries[2].options) == ("/data", "over\tlay", ("rw",))


def test_reads_a_file_and_this_process(tmp_path: Path) -> None:
    path = tmp_path / "mountinfo"
    path.write_text(SAMPLE)
    assert "/mnt/with space" in mountinfo.mount_points(path)
    assert "/" in mountinfo.mount_points()
