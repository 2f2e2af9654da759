"""The images, volumes, networks and task tables pass qtmodeltester, and update in place."""

from __future__ import annotations

from typing import Any

import pytest

from app.models.resources import images_model, networks_model, volumes_model
from app.services.jobs import JobCenter
from engine.client import PullProgress, StatsSample

pytestmark = pytest.mark.gui


def test_images_model(qtmodeltester: Any) -> None:
    model = images_model(lambda id: 2 if id == "sha256:a" else 0)
    model.set_items([{"Id": "sha256:a", "RepoTags": ["busybox:latest"], "Size": 1_234_567, "Created": 0},
                     {"Id": "sha256:b", "RepoTags": [], "Size": 10, "Created": 0}])
    qtmodeltester.check(model, force_py=True)
    assert model.data(model.index(0, 0)) == "busybox:latest"
    assert model.data(model.index(0, 2)) == "1.23MB"
    assert model.data(model.index(0, 4)) == "2 containers" and model.data(model.index(1, 4)) == "unused"
    model.set_items([{"Id": "sha256:b", "RepoTags": ["x:1"], "Size": 10, "Created": 0}])
    assert model.rowCount() == 1 and model.data(model.index(0, 0)) == "x:1"


def test_volumes_and_networks_models(qtmodeltester: Any) -> None:
    volumes = volumes_model(lambda name: ["web"] if name == "data" else [])
    volumes.set_items([{"Name": "data", "Driver": "local", "UsageData": {"Size": 2048, "RefCount": 1}},
                       {"Name": "empty", "Driver": "local"}])
    qtmodeltester.check(volumes, force_py=True)
    assert volumes.data(volumes.index(0, 2)) == "2.05kB" and volumes.data(volumes.index(0, 3)) == "web"
    assert volumes.data(volumes.index(1, 2)) == "—"
    networks = networks_model(lambda name: ["web", "db"] if name == "shop" else [])
    networks.set_items([{"Id": "n1", "Name": "shop", "Driver": "bridge", "Scope": "local",
                         "IPAM": {"Config": [{"Subnet": "10.9.0.0/24"}]}}])
    qtmodeltester.check(networks, force_py=True)
    assert networks.data(networks.index(0, 3)) == "10.9.0.0/24"
    assert networks.data(networks.index(0, 4)) == "web, db"


def test_jobs_model(qtmodeltester: Any) -> None:
    jobs = JobCenter()
    job = jobs.add("pulling busybox")
    qtmodeltester.check(jobs, force_py=True)
    job.update(0.42, "layer: Downloading")
    assert jobs.data(jobs.index(0, 0)) == "⟳ pulling busybox 42 %"


@pytest.mark.unit
def test_pull_progress_and_stats_sample() -> None:
    progress = PullProgress()
    progress.feed({"id": "l1", "status": "Downloading", "progressDetail": {"current": 50, "total": 100}})
    progress.feed({"id": "l2", "status": "Downloading", "progressDetail": {"current": 0, "total": 100}})
    assert progress.fraction == 0.125  # half of l1's download, which is half of l1
    progress.feed({"id": "l2", "status": "Download complete"})
    assert progress.fraction == 0.375
    progress.feed({"id": "l2", "status": "Extracting", "progressDetail": {"current": 10, "total": 100}})
    assert progress.fraction == 0.4  # extraction starts from the finished download, never from zero
    progress.feed({"id": "l2", "status": "Pull complete"})
    assert progress.fraction == 0.625
    pushed = PullProgress()
    pushed.feed({"id": "l1", "status": "Pushing", "progressDetail": {"current": 30, "total": 100}})
    assert pushed.fraction == 0.3
    pushed.feed({"id": "l1", "status": "Pushed"})
    assert pushed.fraction == 1.0
    sample = StatsSample.from_api({
        "cpu_stats": {"cpu_usage": {"total_usage": 2_000}, "system_cpu_usage": 20_000, "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 10_000},
        "memory_stats": {"usage": 1_000, "limit": 4_000, "stats": {"inactive_file": 200}},
        "networks": {"eth0": {"rx_bytes": 5, "tx_bytes": 7}},
        "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 3}, {"op": "Write", "value": 4}]},
    })
    assert sample.cpu_percent == 20.0 and sample.memory == 800 and sample.memory_percent == 20.0
    assert (sample.net_rx, sample.net_tx, sample.block_read, sample.block_write) == (5, 7, 3, 4)


@pytest.mark.unit
def test_images_are_listed_one_row_per_name() -> None:
    from PySide6.QtCore import Qt

    from app.models.resources import image_name, image_rows

    rows = image_rows([{"Id": "sha256:a", "RepoTags": ["app:1", "app:latest"]},
                       {"Id": "sha256:b", "RepoTags": ["<none>:<none>"]}, {"Id": "sha256:c"}])
    assert [(r["Id"], r["Tag"]) for r in rows] == [("sha256:a", "app:1"), ("sha256:a", "app:latest"),
                                                  ("sha256:b", ""), ("sha256:c", "")]
    assert [image_name(r) for r in rows] == ["app:1", "app:latest", "<none>", "<none>"]
    model = images_model(lambda _id: 0)
    model.set_items(rows)
    assert model.all_keys() == ["app:1", "app:latest", "sha256:b", "sha256:c"]
    assert model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole) == "also: app:latest"
