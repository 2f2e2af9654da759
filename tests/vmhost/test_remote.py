"""ssh:// engine addresses completed from the user's ~/.ssh/config, as ssh would."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmhost.remote import RemoteEngineError, RemoteHost, local_socket_for, trust_host_key

pytestmark = pytest.mark.unit


def test_parse_plain_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTH_CONFIG_DIR", str(tmp_path / "berth"))
    host = RemoteHost.parse("ssh://me@build-box:2200/run/user/1000/docker.sock", ssh_dir=tmp_path)
    assert (host.host, host.port, host.user, host.socket) == ("build-box", 2200, "me", "/run/user/1000/docker.sock")
    assert host.identity is None
    assert host.known_hosts == (tmp_path / "known_hosts", tmp_path / "berth" / "known_hosts")
    assert host.known_hosts_name == "[build-box]:2200"


def test_parse_completes_from_ssh_config(tmp_path: Path) -> None:
    (tmp_path / "config").write_text("Host box\n  HostName 10.1.2.3\n  User deploy\n  Port 2022\n"
                                     "  IdentityFile ~/keys/box\n")
    host = RemoteHost.parse("ssh://box", ssh_dir=tmp_path)
    assert (host.host, host.port, host.user, host.socket) == ("10.1.2.3", 2022, "deploy", "")
    assert host.identity == Path("~/keys/box").expanduser()
    # What the address says wins over the config.
    assert RemoteHost.parse("ssh://root@box:22", ssh_dir=tmp_path).user == "root"
    assert RemoteHost.parse("ssh://root@box:22", ssh_dir=tmp_path).port == 22


@pytest.mark.parametrize("url", ["ssh://", "tcp://host:22", "ssh://host:port"])
def test_parse_refuses_what_is_not_an_ssh_address(url: str, tmp_path: Path) -> None:
    with pytest.raises(RemoteEngineError, match=r"ssh://|port must be"):
        RemoteHost.parse(url, ssh_dir=tmp_path)


def test_local_socket_is_private_and_each_tunnels_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    first = local_socket_for("ssh://a@b")
    assert first != local_socket_for("ssh://a@b") and first.parent == local_socket_for("ssh://a@c").parent
    assert len(str(first)) < 100  # a Unix socket path is at most 107 bytes
    assert (first.parent.stat().st_mode & 0o777) == 0o700


def test_trusting_a_host_key_writes_berths_known_hosts(tmp_path: Path) -> None:
    known = tmp_path / "berth" / "known_hosts"
    trust_host_key("[box]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF", known)
    trust_host_key("other ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG", known)
    assert known.read_text().splitlines() == ["[box]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF",
                                              "other ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG"]
    with pytest.raises(ValueError, match="not a known_hosts line"):
        trust_host_key("ssh-ed25519 AAAA\nevil line", known)
