"""A container's /etc/resolv.conf and the servers its embedded DNS forwards to, as dockerd writes
and uses them (HostConfig.Dns, DnsSearch, DnsOptions: `--dns`, `--dns-search`, `--dns-option`).

What dockerd 20.10 (the one Debian ships) does, checked against it:
- Without any of the three, the host's file: with the host's network it is copied as it is; in a
  network namespace of the container's own (`none` too) its loopback nameservers are dropped (they
  would point into the container), and its IPv6 ones unless a network of the container has IPv6;
  when no nameserver is left, Google's public ones are written, as dockerd does.
- With any of them, the file is built from the given ones, each list taken from the host's file where
  not given: `search`, then the nameservers, then `options` (a search of "." alone is no search line).
  Dockerd writes the values as they were sent: the docker CLI checks addresses, the API does not.
- On a network with the embedded DNS, its address is the first nameserver, followed by the IPv6 ones
  of the file above (the embedded DNS forwards over IPv4 only); `ndots:0` is added to the options
  unless they set ndots themselves. An ndots that is not `ndots:<integer>` makes dockerd give up that
  rewrite at start, leaving the file as built above, so it is left so here too.
- The embedded DNS forwards a container's other queries to its own IPv4 nameservers when it gave
  some (a loopback one means the container's own loopback, which the responder cannot reach, so it
  is never asked), otherwise to the host's.
- `--network container:x` has x's file; dockerd refuses Dns there at create, and ignores the rest.
- "The host's file" is /etc/resolv.conf, unless its one nameserver is systemd-resolved's stub
  (127.0.0.53, unreachable from a container): then resolved's own list of the real servers,
  /run/systemd/resolve/resolv.conf, as dockerd decides once at its start (Ubuntu's default setup).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidArgument

HOST_RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"  # systemd-resolved's, with the real servers
RESOLVED_STUB = "127.0.0.53"
EMBEDDED_NDOTS = "ndots:0"
_GO_INT = re.compile(r"[+-]?[0-9]+")
# dockerd's own patterns (libnetwork/resolvconf), so that its filter removes the same text.
_IPV4 = r"(([0-9]{1,3}\.){3}[0-9]{1,3})"
_IPV6 = r"(([0-9A-Fa-f]{0,4}:){2,7}([0-9A-Fa-f]{0,4})(%\w+)?)"
_LOCALHOST_NS = re.compile(r"^\s*nameserver\s*((127\.([0-9]{1,3}\.){2}[0-9]{1,3})|(::1)$)\s*\n*", re.MULTILINE)
_IPV6_NS = re.compile(r"^\s*nameserver\s*" + _IPV6 + r"\s*\n*", re.MULTILINE)
_ANY_NS = re.compile(r"^\s*nameserver\s*(" + _IPV4 + "|" + _IPV6 + r")\s*$", re.MULTILINE)
DEFAULT_IPV4 = ("8.8.8.8", "8.8.4.4")
DEFAULT_IPV6 = ("2001:4860:4860::8888", "2001:4860:4860::8844")


@dataclass(frozen=True)
class DnsSpec:
    """HostConfig.Dns, DnsSearch and DnsOptions, as sent (empty: not given)."""

    servers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    @classmethod
    def parse(cls, hc: dict[str, Any]) -> DnsSpec:
        return cls(servers=_string_list(hc, "Dns"), search=_string_list(hc, "DnsSearch"),
                   options=_string_list(hc, "DnsOptions"))

    @property
    def given(self) -> bool:
        return bool(self.servers or self.search or self.options)

    def forwarders(self) -> list[tuple[str, int]] | None:
        """Where the embedded DNS sends this container's queries for names not ours: None for the
        host's resolvers (it named no server), else its IPv4 servers that are not loopback."""
        if not self.servers:
            return None
        out = []
        for server in self.servers:
            ip = _ip(server)
            if ip is not None and ip.version == 4 and not ip.is_loopback:
                out.append((str(ip), 53))
        return out


def _string_list(hc: dict[str, Any], key: str) -> tuple[str, ...]:
    value = hc.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"HostConfig.{key} must be a list of strings")
    return tuple(value)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # dockerd's pattern allows blanks around the address on a nameserver line.
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class ResolvFile:
    """A resolv.conf as dockerd reads one: nameservers (addresses only), the last `search` and
    `options` lines, and the text (its filter edits the text). A missing file is an empty one."""

    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    text: str = ""  # the file as it is

    @classmethod
    def parse(cls, text: str) -> ResolvFile:
        servers: list[str] = []
        search: list[str] = []
        options: list[str] = []
        for line in text.splitlines():
            parts = line.split()
            if not parts or parts[0].startswith(("#", ";")):
                continue
            if parts[0] == "nameserver" and len(parts) == 2 and _ip(parts[1]) is not None:
                servers.append(parts[1])
            elif parts[0] == "search":
                search = parts[1:]
            elif parts[0] == "options":
                options = parts[1:]
        return cls(tuple(servers), tuple(search), tuple(options), text)

    @classmethod
    def read(cls, path: str | None = None) -> ResolvFile:
        """The file at `path`, by default the host's (host_path())."""
        with contextlib.suppress(OSError), open(path or host_path()) as f:
            return cls.parse(f.read())
        return cls()


@functools.cache
def host_path() -> str:
    """The host's resolv.conf, decided once as dockerd does (see the module's notes)."""
    return choose_host_path(HOST_RESOLV_CONF, RESOLVED_RESOLV_CONF)


def choose_host_path(default: str, resolved: str) -> str:
    with contextlib.suppress(OSError), open(default) as f:
        if ResolvFile.parse(f.read()).nameservers == (RESOLVED_STUB,):
            return resolved
    return default


def build(servers: tuple[str, ...] | list[str], search: tuple[str, ...] | list[str],
          options: tuple[str, ...] | list[str]) -> str:
    """A resolv.conf as dockerd's resolvconf.Build writes one."""
    out = ""
    if search and " ".join(search).strip(" ") != ".":
        out += "search " + " ".join(search) + "\n"
    out += "".join(f"nameserver {s}\n" for s in servers)
    if options and " ".join(options).strip(" "):
        out += "options " + " ".join(options) + "\n"
    return out


def filtered(host: ResolvFile, ipv6: bool) -> str:
    """The host's file for a network namespace of the container's own, as dockerd's
    FilterResolvDNS makes it: its loopback nameservers removed, and its IPv6 ones unless `ipv6`
    (a network of the container has IPv6); Google's public servers when none is left."""
    text = _LOCALHOST_NS.sub("", host.text)
    if not ipv6:
        text = _IPV6_NS.sub("", text)
    if not _ANY_NS.search(text):
        servers = DEFAULT_IPV4 + (DEFAULT_IPV6 if ipv6 else ())
        text += "\n" + "\n".join(f"nameserver {s}" for s in servers)
    return text if text.endswith("\n") else text + "\n"


def _ndots_set(options: list[str]) -> bool | None:
    """Whether the options set ndots themselves; None when one is malformed (dockerd then gives up
    the embedded rewrite)."""
    for option in options:
        if "ndots" in option:
            parts = option.split(":")
            if len(parts) != 2 or not _GO_INT.fullmatch(parts[1]):
                return None
            if int(parts[1]) >= 0:
                return True
    return False


def own_namespace(spec: DnsSpec, embedded: str | None, host: ResolvFile, ipv6: bool = False) -> str:
    """The resolv.conf of a container with a network namespace of its own: `embedded` is the
    address of its embedded DNS, if one of its networks has one; `ipv6`, whether one has IPv6."""
    if spec.given:
        base = build(spec.servers or host.nameservers, spec.search or host.search, spec.options or host.options)
    else:
        base = filtered(host, ipv6)
    if embedded is None:
        return base
    written = ResolvFile.parse(base)
    options = list(written.options)
    ndots = _ndots_set(options)
    if ndots is None:
        return base
    if not ndots:
        options.append(EMBEDDED_NDOTS)
    v6 = [s for s in written.nameservers if (ip := _ip(s)) is not None and ip.version == 6]
    return build([embedded, *v6], written.search, options)


def host_network(spec: DnsSpec, path: str | None = None) -> str | None:
    """The resolv.conf of a container with the host's network: None for a copy of the host's
    (nothing given), else the file built from what was given."""
    if not spec.given:
        return None
    host = ResolvFile.read(path)
    return build(spec.servers or host.nameservers, spec.search or host.search, spec.options or host.options)
