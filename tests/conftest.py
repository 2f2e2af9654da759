"""Fixtures shared by the whole suite: a private berthd and test images built here."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.busybox import busybox_available, busybox_rootfs_tar
from tests.support.daemon import Berthd, prerequisites_missing
from tests.support.peers import dockerd_missing
from tests.support.remote import SshHost, TLSDockerd, ssh_host, tls_dockerd
from tests.support.skips import SkipAccount
from tests.vmhost.sshd import missing as sshd_missing

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not busybox_available():
        pytest.skip("needs Debian's busybox-static at /bin/busybox")
    return busybox_rootfs_tar(tmp_path_factory.mktemp("images") / "busybox.tar")


@pytest.fixture(scope="session")
def berthd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Berthd]:
    """A private berthd for the whole session (root, conmon and runc or crun required)."""
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    base = Path(tmp_path_factory.mktemp("berthd", numbered=True))
    daemon = Berthd(base)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()


@pytest.fixture(scope="session")
def busybox_image(berthd: Berthd, busybox_tar: Path) -> str:
    """`busybox:latest` imported into the session's berthd."""
    status, _, body = berthd.api.request(
        "POST", "/images/create?fromSrc=-&repo=busybox&tag=latest", busybox_tar.read_bytes(),
        {"Content-Type": "application/x-tar"})
    assert status == 200, body
    last = json.loads(body.decode().strip().splitlines()[-1])
    assert "error" not in last, last
    return "busybox:latest"


@pytest.fixture(scope="session")
def docker_cli() -> str:
    path = shutil.which("docker")
    if path is None:
        pytest.skip("needs the docker CLI on PATH")
    return path


@pytest.fixture
def docker_env(berthd: Berthd) -> dict[str, str]:
    env = dict(os.environ)
    env["DOCKER_HOST"] = berthd.url
    env.pop("DOCKER_CONTEXT", None)
    env["DOCKER_CONFIG"] = str(berthd.base / "docker-config")
    return env


@pytest.fixture(scope="session")
def tls_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSDockerd]:
    """A stock dockerd answering only mutual TLS on a loopback port (its PKI in `.pki`)."""
    reason = dockerd_missing()
    if reason:
        pytest.skip(reason)
    with tls_dockerd(tmp_path_factory.mktemp("tls")) as engine:
        yield engine


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SshHost]:
    """sshd in a network namespace as another host, and a HOME whose ~/.ssh knows it (config
    entry `berth-remote` with the key, known_hosts with its host key)."""
    reason = sshd_missing()
    if reason:
        pytest.skip(reason)
    with ssh_host(tmp_path) as host:
        monkeypatch.setenv("HOME", str(host.home))
        monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
        yield host


CATEGORIES = {"unit", "integration", "gui", "e2e"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--strict-skips", action="store_true",
                     help="fail the run on a skip tests/expected_skips.py does not list (the test command sets it)")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SkipAccount(bool(config.getoption("--strict-skips"))), "berth-skips")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test says what it needs (unit, integration, gui or e2e): CI runs them all."""
    unmarked = [item.nodeid for item in items if not CATEGORIES & {m.name for m in item.iter_markers()}]
    if unmarked:
        raise pytest.UsageError("tests without a category marker: " + ", ".join(unmarked))
