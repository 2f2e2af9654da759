"""Helpers for compose tests against a real engine: write a project, and remove all it made."""

from __future__ import annotations

import json
import socket
import textwrap
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.support.api import RawApi

# busybox services the tests share; `{port}` is a free loopback port. `init: true` because a shell or
# sleep as pid 1 ignores SIGTERM, and every stop would wait out its grace period.
STACK = """\
services:
  db:
    image: busybox
    init: true
    # Ready a moment after start; the first run leaves a mark in the volume that later runs find.
    command: ["sh", "-c", "[ -f /data/first ] || date > /data/first; sleep 1; touch /tmp/ready; exec sleep 3600"]
    volumes: [data:/data]
    healthcheck:
      test: test -f /tmp/ready
      interval: 500ms
      retries: 40
  web:
    image: busybox
    init: true
    command: ["sh", "-c", "mkdir -p /w && echo {page} > /w/index.html && exec httpd -f -p 80 -h /w"]
    depends_on:
      db: {{condition: service_healthy}}
    ports: ["127.0.0.1:{port}:80"]
    restart: unless-stopped
    deploy:
      resources:
        limits: {{memory: 64m, cpus: "0.5"}}
  worker:
    image: busybox
    init: true
    command: ["sh", "-c", "while true; do wget -qO- http://web/ || echo no-web; sleep 0.5; done"]
    depends_on: [web]
    deploy: {{replicas: 2}}
volumes:
  data:
"""


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_project(directory: Path, text: str, name: str = "compose.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def labelled(api: RawApi, kind: str, project: str) -> list[dict[str, Any]]:
    filters = quote(json.dumps({"label": [f"com.docker.compose.project={project}"]}))
    path = {"containers": f"/containers/json?all=1&filters={filters}", "networks": f"/networks?filters={filters}",
            "volumes": f"/volumes?filters={filters}"}[kind]
    status, _, body = api.request("GET", path)
    assert status == 200, body
    data = json.loads(body)
    items = data.get("Volumes") or [] if kind == "volumes" else data
    # Filter again: the point is to be sure, not to trust the filter under test.
    return [i for i in items if (i.get("Labels") or {}).get("com.docker.compose.project") == project]


def remove_project(api: RawApi, project: str) -> None:
    """Everything labelled with the project: containers, then networks and volumes."""
    for c in labelled(api, "containers", project):
        api.request("DELETE", f"/containers/{c['Id']}?force=1&v=1")
    for n in labelled(api, "networks", project):
        api.request("DELETE", f"/networks/{n['Id']}")
    for v in labelled(api, "volumes", project):
        api.request("DELETE", f"/volumes/{v['Name']}?force=1")
