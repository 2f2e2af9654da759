"""An engine on another host, reached over SSH: `ssh://[user@]host[:port][/path/to/engine.sock]`.

The docker CLI runs `docker system dial-stdio` on the remote host, which needs a docker CLI there.
Berth instead forwards a private local Unix socket to the remote engine's socket through the same
`direct-streamlocal` channel machines use, so any host with sshd and an engine (berthd, dockerd,
podman) works. The remote host is checked against ~/.ssh/known_hosts (and Berth's own list): an
unknown key is refused with its fingerprint, never trusted silently.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import itertools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paramiko

from vmhost.ssh import Connection, Forward, HostKeyMismatch, known_hosts_name, open_streamlocal, unix_forward

_tunnels = itertools.count(1)
# Tried in this order when the URL names no socket: Berth's engine, then dockerd's, then podman's.
ENGINE_SOCKETS = ("/run/berth/berth.sock", "/var/run/docker.sock", "/run/podman/podman.sock")


class RemoteEngineError(paramiko.SSHException):  # type: ignore[misc]  # paramiko is untyped
    """The remote engine cannot be reached; the message says why and what to do.

    An SSHException, so a forward that fails to reconnect treats it as any other session failure."""


class UnknownHostKey(RemoteEngineError):
    def __init__(self, name: str, key: paramiko.PKey) -> None:
        self.name = name
        self.key_line = f"{name} {key.get_name()} {key.get_base64()}"
        super().__init__(
            f"the host key of {name} ({key.get_name()} {key.fingerprint}) is not known: check the fingerprint "
            f"with the host's owner, then trust it (Berth Desktop offers to; or connect once with `ssh`, which "
            f"adds it to ~/.ssh/known_hosts)"
        )


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]  # paramiko is untyped
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise UnknownHostKey(hostname, key)


def user_ssh_dir() -> Path:
    return Path.home() / ".ssh"


@dataclass(frozen=True)
class RemoteHost:
    """An sshd known from the user's own SSH setup: known_hosts, keys, agent, ~/.ssh/config."""

    host: str
    port: int = 22
    user: str = ""
    socket: str = ""  # the engine's socket on that host; "" tries ENGINE_SOCKETS
    identity: Path | None = None  # a private key file; None: the agent and ~/.ssh/id_*
    known_hosts: tuple[Path, ...] = ()

    @classmethod
    def parse(cls, url: str, ssh_dir: Path | None = None) -> RemoteHost:
        """`ssh://[user@]host[:port][/socket]`, completed from ~/.ssh/config (HostName, User, Port, IdentityFile)."""
        ssh_dir = ssh_dir or user_ssh_dir()
        parts = urlsplit(url)
        if parts.scheme != "ssh" or not parts.hostname:
            raise RemoteEngineError(f"{url!r} is not an SSH address: write ssh://[user@]host[:port][/path/to/engine.sock]")
        try:
            port = parts.port
        except ValueError:
            raise RemoteEngineError(f"{url!r}: the port must be a number from 1 to 65535") from None
        config = paramiko.SSHConfig()
        config_file = ssh_dir / "config"
        if config_file.is_file():
            with contextlib.suppress(OSError, paramiko.SSHException):
                config = paramiko.SSHConfig.from_path(str(config_file))
        entry = config.lookup(parts.hostname)
        identity_files = entry.get("identityfile") or []
        return cls(
            host=str(entry.get("hostname", parts.hostname)),
            port=int(port or entry.get("port", 22)),
            user=unquote(parts.username or "") or str(entry.get("user", "")) or getpass.getuser(),
            socket=unquote(parts.path) if parts.path not in ("", "/") else "",
            identity=Path(identity_files[0]).expanduser() if identity_files else None,
            known_hosts=(ssh_dir / "known_hosts", berth_known_hosts()),
        )

    @property
    def known_hosts_name(self) -> str:
        return known_hosts_name(self.host, self.port)

    def connect_client(self, timeout: float) -> paramiko.SSHClient:
        if self.identity is not None and not self.identity.is_file():
            raise RemoteEngineError(f"the SSH key file {self.identity} (IdentityFile for {self.host}) does not exist")
        client = paramiko.SSHClient()
        for path in self.known_hosts:
            if path.is_file():
                with contextlib.suppress(OSError, paramiko.SSHException):
                    client.load_system_host_keys(str(path))
        client.set_missing_host_key_policy(_RefuseUnknown())
        where = f"{self.user}@{self.known_hosts_name}"
        try:
            client.connect(
                self.host, self.port, username=self.user,
                key_filename=str(self.identity) if self.identity else None,
                look_for_keys=self.identity is None, allow_agent=True,
                timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
            )
        except RemoteEngineError:  # an unknown host key, from _RefuseUnknown
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyMismatch(
                f"{self.known_hosts_name} presented host key {exc.key.fingerprint}, but known_hosts says "
                f"{exc.expected_key.fingerprint}: refusing to connect (if the host really changed, remove "
                f"its old line from known_hosts)"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise self._refused(where) from None
        except (OSError, paramiko.SSHException) as exc:
            client.close()
            if "No authentication methods available" in str(exc):  # no key and no agent at all
                raise self._refused(where) from None
            raise RemoteEngineError(f"cannot reach sshd at {self.known_hosts_name}: {exc}") from None
        except BaseException:
            client.close()
            raise
        return client

    def _refused(self, where: str) -> RemoteEngineError:
        return RemoteEngineError(
            f"SSH refused {where}: no key it accepts (tried "
            f"{self.identity or 'the SSH agent and ~/.ssh/id_*'}); add your public key to the remote "
            f"~/.ssh/authorized_keys or name a key file"
        )


def berth_known_hosts() -> Path:
    """Host keys Berth was told to trust, next to its other settings."""
    base = os.environ.get("BERTH_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config", "berth")
    return Path(base) / "known_hosts"


def trust_host_key(key_line: str, known_hosts: Path | None = None) -> None:
    """Add `key_line` ("name type base64", from UnknownHostKey) to Berth's own known_hosts, after the
    user has checked its fingerprint: later connections accept that key, and only that one."""
    path = known_hosts or berth_known_hosts()
    parts = key_line.split()
    if len(parts) != 3:
        raise ValueError(f"not a known_hosts line: {key_line!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="ascii") as out:
        out.write(" ".join(parts) + "\n")


def local_socket_for(url: str) -> Path:
    """Where a tunnel to `url` listens: in a private runtime dir, a socket of its own (the desktop and
    a `berth -H ssh://...` command may tunnel to the same engine at once; neither may take the
    other's path)."""
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/berth-{os.getuid()}")
    directory = base / "berth-ssh"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    return directory / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{os.getpid()}-{next(_tunnels)}.sock"


class RemoteEngine:
    """A local Unix socket whose connections reach an engine on a remote host over SSH.

    `start()` blocks (it connects, authenticates and finds the engine's socket): call it from a
    worker thread in async code. The forward survives sshd restarts by reconnecting.
    """

    def __init__(self, url: str, local_path: Path | None = None, connect_timeout: float = 10.0) -> None:
        self.url = url
        self.host = RemoteHost.parse(url)
        self.local_path = local_path or local_socket_for(url)
        self.remote_socket = ""
        self._connection = Connection(self.host, keepalive=15, connect_timeout=connect_timeout)
        self._forward: Forward | None = None
        self._lock = threading.Lock()

    @property
    def local_url(self) -> str:
        return f"unix://{self.local_path}"

    def start(self) -> str:
        """Connect and forward (once; later calls return at once). Returns the local unix:// URL."""
        with self._lock:
            if self._forward is None:
                try:
                    self.remote_socket = self._find_socket()
                except HostKeyMismatch as exc:
                    raise RemoteEngineError(str(exc)) from None
                self._forward = unix_forward(self._connection, self.local_path, self.remote_socket)
        return self.local_url

    def _find_socket(self) -> str:
        candidates = (self.host.socket,) if self.host.socket else ENGINE_SOCKETS
        transport = self._connection.transport()
        for path in candidates:
            try:
                open_streamlocal(transport, path).close()
            except paramiko.ChannelException:
                continue  # nothing listens there (or sshd may not forward to it)
            return path
        raise RemoteEngineError(
            f"no engine socket on {self.host.known_hosts_name} at {', '.join(candidates)} (or sshd does not allow "
            f"forwarding to it: AllowStreamLocalForwarding); name the socket: ssh://{self.host.user}@"
            f"{self.host.known_hosts_name}/path/to/engine.sock"
        )

    def close(self) -> None:
        with self._lock:
            forward, self._forward = self._forward, None
        if forward is not None:
            forward.close()
        self._connection.close()
        with contextlib.suppress(OSError):
            if self.local_path.is_socket():
                self.local_path.unlink()

