"""Engines on other hosts: a stock dockerd with mutual TLS, and berthd behind sshd (ssh://)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from engine.client import EngineClient, EngineUnreachable
from engine.client.tls import TLSFiles
from engine.compose import list_projects
from tests.support.certs import make_pki
from tests.support.daemon import Berthd
from tests.support.remote import SshHost, TLSDockerd
from vmhost.keys import generate_ed25519, write_private_key
from vmhost.remote import RemoteEngine, RemoteEngineError, UnknownHostKey

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def refused(url: str, error: type[Exception], match: str) -> Exception:
    """Opening the tunnel to `url` fails with `error` saying `match`; nothing is left open."""
    tunnel = RemoteEngine(url)
    try:
        with pytest.raises(error, match=match) as caught:
            tunnel.start()
    finally:
        tunnel.close()
    assert not tunnel.local_path.exists()
    return caught.value


def _describe(url: str, tls: TLSFiles | None = None) -> str:
    async def main() -> str:
        async with EngineClient(url, tls) as engine:
            return await engine.describe()

    return asyncio.run(main())


def _berth(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=60)


# -- TCP with TLS ----------------------------------------------------------------------------------

def test_tls_engine_answers_with_client_certificate(tls_engine: TLSDockerd) -> None:
    pki = tls_engine.pki
    assert _describe(tls_engine.url, TLSFiles(pki.ca, pki.cert, pki.key)).startswith("Docker Engine")


def test_tls_engine_signed_by_another_ca_is_refused(tls_engine: TLSDockerd, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other")
    with pytest.raises(EngineUnreachable, match="certificate verify failed"):
        _describe(tls_engine.url, TLSFiles(other.ca, other.cert, other.key))


def test_tls_engine_without_client_certificate_is_refused(tls_engine: TLSDockerd) -> None:
    # dockerd --tlsverify demands a client certificate: the handshake (or first read) fails.
    with pytest.raises(EngineUnreachable):
        _describe(tls_engine.url, TLSFiles(tls_engine.pki.ca))


def test_tls_files_that_do_not_exist_are_named(tls_engine: TLSDockerd, tmp_path: Path) -> None:
    with pytest.raises(EngineUnreachable, match=r"client key .*absent\.pem does not exist"):
        _describe(tls_engine.url, TLSFiles(tls_engine.pki.ca, tls_engine.pki.cert, tmp_path / "absent.pem"))


def test_compose_runs_on_a_tls_client(tls_engine: TLSDockerd) -> None:
    # Compose has no connection of its own: it lists projects through the client's TLS session.
    pki = tls_engine.pki

    async def main() -> object:
        async with EngineClient(tls_engine.url, TLSFiles(pki.ca, pki.cert, pki.key)) as engine:
            return await list_projects(engine)

    assert asyncio.run(main()) == []


def test_berth_cli_tls_flags(tls_engine: TLSDockerd) -> None:
    pki = tls_engine.pki
    done = _berth("-H", tls_engine.url, "--tlscacert", str(pki.ca), "--tlscert", str(pki.cert),
                  "--tlskey", str(pki.key), "version")
    assert done.returncode == 0, done.stderr
    assert "Server: Docker Engine" in done.stdout


def test_berth_cli_tls_from_docker_environment(tls_engine: TLSDockerd) -> None:
    # DOCKER_CERT_PATH holds ca.pem, cert.pem and key.pem, as the docker CLI expects them.
    import os

    env = dict(os.environ, DOCKER_HOST=tls_engine.url, DOCKER_TLS_VERIFY="1",
               DOCKER_CERT_PATH=str(tls_engine.pki.directory))
    env.pop("BERTH_HOST", None)
    done = _berth("ps", "-a", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("CONTAINER ID")


# -- SSH -----------------------------------------------------------------------------------------

def test_ssh_engine_through_the_users_ssh_config(remote: SshHost, berthd: Berthd, busybox_image: str) -> None:
    tunnel = RemoteEngine(f"ssh://{remote.alias}{berthd.socket}")
    try:
        local = tunnel.start()
        assert tunnel.remote_socket == str(berthd.socket)
        assert _describe(local).startswith("Berth ")

        async def create() -> str:
            async with EngineClient(local) as engine:
                return await engine.create_container({"Image": busybox_image, "Cmd": ["true"]}, name="over-ssh")

        created = asyncio.run(create())
        # Made through the tunnel, seen by berthd itself.
        status, _, body = berthd.api.request("GET", f"/containers/{created}/json")
        assert status == 200 and b'"/over-ssh"' in body
    finally:
        tunnel.close()
        berthd.api.request("DELETE", "/containers/over-ssh?force=1")
    assert not tunnel.local_path.exists()


def test_berth_cli_over_ssh(remote: SshHost, berthd: Berthd) -> None:
    import os
    import shutil

    # No ~/.ssh/config entry for a bare address: the default key file is found, as ssh would.
    shutil.copy(remote.sshd.client_key, remote.home / ".ssh" / "id_ed25519")
    done = _berth("-H", f"ssh://root@{remote.ns.addr}:{remote.sshd.port}{berthd.socket}", "version",
                  env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert "Server: Berth" in done.stdout


def test_ssh_unknown_host_key_is_refused_with_its_fingerprint(remote: SshHost, berthd: Berthd) -> None:
    (remote.home / ".ssh" / "known_hosts").write_text("")
    error = refused(f"ssh://{remote.alias}{berthd.socket}", UnknownHostKey,
                    r"host key of .* \(ssh-ed25519 .*\) is not known")
    assert isinstance(error, UnknownHostKey)
    assert remote.sshd.host_key.public_line.split()[1] in error.key_line


def test_ssh_changed_host_key_is_refused(remote: SshHost, berthd: Berthd) -> None:
    remote.sshd.stop()
    remote.sshd.new_host_key()
    remote.sshd.start()
    refused(f"ssh://{remote.alias}{berthd.socket}", RemoteEngineError,
            r"presented host key .* but known_hosts says .* refusing")


def _use_key(remote: SshHost, key: Path) -> None:
    config = remote.home / ".ssh" / "config"
    config.write_text(config.read_text().replace(str(remote.sshd.client_key), str(key)))


def test_ssh_without_an_accepted_key_says_so(remote: SshHost, berthd: Berthd) -> None:
    stranger = remote.home / "stranger"
    write_private_key(stranger, generate_ed25519("not authorized"))
    _use_key(remote, stranger)
    refused(f"ssh://{remote.alias}{berthd.socket}", RemoteEngineError,
            r"SSH refused root@.*no key it accepts \(tried .*stranger\)")


def test_ssh_key_file_that_does_not_exist_is_named(remote: SshHost, berthd: Berthd) -> None:
    _use_key(remote, remote.home / "absent")
    refused(f"ssh://{remote.alias}{berthd.socket}", RemoteEngineError,
            r"SSH key file .*absent \(IdentityFile .*\) does not exist")


def test_ssh_without_an_engine_socket_names_where_it_looked(remote: SshHost, tmp_path: Path) -> None:
    refused(f"ssh://{remote.alias}{tmp_path}/absent.sock", RemoteEngineError,
            r"no engine socket on .* at .*absent\.sock")


def test_two_tunnels_to_one_engine_do_not_disturb_each_other(remote: SshHost, berthd: Berthd) -> None:
    # The desktop's and a `berth -H ssh://...` command's, or a quick switch away and back.
    url = f"ssh://{remote.alias}{berthd.socket}"
    old, new = RemoteEngine(url), RemoteEngine(url)
    try:
        old.start()
        local = new.start()
        old.close()
        assert new.local_path.is_socket()
        assert _describe(local).startswith("Berth ")
    finally:
        old.close()
        new.close()
    assert not new.local_path.exists() and not old.local_path.exists()
