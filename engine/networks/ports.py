"""Published ports: what a container asks for (PortBindings, PublishAllPorts with ExposedPorts),
and the host ports berthd holds for it.

A host port is reserved by binding a socket to it and keeping it open while the container
runs: the kernel then refuses a second container (or another program) the same port, as
dockerd's port allocator and proxy do. The socket never listens; the DNAT rules deliver the
traffic before any local socket would see it.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.errors import Conflict, InvalidArgument


@dataclass(frozen=True)
class PortRequest:
    """One binding asked for: container port/proto to a host port (range) on a host address."""

    container_port: int
    proto: str
    host_ip: str  # "" is every address
    host_port_low: int  # 0: any free port
    host_port_high: int


@dataclass(frozen=True)
class Binding:
    container_port: int
    proto: str
    host_ip: str
    host_port: int


def _port(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text!r} is not a port number") from None
    if not 0 < value < 65536:
        raise InvalidArgument(f"invalid {what}: {value} is not between 1 and 65535")
    return value


def parse_port_key(key: str) -> tuple[int, str]:
    """"80/tcp" (or "80") -> (80, "tcp")."""
    port, _, proto = str(key).partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp"):
        raise InvalidArgument(f"invalid port {key!r}: protocol {proto!r} is not supported (use tcp or udp)")
    return _port(port, f"container port in {key!r}"), proto


def _host_range(text: str, key: str) -> tuple[int, int]:
    text = (text or "").strip()
    if not text or text == "0":  # as dockerd: "0" is any free port, like an empty one
        return 0, 0
    low, dash, high = text.partition("-")
    lo = _port(low, f"host port for {key}")
    hi = _port(high, f"host port for {key}") if dash else lo
    if hi < lo:
        raise InvalidArgument(f"invalid host port range {text!r} for {key}: the end is before the start")
    return lo, hi


@dataclass(frozen=True)
class PublishSpec:
    """HostConfig.PortBindings and PublishAllPorts, checked once (a container's HostSpec keeps it)."""

    bindings: tuple[PortRequest, ...] = ()  # PortBindings as requests (IPv6 host addresses left out)
    ports: tuple[tuple[int, str], ...] = ()  # every container port PortBindings names
    publish_all: bool = False

    @classmethod
    def parse(cls, host_config: dict[str, Any]) -> PublishSpec:
        out: list[PortRequest] = []
        bindings = host_config.get("PortBindings") or {}
        if not isinstance(bindings, dict):
            raise InvalidArgument('HostConfig.PortBindings must be an object like {"80/tcp": [{"HostPort": "8080"}]}')
        ports = []
        for key, entries in bindings.items():
            cport, proto = parse_port_key(key)
            ports.append((cport, proto))
            for entry in entries or [{}]:
                if not isinstance(entry, dict):
                    raise InvalidArgument(f"invalid port binding for {key}: expected {{\"HostIp\", \"HostPort\"}}")
                host_ip = str(entry.get("HostIp") or "")
                if host_ip in ("0.0.0.0",):
                    host_ip = ""
                elif host_ip:
                    try:
                        addr = ipaddress.ip_address(host_ip)
                    except ValueError:
                        raise InvalidArgument(f"invalid host IP {host_ip!r} for port {key}") from None
                    if addr.version == 6:
                        continue  # ports are published on IPv4 only (no IPv6 DNAT): the IPv4 binding serves
                lo, hi = _host_range(str(entry.get("HostPort") or ""), key)
                out.append(PortRequest(cport, proto, host_ip, lo, hi))
        return cls(tuple(out), tuple(ports), bool(host_config.get("PublishAllPorts")))

    def requested(self, exposed_ports: Iterable[str]) -> list[PortRequest]:
        """Every binding the container asks for: PortBindings, then (PublishAllPorts) each exposed
        port (Config.ExposedPorts) they leave out, on any free host port."""
        out = list(self.bindings)
        if self.publish_all:
            bound = {(r.container_port, r.proto) for r in out}
            for key in exposed_ports:
                cport, proto = parse_port_key(key)
                if (cport, proto) not in bound:
                    out.append(PortRequest(cport, proto, "", 0, 0))
        return out

    def exposed(self, exposed_ports: Iterable[str]) -> list[tuple[int, str]]:
        """Every container port the container exposes (Config.ExposedPorts) or publishes."""
        return sorted({parse_port_key(k) for k in exposed_ports} | set(self.ports))


class PortReservations:
    """Host ports held open for running containers, by container id."""

    def __init__(self) -> None:
        self._held: dict[str, list[tuple[Binding, socket.socket]]] = {}

    def reserve(self, owner: str, requests: list[PortRequest]) -> list[Binding]:
        """Reserve every request or none."""
        got: list[tuple[Binding, socket.socket]] = []
        try:
            for r in requests:
                got.append(self._reserve_one(r))
        except BaseException:
            for _, sock in got:
                sock.close()
            raise
        self._held.setdefault(owner, []).extend(got)
        return [b for b, _ in got]

    def _reserve_one(self, r: PortRequest) -> tuple[Binding, socket.socket]:
        kind = socket.SOCK_STREAM if r.proto == "tcp" else socket.SOCK_DGRAM
        candidates = range(r.host_port_low, r.host_port_high + 1) if r.host_port_low else [0]
        last_error: OSError | None = None
        for port in candidates:
            sock = socket.socket(socket.AF_INET, kind)
            try:
                sock.bind((r.host_ip or "0.0.0.0", port))
            except OSError as e:
                sock.close()
                last_error = e
                if e.errno != errno.EADDRINUSE:
                    break
                continue
            return Binding(r.container_port, r.proto, r.host_ip, sock.getsockname()[1]), sock
        where = f"{r.host_ip or '0.0.0.0'}:{r.host_port_low}"
        if r.host_port_high != r.host_port_low:
            where += f"-{r.host_port_high}"
        if last_error is not None and last_error.errno == errno.EADDRINUSE:
            raise Conflict(f"Bind for {where} failed: port is already allocated")
        raise InvalidArgument(f"cannot publish on {where}: {last_error.strerror if last_error else 'no port'}")

    def release(self, owner: str) -> None:
        for _, sock in self._held.pop(owner, []):
            sock.close()

    def bindings(self, owner: str) -> list[Binding]:
        return [b for b, _ in self._held.get(owner, [])]

    def close(self) -> None:
        for owner in list(self._held):
            self.release(owner)
