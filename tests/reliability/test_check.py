"""`berthd --check`: finds and repairs what a crash or a failing disk leaves, refuses to race a
running berthd, and reports what it cannot repair."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.helpers import import_tar, private_berthd, run_check
from tests.support.daemon import REPO, prerequisites_missing

pytestmark = pytest.mark.integration


def test_check_repairs_and_reports(tmp_path: Path, busybox_tar: Path) -> None:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    with private_berthd(tmp_path / "d") as d:
        image_id = import_tar(d, busybox_tar.read_bytes(), "busybox")
        status, _, body = d.api.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]})
        cid = json.loads(body)["Id"]
        refused = subprocess.run([sys.executable, "-m", "engine.daemon", "--check", "--root", str(d.root),
                                  "--exec-root", str(d.exec_root)], cwd=REPO, capture_output=True, text=True,
                                 timeout=60)
        assert refused.returncode == 2 and "stop it before checking" in refused.stderr, refused
        d.stop()
        code, report = run_check(d, "--no-repair")
        assert code == 0 and report["clean"], report

        blobs = d.root / "images" / "blobs"
        config = blobs / "sha256" / image_id.removeprefix("sha256:")
        config.write_bytes(config.read_bytes() + b" ")  # bit rot in the image's config
        (blobs / "tmp" / "blob-half").write_bytes(b"partial")
        (d.root / "images" / "layers" / ("ab" * 32)).mkdir()  # a layer dir without a row
        (d.root / "containers" / ("cd" * 32)).mkdir()  # a container dir without a row
        (d.exec_root / "exits" / ("ef" * 32)).write_text("0")
        (d.root / "containers" / cid / "upper").rmdir()
        (d.root / "containers" / cid / "work").rmdir()
        (d.root / "containers" / cid).rmdir()  # a created container whose dirs were never made

        out = subprocess.run([sys.executable, "-m", "engine.daemon", "--check", "--root", str(d.root),
                              "--exec-root", str(d.exec_root)], cwd=REPO, capture_output=True, text=True, timeout=60)
        # the corrupt config is quarantined, and the image that needs it reported as unrepairable
        assert out.returncode == 1, out
        assert "corrupt" in out.stdout and "moved to blobs/corrupt" in out.stdout
        assert "FOUND    [images]" in out.stdout and "config blob is missing" in out.stdout
        for fixed in ("uncommitted temp file", "has no row", "data dir cdcdcdcdcdcd has no container row",
                      "exit file efefefefefef", f"container {cid[:12]} (created) has no data dir"):
            assert fixed in out.stdout, (fixed, out.stdout)
        assert (blobs / "corrupt" / image_id.removeprefix("sha256:")).exists()
        assert (d.root / "containers" / cid / "upper").is_dir()
        _, report = run_check(d, "--no-repair")
        assert [f["area"] for f in report["findings"]] == ["images"], report
        d.start()
        status, _, body = d.api.request("GET", f"/images/{image_id}/json")
        assert status != 500 or b"corrupt" in body, body
        d.api.request("DELETE", f"/containers/{cid}?force=1")


def test_check_makes_a_paused_row_say_what_the_runtime_says(tmp_path: Path, busybox_tar: Path) -> None:
    """berthd killed between the runtime's resume and the row's write (the crash test met it) leaves
    a row saying paused of a process runc runs: unpause then fails. The check makes the row follow."""
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    with private_berthd(tmp_path / "d") as d:
        import_tar(d, busybox_tar.read_bytes(), "busybox")
        status, _, body = d.api.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "300"],
                                                                        "StopSignal": "SIGKILL"})
        assert status == 201, body
        cid = json.loads(body)["Id"]
        assert d.api.request("POST", f"/containers/{cid}/start")[0] == 204
        d.stop()  # live restore: it keeps running
        db = sqlite3.connect(str(d.root / "berth.db"))
        with db:
            db.execute("UPDATE containers SET state = 'paused' WHERE id = ?", (cid,))
        db.close()
        _, report = run_check(d, "--no-repair")
        assert [f["what"] for f in report["findings"]] == [
            f"container {cid[:12]} is recorded paused but the runtime has it running"], report
        code, report = run_check(d)
        assert code == 0 and report["findings"][0]["repaired"], report
        _, report = run_check(d, "--no-repair")
        assert report["clean"], report
        d.start()
        assert d.api.json("GET", f"/containers/{cid}/json")["State"]["Status"] == "running"
        assert d.api.request("POST", f"/containers/{cid}/pause")[0] == 204
        assert d.api.request("POST", f"/containers/{cid}/unpause")[0] == 204
