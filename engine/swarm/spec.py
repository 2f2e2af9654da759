"""What a swarm init or update asks for, parsed once; the cluster spec as swarmkit keeps it.

The defaults are swarmkit's (what `GET /swarm` shows after `docker swarm init`), and the words
of refusals are dockerd's where a client might compare them.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InvalidArgument, NotImplementedHere

DEFAULT_ADDR_POOL = ("10.0.0.0/8",)
DEFAULT_SUBNET_SIZE = 24
DEFAULT_DATA_PATH_PORT = 4789
SWARM_PORT = "2377"


def default_spec() -> dict[str, Any]:
    return {
        "Name": "default", "Labels": {}, "Orchestration": {"TaskHistoryRetentionLimit": 5},
        "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
                 "ElectionTick": 10, "HeartbeatTick": 1},
        "Dispatcher": {"HeartbeatPeriod": 5000000000}, "CAConfig": {"NodeCertExpiry": 7776000000000000},
        "TaskDefaults": {}, "EncryptionConfig": {"AutoLockManagers": False},
    }


@dataclass(frozen=True)
class InitRequest:
    listen_addr: str  # host:port, recorded only: berthd opens no swarm listener
    advertise_addr: str  # host:port
    data_path_addr: str
    default_addr_pool: tuple[str, ...]
    subnet_size: int
    data_path_port: int
    force_new_cluster: bool
    spec: dict[str, Any] = field(default_factory=default_spec)


def _split(addr: str, default_port: str) -> tuple[str, str]:
    """"host:port", "host", ":port" or "[v6]:port" into its host and port."""
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        return host, rest.lstrip(":") or default_port
    if addr.count(":") == 1:
        host, _, port = addr.partition(":")
        return host, port or default_port
    return addr, default_port


def _join(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str):
        raise InvalidArgument(f"{key} must be a string, like 127.0.0.1:2377")
    return value


def check_spec(spec: Any) -> dict[str, Any]:
    """A swarm Spec: a JSON object named "default" (or unnamed), without autolock."""
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise InvalidArgument("Spec must be a JSON object (Name, Labels, Orchestration, Raft, ...)")
    if spec.get("Name") not in (None, "", "default"):
        raise InvalidArgument('swarm spec must be named "default"')
    encryption = spec.get("EncryptionConfig")
    if isinstance(encryption, dict) and encryption.get("AutoLockManagers"):
        # Autolock encrypts the raft log at rest; a single-node berthd swarm keeps no raft log.
        raise NotImplementedHere("berthd's single-node swarm has no raft log to encrypt: autolock is not available")
    return spec


def merge_spec(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Init's merge: every value the request gives that is not zero or empty replaces the default."""
    out = copy.deepcopy(base)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "Labels":
            out[key] = merge_spec(out[key], value)
        elif value not in (None, 0, "", False, [], {}) or key not in out:
            out[key] = copy.deepcopy(value)
    return out


def parse_init(body: Any) -> InitRequest:
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object (InitRequest)")
    listen = _string(body, "ListenAddr")
    if not listen:
        raise InvalidArgument('invalid ListenAddr "": invalid empty address')
    listen_host, listen_port = _split(listen, SWARM_PORT)
    advertise = _string(body, "AdvertiseAddr")
    if advertise:
        host, port = _split(advertise, listen_port)
    else:
        # dockerd picks one of the host's addresses to tell other nodes; no other node will ask this one.
        host = listen_host if listen_host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        port = listen_port
    pools = body.get("DefaultAddrPool") or list(DEFAULT_ADDR_POOL)
    if not isinstance(pools, list) or not all(isinstance(p, str) for p in pools):
        raise InvalidArgument("DefaultAddrPool must be a list of CIDR blocks, like 10.0.0.0/8")
    size = body.get("SubnetSize") or DEFAULT_SUBNET_SIZE
    if not isinstance(size, int) or isinstance(size, bool):
        raise InvalidArgument("SubnetSize must be a number, like 24")
    for text in pools:
        try:
            pool = ipaddress.IPv4Network(text)
        except ValueError:
            raise InvalidArgument(f"invalid default address pool {text!r}: use an IPv4 CIDR block, "
                                  "like 10.0.0.0/8") from None
        if not pool.prefixlen <= size <= 29:
            raise InvalidArgument(f"invalid subnet size {size} for pool {text}: it must be between "
                                  f"{pool.prefixlen} and 29")
    port_number = body.get("DataPathPort") or DEFAULT_DATA_PATH_PORT
    if not isinstance(port_number, int) or not 1024 <= port_number <= 49151:
        raise InvalidArgument(f"data path port {port_number} is not valid: use a port between 1024 and 49151")
    return InitRequest(listen_addr=_join(listen_host or "0.0.0.0", listen_port), advertise_addr=_join(host, port),
                       data_path_addr=_string(body, "DataPathAddr"), default_addr_pool=tuple(pools),
                       subnet_size=size, data_path_port=port_number,
                       force_new_cluster=bool(body.get("ForceNewCluster")),
                       spec={**merge_spec(default_spec(), check_spec(body.get("Spec"))), "Name": "default"})


@dataclass(frozen=True)
class UpdateRequest:
    version: int
    spec: dict[str, Any]
    rotate_worker_token: bool
    rotate_manager_token: bool


def _flag(query: dict[str, str], key: str) -> bool:
    return query.get(key, "").lower() in ("1", "true", "t")


def parse_update(query: dict[str, str], body: Any) -> UpdateRequest:
    text = query.get("version", "")
    if not text.isdigit():
        raise InvalidArgument(f"invalid swarm version '{text}': strconv.ParseUint: parsing \"{text}\": "
                              "invalid syntax")
    spec = check_spec(body)
    # Update takes the whole spec as given: fields left out are zero, as with dockerd.
    spec = {**copy.deepcopy(spec), "Name": "default"}
    spec.setdefault("Labels", {})
    return UpdateRequest(version=int(text), spec=spec, rotate_worker_token=_flag(query, "rotateWorkerToken"),
                         rotate_manager_token=_flag(query, "rotateManagerToken"))
