"""A service turned into a container create body: Compose's labels, ports, health, limits, volumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compose import ConfigError, load_project_from_dict
from engine.compose.convert import create_body, duration_ns, size_bytes

pytestmark = pytest.mark.unit


def test_duration_and_size() -> None:
    assert duration_ns("1m30s") == 90_000_000_000
    assert duration_ns("500ms") == 500_000_000
    assert duration_ns(2) == 2_000_000_000
    assert size_bytes("512m") == 512 * 1024**2
    assert size_bytes("1g") == 1024**3
    assert size_bytes(1000) == 1000
    with pytest.raises(ConfigError):
        duration_ns("10 seconds")


def test_create_body(tmp_path: Path) -> None:
    project = load_project_from_dict({
        "services": {"web": {
            "image": "busybox", "command": "httpd -f", "ports": ["127.0.0.1:8080:80"], "restart": "on-failure:3",
            "environment": {"A": 1}, "labels": {"mine": "yes"},
            "healthcheck": {"test": "test -f /ok", "interval": "1s", "retries": 5},
            "deploy": {"resources": {"limits": {"cpus": "0.5", "memory": "64m"}}},
            "volumes": ["data:/data", "./site:/site:ro"],
            "networks": {"front": {"aliases": ["www"]}, "back": {}},
        }},
        "volumes": {"data": {}}, "networks": {"front": {}, "back": {}},
    }, name="shop", working_dir=tmp_path)
    body = create_body(project, project.services["web"], 2)
    labels = body["Labels"]
    assert labels["com.docker.compose.project"] == "shop"
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "2"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.config-hash"] == project.services["web"].config_hash()
    assert labels["com.docker.compose.project.working_dir"] == str(tmp_path)
    assert labels["mine"] == "yes"
    assert body["Cmd"] == ["httpd", "-f"]
    assert body["Env"] == ["A=1"]
    assert body["Healthcheck"] == {"Test": ["CMD-SHELL", "test -f /ok"], "Interval": 1_000_000_000, "Retries": 5}
    assert body["ExposedPorts"] == {"80/tcp": {}}
    host = body["HostConfig"]
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 64 * 1024**2
    assert host["Binds"] == ["shop_data:/data:rw", f"{tmp_path}/site:/site:ro"]
    assert host["NetworkMode"] == "shop_front"
    # One endpoint at create (older APIs take one); the service name is always an alias.
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"shop_front": {"Aliases": ["web", "www"]}}}
