"""Engine addresses as people type them, and the TLS files for tcp:// engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.client.address import check_engine_url
from engine.client.tls import TLSFiles, TLSSetupError, https_url
from tests.support.certs import make_pki

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("typed", "url"), [
    ("/run/berth/berth.sock", "unix:///run/berth/berth.sock"),
    ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),
    ("tcp://10.0.0.5:2376", "tcp://10.0.0.5:2376"),
    ("  ssh://me@build-box  ", "ssh://me@build-box"),
    ("ssh://me@build-box:2200/run/user/1000/docker.sock", "ssh://me@build-box:2200/run/user/1000/docker.sock"),
])
def test_addresses_accepted(typed: str, url: str) -> None:
    assert check_engine_url(typed) == url


@pytest.mark.parametrize(("typed", "says"), [
    ("docker.sock", "not an engine address: write unix://"),
    ("http://host:2375", "not an engine address"),
    ("unix://relative.sock", "must be absolute"),
    ("tcp://:2376", "names no host"),
    ("ssh://me@", "names no host"),
    ("tcp://host:99999", "port must be a number from 1 to 65535"),
    ("ssh://host:ssh", "port must be a number"),
])
def test_addresses_refused_say_what_to_write(typed: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        check_engine_url(typed)


def test_https_url_defaults_to_dockers_tls_port() -> None:
    assert https_url("tcp://10.0.0.5") == "https://10.0.0.5:2376"
    assert https_url("tcp://127.0.0.1:12376") == "https://127.0.0.1:12376"


def test_tls_from_the_docker_variables(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    assert TLSFiles.from_env({}) is None
    assert TLSFiles.from_env({"DOCKER_TLS_VERIFY": "0"}) is None
    files = TLSFiles.from_env({"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)})
    assert files == TLSFiles(pki.ca, pki.cert, pki.key, verify=True)
    encrypt_only = TLSFiles.from_env({"DOCKER_TLS": "1", "DOCKER_CERT_PATH": str(tmp_path)})
    assert encrypt_only is not None and not encrypt_only.verify
    assert encrypt_only.ssl_context().verify_mode.name == "CERT_NONE"


def test_tls_files_errors_name_the_file(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with pytest.raises(TLSSetupError, match=r"CA certificate .*nope\.pem does not exist"):
        TLSFiles(tmp_path / "nope.pem").ssl_context()
    with pytest.raises(TLSSetupError, match="needs its key"):
        TLSFiles(pki.ca, pki.cert).ssl_context()
    with pytest.raises(TLSSetupError, match="do not go together"):
        TLSFiles(pki.ca, pki.cert, pki.server_key).ssl_context()
    with pytest.raises(TLSSetupError, match="is not a PEM certificate"):
        TLSFiles(pki.key).ssl_context()
    assert TLSFiles(pki.ca, pki.cert, pki.key).ssl_context().verify_mode.name == "CERT_REQUIRED"
