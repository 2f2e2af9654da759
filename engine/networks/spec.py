"""What a network create request and an endpoint's settings ask for, parsed once into typed values.

The wording of type errors is dockerd's (its JSON decoder's), since clients and people compare
them; the other checks say what is wrong and what to give instead. Values are validated here,
at the edge, so the service never meets a MAC that is not one or an address of the wrong family.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from engine.errors import Forbidden, InvalidArgument, NotFound
from engine.networks.ipam import (
    Addr,
    Addr6,
    Net,
    Net6,
    family_of,
    parse_address,
    parse_address6,
    parse_subnet,
    parse_subnet6,
)
from engine.networks.store import HOST_BINDING_OPT, ICC_OPT, MASQUERADE_OPT, MTU_OPT

BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
_IFNAME = re.compile(r"^[a-zA-Z0-9_.-]{1,15}$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


# dockerd's words, outside a swarm, for what only a swarm manager can make.
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                 "to connect this node to swarm and try again.")


@dataclass(frozen=True)
class SwarmScope:
    """What an active swarm gives the networks made in it: the pools their subnets come from
    (the swarm's DefaultAddrPool, cut in SubnetSize pieces), as swarmkit's allocator does."""

    pools: tuple[Net, ...]
    subnet_size: int

    def candidates(self) -> Iterator[Net]:
        for pool in self.pools:
            yield from pool.subnets(new_prefix=max(self.subnet_size, pool.prefixlen))


N = TypeVar("N", Net, Net6)
A = TypeVar("A", Addr, Addr6)


@dataclass(frozen=True)
class PoolSpec(Generic[N, A]):
    """One IPAM.Config entry: a subnet of one family, and what the request said of it."""

    subnet: N
    gateway: A | None
    ip_range: N | None
    aux: dict[str, A]


@dataclass
class NetworkSpec:
    name: str
    driver: str = "bridge"
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    ipam_options: dict[str, str] | None = None
    ipv4: PoolSpec[Net, Addr] | None = None
    ipv6: PoolSpec[Net6, Addr6] | None = None
    # IPAM.Config in the request's own spelling ("2001:389::0/96"), echoed by inspect.
    shown: list[dict[str, Any]] = field(default_factory=list)
    config_only: bool = False
    config_from: str = ""
    scope: str = "local"  # "swarm" for the networks of the swarm (overlay ones, or asked for)
    ingress: bool = False

    @property
    def configured(self) -> bool:
        """Whether the request itself carries configuration (which ConfigFrom then forbids)."""
        return bool(self.shown or self.options or self.ipam_options or self.enable_ipv6)


def _string_map(value: Any, what: str) -> dict[str, str]:
    """A JSON object of strings, refused in dockerd's (Go's) words otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = "array" if isinstance(value, list) else _json_kind(value)
        raise InvalidArgument(f"json: cannot unmarshal {kind} into Go struct field {what} of type map[string]string")
    for v in value.values():
        if not isinstance(v, str):
            raise InvalidArgument(f"json: cannot unmarshal {_json_kind(v)} into Go struct field {what} of type string")
    return {str(k): v for k, v in value.items()}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _bool_field(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidArgument(f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
                              f"NetworkCreateRequest.{key} of type bool")
    return value


def check_bridge_options(options: dict[str, str]) -> None:
    """The bridge driver's own options must parse; others are kept and shown, as dockerd does."""
    for key in (ICC_OPT, MASQUERADE_OPT):
        if key in options and options[key] not in _GO_BOOLS:
            raise InvalidArgument(f"failed to parse {key} value: {options[key]} (use true or false)")
    if MTU_OPT in options:
        try:
            mtu = int(options[MTU_OPT])
        except ValueError:
            raise InvalidArgument(
                f"failed to parse {MTU_OPT} value: {options[MTU_OPT]} (a number, like 1400)") from None
        if mtu and not 68 <= mtu <= 65535:
            raise InvalidArgument(f"invalid MTU {mtu}: it must be between 68 and 65535")
    if options.get(HOST_BINDING_OPT):
        parse_address(options[HOST_BINDING_OPT], f"{HOST_BINDING_OPT} value")
    bridge = options.get(BRIDGE_NAME_OPT)
    if bridge is not None and not _IFNAME.match(bridge):
        raise InvalidArgument(f"invalid bridge name {bridge!r}: at most 15 letters, digits, '_', '.' or '-'")


def parse_pools(configs: Any, spec: NetworkSpec) -> None:
    """IPAM.Config into `spec`: at most one subnet of each family (berthd's limit; dockerd takes more)."""
    if configs is None:
        return
    if not isinstance(configs, list):
        raise InvalidArgument("IPAM.Config must be a list of pools")
    for entry in configs:
        if not isinstance(entry, dict):
            raise InvalidArgument("each IPAM.Config entry must be a JSON object (Subnet, IPRange, Gateway, "
                                  "AuxiliaryAddresses)")
        texts = {k: entry.get(k) for k in ("Subnet", "IPRange", "Gateway")}
        for key, text in texts.items():
            if text is not None and not isinstance(text, str):
                raise InvalidArgument(f"json: cannot unmarshal {_json_kind(text)} into Go struct field "
                                      f"IPAMConfig.{key} of type string")
        aux = _string_map(entry.get("AuxiliaryAddresses"), "IPAMConfig.AuxiliaryAddresses")
        subnet, ip_range, gateway = texts["Subnet"] or "", texts["IPRange"] or "", texts["Gateway"] or ""
        if not subnet:
            if ip_range or gateway or aux:
                raise InvalidArgument("a gateway, ip-range or auxiliary address needs a subnet too")
            continue
        if family_of(subnet) == 6:
            if spec.ipv6 is not None:
                raise InvalidArgument("berthd networks take one IPv6 subnet")
            spec.ipv6 = PoolSpec(parse_subnet6(subnet), parse_address6(gateway, "gateway") if gateway else None,
                                 parse_subnet6(ip_range) if ip_range else None,
                                 {k: parse_address6(v, f"auxiliary address {k}") for k, v in aux.items()})
        else:
            if spec.ipv4 is not None:
                raise InvalidArgument("berthd networks take one IPv4 subnet")
            spec.ipv4 = PoolSpec(parse_subnet(subnet), parse_address(gateway, "gateway") if gateway else None,
                                 parse_subnet(ip_range) if ip_range else None,
                                 {k: parse_address(v, f"auxiliary address {k}") for k, v in aux.items()})
        shown: dict[str, Any] = {"Subnet": subnet}
        if ip_range:
            shown["IPRange"] = ip_range
        if gateway:
            shown["Gateway"] = gateway
        if aux:
            shown["AuxiliaryAddresses"] = aux
        spec.shown.append(shown)


def _scope(driver: str, asked: str, ingress: bool, swarm: SwarmScope | None) -> str:
    """The network's scope: "swarm" for an overlay network, or one asked for, in a swarm only."""
    if asked not in ("", "local", "swarm", "global"):
        raise InvalidArgument(f"invalid scope {asked!r}: use local, swarm or global")
    if driver == "overlay":
        if swarm is None:
            raise Forbidden(NOT_A_MANAGER)
        if asked == "local":
            raise Forbidden("cannot downgrade network scope for overlay networks")
        return "swarm"
    if ingress:
        raise Forbidden("Ingress network can only be global scope network")
    if asked in ("", "local"):
        return "local"
    if swarm is None:
        raise Forbidden("cannot create a swarm scoped network when swarm is not active")
    if asked == "global":
        raise Forbidden(f"the {driver} driver cannot make global scope networks: use local or swarm scope")
    return "swarm"


def parse_create(body: dict[str, Any], swarm: SwarmScope | None = None) -> NetworkSpec:
    """A NetworkCreateRequest, checked. `swarm`: the active swarm, without which overlay and
    swarm-scoped networks are refused as dockerd outside a swarm refuses them."""
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise InvalidArgument("a network needs a Name")
    driver = body.get("Driver") or "bridge"
    if not isinstance(driver, str):
        raise InvalidArgument("Driver must be a string")
    if driver in ("host", "null"):
        raise Forbidden(f'only one instance of "{driver}" network is allowed')
    asked = body.get("Scope") or ""
    if not isinstance(asked, str):
        raise InvalidArgument("Scope must be a string (local, swarm or global)")
    ingress = _bool_field(body, "Ingress")
    scope = _scope(driver, asked, ingress, swarm)
    config_only = _bool_field(body, "ConfigOnly")
    if driver not in ("bridge", "overlay") and not config_only:
        raise NotFound(f'plugin "{driver}" not found: berthd\'s networks use the bridge driver '
                       "(and overlay in a swarm)")
    spec = NetworkSpec(name=name, driver=driver, internal=_bool_field(body, "Internal"),
                       attachable=_bool_field(body, "Attachable"), enable_ipv6=_bool_field(body, "EnableIPv6"),
                       labels=_string_map(body.get("Labels"), "NetworkCreateRequest.Labels"),
                       options=_string_map(body.get("Options"), "NetworkCreateRequest.Options"),
                       config_only=config_only, scope=scope, ingress=ingress)
    check_bridge_options(spec.options)
    ipam = body.get("IPAM") or {}
    if not isinstance(ipam, dict):
        raise InvalidArgument("IPAM must be a JSON object (Driver, Config, Options)")
    if ipam.get("Driver") not in (None, "", "default"):
        raise NotFound(f"IPAM driver {ipam['Driver']!r} not found: only the default one is available")
    if ipam.get("Options") is not None:
        spec.ipam_options = _string_map(ipam["Options"], "IPAM.Options")
    parse_pools(ipam.get("Config"), spec)
    config_from = body.get("ConfigFrom") or {}
    if not isinstance(config_from, dict) or not isinstance(config_from.get("Network") or "", str):
        raise InvalidArgument('ConfigFrom must be {"Network": "<config-only network>"}')
    spec.config_from = str(config_from.get("Network") or "")
    if spec.config_from and spec.config_only:
        raise InvalidArgument("a config-only network cannot take its configuration from another")
    return spec


@dataclass
class EndpointSpec:
    """An EndpointSettings from a create request or a connect."""

    aliases: list[str] = field(default_factory=list)
    ipv4: Addr | None = None
    ipv6: Addr6 | None = None
    link_local_ips: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # "container:alias", as given
    mac: str = ""
    driver_opts: dict[str, str] | None = None


def _string_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{what} must be a list of strings")
    return list(value)


def parse_mac(text: str) -> str:
    if not _MAC.match(text):
        raise InvalidArgument(f"invalid MAC address {text!r}: use six hex pairs, like 02:42:ac:11:00:02")
    return text


def link_target(link: str) -> tuple[str, str]:
    """"container:alias" (or "container", its own alias) -> (container, alias)."""
    name, _, alias = link.partition(":")
    return name.lstrip("/"), (alias or name.lstrip("/"))


def parse_endpoint(settings: Any, mac: str = "") -> EndpointSpec:
    """`mac`: the container's own Config.MacAddress (API < 1.44), which applies to its first network."""
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise InvalidArgument("EndpointSettings must be a JSON object")
    spec = EndpointSpec(aliases=_string_list(settings.get("Aliases"), "Aliases"),
                        links=_string_list(settings.get("Links"), "Links"))
    ipam = settings.get("IPAMConfig") or {}
    if not isinstance(ipam, dict):
        raise InvalidArgument("IPAMConfig must be a JSON object (IPv4Address, IPv6Address, LinkLocalIPs)")
    if ipam.get("IPv4Address"):
        spec.ipv4 = parse_address(str(ipam["IPv4Address"]), "IPv4 address")
    if ipam.get("IPv6Address"):
        spec.ipv6 = parse_address6(str(ipam["IPv6Address"]), "IPv6 address")
    spec.link_local_ips = _string_list(ipam.get("LinkLocalIPs"), "IPAMConfig.LinkLocalIPs")
    for text in spec.link_local_ips:
        try:
            local = ipaddress.ip_address(text)
        except ValueError:
            raise InvalidArgument(f"invalid link-local address {text!r}") from None
        if not local.is_link_local:
            raise InvalidArgument(f"{text} is not a link-local address (169.254.0.0/16 or fe80::/10)")
    for link in spec.links:
        name, alias = link_target(link)
        if not name or ":" in alias:
            raise InvalidArgument(f"invalid link {link!r}: use container:alias")
    wanted = settings.get("MacAddress") or mac
    if wanted:
        spec.mac = parse_mac(str(wanted))
    if settings.get("DriverOpts") is not None:
        spec.driver_opts = _string_map(settings["DriverOpts"], "EndpointSettings.DriverOpts")
    return spec
