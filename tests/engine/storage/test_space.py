"""A full disk said in words naming the data root (engine/storage/space.py); the real full disk is
tests/reliability/test_disk_full.py."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from engine.errors import DiskFull, NotFound
from engine.storage.space import disk_full, disk_full_said, human_size

pytestmark = pytest.mark.unit


def test_enospc_names_the_data_root_and_what_is_free(tmp_path: Path) -> None:
    full = disk_full(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), tmp_path)
    assert isinstance(full, DiskFull) and full.status == 500
    assert full.message.startswith("no space left on device: ")
    assert f"berthd's data root {tmp_path} has " in full.message and " free; free space there and retry" in full.message
    assert "internal error" not in full.message


def test_the_failed_writes_path_is_named_when_known(tmp_path: Path) -> None:
    full = disk_full(OSError(errno.ENOSPC, "No space left on device", "/srv/bind/big"), tmp_path)
    assert full is not None and "(writing /srv/bind/big)" in full.message


def test_a_cause_and_sqlite_full_count_and_other_errors_do_not(tmp_path: Path) -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as e:
            raise RuntimeError("layer tar writer failed") from e
    except RuntimeError as wrapped:
        assert disk_full(wrapped, tmp_path) is not None
    db_full = sqlite3.OperationalError("database or disk is full")
    db_full.sqlite_errorcode = sqlite3.SQLITE_FULL  # what sqlite3 sets
    assert disk_full(db_full, tmp_path) is not None
    assert disk_full(OSError(errno.EIO, "Input/output error"), tmp_path) is None
    assert disk_full(ValueError("x"), tmp_path) is None
    quota = disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path)
    assert quota is not None and quota.message.startswith("disk quota exceeded: ")


def test_free_space_is_left_out_when_the_root_cannot_be_read(tmp_path: Path) -> None:
    full = disk_full(OSError(errno.ENOSPC, "No space left on device"), tmp_path / "gone")
    assert full is not None and f"data root {tmp_path / 'gone'}; free space" in full.message


def test_the_block_raises_disk_full_from_the_os_error_and_lets_the_rest_through(tmp_path: Path) -> None:
    with pytest.raises(DiskFull) as caught, disk_full_said(tmp_path):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert isinstance(caught.value.__cause__, OSError)
    with pytest.raises(NotFound), disk_full_said(tmp_path):
        raise NotFound("no such container: x")
    with pytest.raises(PermissionError), disk_full_said(tmp_path):
        raise PermissionError(errno.EACCES, "Permission denied")


def test_sizes_in_the_clis_units() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 3_145_728, 12e9)] == ["0B", "999B", "1kB", "3.15MB", "12GB"]
