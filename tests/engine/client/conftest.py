from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.engine.client.fake_engine import FakeEngine, short_socket_dir


@pytest.fixture
def fake_engine() -> Iterator[FakeEngine]:
    directory = short_socket_dir()
    engine = FakeEngine(directory / "engine.sock").start()
    try:
        yield engine
    finally:
        engine.stop()
        shutil.rmtree(directory, ignore_errors=True)
