"""Fixtures for registry tests: a loopback docker-registry and fresh image services."""

from __future__ import annotations

import asyncio
import http.server
import io
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.images.service import ImageService
from engine.state.db import Database
from tests.engine.storage.tarbuild import busybox_rootfs_tar
from tests.support.registry import Registry, running_registry


@pytest.fixture(scope="session")
def busybox_layer(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return busybox_rootfs_tar(tmp_path_factory.mktemp("busybox-layer"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[[str], ImageService]]:
    """Fresh ImageServices (each its own root and database), closed after the test."""
    dbs: list[Database] = []

    def make(name: str = "engine") -> ImageService:
        db = Database(tmp_path / f"{name}.db")
        dbs.append(db)
        return ImageService(tmp_path / name, db)

    yield make
    for db in dbs:
        db.close()


@pytest.fixture
def service(make_service: Callable[[str], ImageService]) -> ImageService:
    return make_service("engine")


@pytest.fixture
def busybox_id(service: ImageService, busybox_layer: bytes) -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root (layer extraction keeps owners and device whiteouts)")
    return service.import_rootfs_sync(io.BytesIO(busybox_layer), repo="busybox")


class Progress:
    """Collects progress messages, as the API would stream them."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def statuses(self, ident: str | None = None) -> list[str]:
        return [m.get("status", "") for m in self.messages if ident is None or m.get("id") == ident]


def run(coro: Any, timeout: float = 120) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def serve() -> Iterator[Callable[[type[http.server.BaseHTTPRequestHandler]], str]]:
    """Start handler classes on 127.0.0.1; every server is shut down after the test."""
    servers: list[Server] = []

    def start(handler: type[http.server.BaseHTTPRequestHandler]) -> str:
        server = Server(("127.0.0.1", 0), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
