"""Swarm mode on one node: what `docker swarm init` gives a Docker Desktop user on one machine.

berthd becomes the manager of a swarm of one: it has an id, join tokens and a spec, keeps them
across restarts, and makes overlay and swarm-scoped networks (each carried by a bridge of this
host: there is no other node to reach, so no VXLAN). It runs no swarmkit: it opens no listener
(ListenAddr and AdvertiseAddr are recorded only), no node can join, and it schedules no
services or tasks; those endpoints say so.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Any

from engine.errors import EngineError, InvalidArgument, NotFound, NotImplementedHere
from engine.formats import now_ns, rfc3339_nano
from engine.networks.service import NetworkService
from engine.networks.spec import NOT_A_MANAGER, SwarmScope
from engine.state.db import Database
from engine.swarm.spec import InitRequest, UpdateRequest
from engine.swarm.store import Swarm, SwarmStore, new_id, new_secret

NOT_IN_A_SWARM = "This node is not part of a swarm"
ALREADY_IN_A_SWARM = ('This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
                      "and join another one.")
LAST_MANAGER = ("You are attempting to leave the swarm on a node that is participating as a manager. "
                "Removing the last manager erases all current state of the swarm. Use `--force` to ignore "
                "this message. ")
SINGLE_NODE_ONLY = ("berthd runs single-node swarms only: this node cannot join another swarm "
                    '(use "docker swarm init" to make it a swarm of its own)')
NO_SERVICES = ("berthd's single-node swarm does not run services{so}: use docker compose (or berth compose), "
               "which runs the application as containers (secrets and configs as files), or a dockerd for swarm "
               "services")


class SwarmUnavailable(EngineError):
    """dockerd's 503 for what the node's swarm state does not allow."""

    status = 503


@dataclass(frozen=True)
class NodeDescription:
    """This host as a swarm node describes itself."""

    hostname: str
    architecture: str
    ncpu: int
    memory: int
    engine_version: str
    plugins: tuple[tuple[str, str], ...]  # (type, name)


class SwarmService:
    def __init__(self, db: Database, networks: NetworkService) -> None:
        self.store = SwarmStore(db)
        self.networks = networks
        self.swarm = self.store.load()
        self._lock = asyncio.Lock()

    # ---- state --------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.swarm is not None

    def manager(self) -> Swarm:
        """The swarm, for what only its manager may do; dockerd's 503 outside one."""
        if self.swarm is None:
            raise SwarmUnavailable(NOT_A_MANAGER)
        return self.swarm

    def network_scope(self) -> SwarmScope | None:
        """What networks made now get from the swarm: its address pools; None outside a swarm."""
        if self.swarm is None:
            return None
        return SwarmScope(tuple(ipaddress.IPv4Network(p) for p in self.swarm.default_addr_pool),
                          self.swarm.subnet_size)

    def no_services(self, what: str) -> EngineError:
        """What /services, /tasks, /secrets and /configs answer: 503 outside a swarm, as dockerd;
        inside berthd's, 501, since it schedules nothing."""
        if self.swarm is None:
            return SwarmUnavailable(NOT_A_MANAGER)
        return NotImplementedHere(NO_SERVICES.format(so="" if what == "services" else f", so it keeps no {what}"))

    # ---- init / join / leave ------------------------------------------------------------

    async def init(self, req: InitRequest) -> str:
        async with self._lock:
            if self.swarm is not None:
                if req.force_new_cluster:
                    return self.swarm.node_id  # a swarm of one is its own new cluster already
                raise SwarmUnavailable(ALREADY_IN_A_SWARM)
            now = now_ns()
            # ListenAddr and AdvertiseAddr are recorded only: berthd opens no listener (no other
            # node may join a berthd swarm, so there is nothing to listen for).
            swarm = Swarm(id=new_id(), node_id=new_id(), created_ns=now, updated_ns=now, version=10, node_version=9,
                          spec=req.spec, listen_addr=req.listen_addr, advertise_addr=req.advertise_addr,
                          data_path_addr=req.data_path_addr, default_addr_pool=list(req.default_addr_pool),
                          subnet_size=req.subnet_size, data_path_port=req.data_path_port)
            self.swarm = swarm
            try:
                # dockerd makes the routing mesh's network at init; here it is a bridge like the others.
                scope = self.network_scope()
                await self.networks.create({"Name": "ingress", "Driver": "overlay", "Ingress": True}, scope)
                self.store.save(swarm)
            except BaseException:
                self.swarm = None
                await self.networks.remove_swarm_networks()
                raise
            return swarm.node_id

    def join(self) -> None:
        if self.swarm is not None:
            raise SwarmUnavailable(ALREADY_IN_A_SWARM)
        raise SwarmUnavailable(SINGLE_NODE_ONLY)

    async def leave(self, force: bool) -> None:
        async with self._lock:
            if self.swarm is None:
                raise SwarmUnavailable(NOT_IN_A_SWARM)
            if not force:
                raise SwarmUnavailable(LAST_MANAGER)
            await self.networks.remove_swarm_networks()
            self.store.clear()
            self.swarm = None

    # ---- inspect / update ---------------------------------------------------------------

    def _cluster_info(self, swarm: Swarm) -> dict[str, Any]:
        return {
            "ID": swarm.id, "Version": {"Index": swarm.version}, "CreatedAt": rfc3339_nano(swarm.created_ns),
            "UpdatedAt": rfc3339_nano(swarm.updated_ns), "Spec": swarm.spec,
            # No CA: no node ever joins, so no certificate is issued to anyone.
            "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""},
            "RootRotationInProgress": False, "DefaultAddrPool": list(swarm.default_addr_pool),
            "SubnetSize": swarm.subnet_size, "DataPathPort": swarm.data_path_port,
        }

    def inspect(self) -> dict[str, Any]:
        swarm = self.manager()
        return {**self._cluster_info(swarm), "JoinTokens": {"Worker": swarm.token(swarm.worker_secret),
                                                            "Manager": swarm.token(swarm.manager_secret)}}

    def update(self, req: UpdateRequest) -> None:
        swarm = self.manager()
        if req.version != swarm.version:
            raise EngineError("update out of sequence")
        swarm.spec = req.spec
        if req.rotate_worker_token:
            swarm.worker_secret = new_secret()
        if req.rotate_manager_token:
            swarm.manager_secret = new_secret()
        swarm.version += 1
        swarm.updated_ns = now_ns()
        self.store.save(swarm)

    def info(self) -> dict[str, Any]:
        """The Swarm section of /info."""
        swarm = self.swarm
        if swarm is None:
            return {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                    "Error": "", "RemoteManagers": None}
        return {"NodeID": swarm.node_id, "NodeAddr": _host(swarm.advertise_addr), "LocalNodeState": "active",
                "ControlAvailable": True, "Error": "",
                "RemoteManagers": [{"NodeID": swarm.node_id, "Addr": swarm.advertise_addr}],
                "Nodes": 1, "Managers": 1, "Cluster": self._cluster_info(swarm)}

    # ---- nodes --------------------------------------------------------------------------

    def node(self, ref: str, me: NodeDescription) -> dict[str, Any]:
        swarm = self.manager()
        if not ref or not (swarm.node_id.startswith(ref) or ref == me.hostname):
            raise NotFound(f"node {ref} not found")
        return self._node(swarm, me)

    def nodes(self, filters: dict[str, list[str]], me: NodeDescription) -> list[dict[str, Any]]:
        swarm = self.manager()
        for key in filters:
            if key not in ("id", "name", "role", "membership", "node.label", "label"):
                raise InvalidArgument(f"invalid filter '{key}'")
        checks = (("id", lambda v: swarm.node_id.startswith(v)), ("name", lambda v: me.hostname.startswith(v)),
                  ("role", lambda v: v == "manager"), ("membership", lambda v: v == "accepted"),
                  ("node.label", lambda v: False), ("label", lambda v: False))
        for key, match in checks:
            if key in filters and not any(match(v) for v in filters[key]):
                return []
        return [self._node(swarm, me)]

    def _node(self, swarm: Swarm, me: NodeDescription) -> dict[str, Any]:
        return {
            "ID": swarm.node_id, "Version": {"Index": swarm.node_version},
            "CreatedAt": rfc3339_nano(swarm.created_ns), "UpdatedAt": rfc3339_nano(swarm.created_ns),
            "Spec": {"Labels": {}, "Role": "manager", "Availability": "active"},
            "Description": {
                "Hostname": me.hostname, "Platform": {"Architecture": me.architecture, "OS": "linux"},
                "Resources": {"NanoCPUs": me.ncpu * 1_000_000_000, "MemoryBytes": me.memory},
                "Engine": {"EngineVersion": me.engine_version,
                           "Plugins": [{"Type": t, "Name": n} for t, n in me.plugins]},
                "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""},
            },
            "Status": {"State": "ready", "Addr": _host(swarm.advertise_addr)},
            "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": swarm.advertise_addr},
        }


def _host(addr: str) -> str:
    host = addr.rpartition(":")[0]
    return host.strip("[]")
