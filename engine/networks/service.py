"""The network service: the domain behind /networks, and the container service's networking
collaborator (validate, attach, detach, release, settings, ports).

A bridge-networked container gets a network namespace bind-mounted at
`<exec-root>/netns/<id>`, one veth per network (eth0, eth1...) into that network's bridge, the
address its endpoint holds, and a default route through its first network that has a way out.
Published ports become DNAT rules; the firewall's chains are brought up to date with the store
after every change (`rulesync.py`: one write at a time, serving every change asked for meanwhile),
so they always say what the store says.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import ipaddress
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.containers.hooks import NetworkAttachment
from engine.containers.hostspec import HostNetwork, JoinContainer, NetworkMode, NoNetwork
from engine.containers.model import Container
from engine.errors import Conflict, EngineError, Forbidden, InvalidArgument, NotFound
from engine.events import EventBus
from engine.formats import now_ns, rfc3339_nano
from engine.labels import prune_labels_match
from engine.laps import Laps
from engine.networks import dns, links, resolvconf
from engine.networks.config import NetworkConfig
from engine.networks.firewall import Chains, Firewall, FirewallState, NetworkRules, PortMapping
from engine.networks.ipam import Net, Net6, mac_for, parse_subnet, pick_subnet
from engine.networks.ports import Binding, PortRequest, PortReservations, parse_port_key
from engine.networks.rulesync import RuleSync
from engine.networks.spec import (
    BRIDGE_NAME_OPT,
    EndpointSpec,
    NetworkSpec,
    SwarmScope,
    link_target,
    parse_create,
    parse_endpoint,
    parse_pools,
)
from engine.networks.store import Claim, Endpoint, Network, NetworkStore, network_row_fields
from engine.shapes import EndpointIPAMConfig, EndpointSettings
from engine.state.db import Database

log = logging.getLogger(__name__)

PREDEFINED = ("bridge", "host", "none")

ContainerLookup = Callable[[str], Container]
ContainerList = Callable[[], list[Container]]


# A network's settings without an endpoint in it: the host and none networks as inspect shows them,
# and the top-level fields of a container that is not on the default bridge.
_NO_ENDPOINT: EndpointSettings = {
    "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "NetworkID": "", "EndpointID": "",
    "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0, "DriverOpts": None, "DNSNames": None,
}


class NetworkService:
    def __init__(self, db: Database, events: EventBus, config: NetworkConfig, lookup: ContainerLookup,
                 all_containers: ContainerList, firewall: Firewall | None = None,
                 forwarders: list[tuple[str, int]] | None = None) -> None:
        self.store = NetworkStore(db)
        self.events = events
        self.config = config
        self.lookup = lookup
        self.all_containers = all_containers
        self.firewall = firewall or Firewall(Chains(config.chain_prefix))
        if forwarders is None:
            forwarders = config.forwarders if config.forwarders is not None else dns.host_resolvers()
        self.forwarders = forwarders
        self.reservations = PortReservations()
        self.active: set[str] = set()  # containers whose namespace and interfaces are up
        self.responders: dict[str, dns.DnsResponder] = {}
        # Networks whose bridge, addresses and forwarding this berthd has put right: a start on one of
        # them skips that (6-8 netlink and sysctl round trips) unless the bridge turns out to be gone.
        self._up: set[str] = set()
        self._lock = asyncio.Lock()
        self._rules = RuleSync(self.firewall_state, self.firewall.sync)
        # Bridges being deleted, by name: a network made meanwhile under the same name waits for it.
        self._deleting: dict[str, asyncio.Task[None]] = {}
        # Networks whose bridge is being brought up, by id: whoever else needs it up joins that.
        self._bringing: dict[str, asyncio.Task[None]] = {}
        # Networks stored but whose create has not returned: a removal waits for the create to end.
        self._creating: dict[str, asyncio.Future[None]] = {}
        self._ensure_predefined()

    # ---- naming -------------------------------------------------------------------------

    def _alias(self, owner: str) -> str:
        return f"berthd:{self.config.alias_tag}:{owner}"

    def netns_path(self, cid: str) -> Path:
        return self.config.netns_dir / cid

    def _ensure_predefined(self) -> None:
        existing = {n.name for n in self.store.all() if n.predefined}
        for name in PREDEFINED:
            if name in existing:
                continue
            n = Network(id=secrets.token_hex(32), name=name, created_ns=now_ns(), predefined=True,
                        driver={"bridge": "bridge", "host": "host", "none": "null"}[name])
            if name == "bridge":
                subnet = (parse_subnet(self.config.bridge_subnet) if self.config.bridge_subnet
                          else pick_subnet(self._taken_subnets()))
                n.subnet, n.gateway, n.bridge = subnet, subnet.network_address + 1, self.config.bridge_name
                n.options = {"com.docker.network.bridge.default_bridge": "true",
                             "com.docker.network.bridge.enable_icc": "true",
                             "com.docker.network.bridge.enable_ip_masquerade": "true",
                             "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                             BRIDGE_NAME_OPT: self.config.bridge_name,
                             "com.docker.network.driver.mtu": "1500"}
            with contextlib.suppress(Conflict):
                self.store.insert(n)

    def _taken_subnets(self) -> list[ipaddress.IPv4Network]:
        taken = [n.subnet for n in self.store.all() if n.subnet is not None]
        try:
            # pyroute2's synchronous API refuses to run inside an event loop's thread: use a worker.
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                taken += pool.submit(links.host_networks).result(timeout=30)
        except Exception as e:  # no netlink (a unit test without privileges): our own networks still count
            log.warning("cannot read the host's routes: %s", e)
        return taken

    # ---- networks -----------------------------------------------------------------------

    def get(self, ref: str) -> Network:
        return self.store.resolve(ref)

    def all(self) -> list[Network]:
        return self.store.all()

    async def create(self, body: dict[str, Any], swarm: SwarmScope | None = None) -> Network:
        """`swarm`: the swarm this node is in, if it is in one (overlay and swarm-scoped networks need it)."""
        spec = parse_create(body, swarm)
        if spec.name in PREDEFINED:
            raise Forbidden(f"operation is not permitted on predefined {spec.name} network")
        if self.store.by_name(spec.name) is not None:
            raise Conflict(f"network with name {spec.name} already exists")
        if spec.config_from:
            spec = self._configured_from(spec)
        nid = secrets.token_hex(32)
        bridge = "" if spec.config_only else (spec.options.get(BRIDGE_NAME_OPT) or f"br-{nid[:12]}")
        laps = Laps()
        async with self._lock:
            laps.mark("lock")
            # Read under the lock, once: two creates at once must not both take one subnet or bridge.
            existing = self.store.claims()
            ingress = next((c for c in existing if c.ingress), None)
            if spec.ingress and ingress is not None:
                raise Conflict(f"ingress network ({ingress.id}) is already present")
            others = [c for c in existing if not c.config_only]
            if bridge and any(c.bridge == bridge for c in others):
                raise Conflict(f"bridge {bridge} is already used by another network")
            n = Network(id=nid, name=spec.name, driver="null" if spec.config_only else spec.driver,
                        created_ns=now_ns(), internal=spec.internal, attachable=spec.attachable, labels=spec.labels,
                        options=spec.options, bridge=bridge, enable_ipv6=spec.enable_ipv6,
                        ipam_options=spec.ipam_options, config_only=spec.config_only,
                        config_from=spec.config_from, scope=spec.scope, ingress=spec.ingress)
            self._address(n, spec, others, swarm if spec.scope == "swarm" else None)
            self.store.insert(n)
            laps.mark("store")
        if not n.config_only:  # (which has no bridge: it only holds configuration)
            # Outside the lock: creates at once make their bridges side by side, and those that arrive
            # while the rules are written share the next write. A removal of this network waits.
            creating = asyncio.get_running_loop().create_future()
            self._creating[n.id] = creating
            try:
                await self._bring_up(n)
                laps.mark("bridge and dns")
                await self._sync_firewall()
                laps.mark("firewall")
            except BaseException:
                async with self._lock:
                    await self._forget(n)
                with contextlib.suppress(Exception):
                    await self._sync_firewall()  # its rules, if they were written, go too
                raise
            finally:
                del self._creating[n.id]
                creating.set_result(None)
        self.events.publish("network", "create", n.id, {"name": n.name, "type": n.driver})
        log.debug("network create of %s: %s", n.name, laps)
        return n

    async def _forget(self, n: Network) -> None:
        """Undo a create that failed half-way (under the lock)."""
        bringing = self._bringing.get(n.id)
        if bringing is not None:  # (a create cut short leaves it running): it must not come back after this
            await asyncio.wait([bringing])
        responder = self.responders.pop(n.id, None)
        if responder is not None:
            responder.close()
        self._up.discard(n.id)
        self.store.delete(n.id)
        await asyncio.to_thread(links.delete_link, n.bridge)

    def _configured_from(self, spec: NetworkSpec) -> NetworkSpec:
        """A network made from a config-only one takes its IPAM, options and IPv6 setting."""
        if spec.configured:
            raise Forbidden("network configuration (IPAM, options, IPv6) cannot be given with a ConfigFrom network: "
                            f"it comes from {spec.config_from}")
        source = self.get(spec.config_from)
        if not source.config_only:
            raise Forbidden(f"network {source.name} is not a config-only network: only those can be a ConfigFrom")
        parse_pools(source.ipam_config, spec)
        spec.options, spec.ipam_options = dict(source.options), source.ipam_options
        spec.enable_ipv6, spec.config_from = source.enable_ipv6, source.name
        return spec

    def _address(self, n: Network, spec: NetworkSpec, others: list[Claim], swarm: SwarmScope | None) -> None:
        """`n`'s subnets, gateways, ranges and auxiliary addresses from `spec`; an IPv4 subnet of the
        default pools when it gives none (of the swarm's pool for a swarm network, 10.0.0.0/24 first
        as dockerd; a config-only network keeps only what it was given)."""
        n.ipam_config = list(spec.shown)
        v4, v6 = spec.ipv4, spec.ipv6
        if v4 is not None:
            n.subnet, n.gateway, n.ip_range = v4.subnet, v4.gateway or v4.subnet.network_address + 1, v4.ip_range
        elif not spec.config_only:
            n.subnet = pick_subnet(self._taken_subnets(), swarm.candidates() if swarm is not None else None)
            n.gateway = n.subnet.network_address + 1
            n.ipam_config.insert(0, {"Subnet": str(n.subnet), "Gateway": str(n.gateway)})
        if v6 is not None:
            n.subnet6, n.gateway6, n.ip_range6 = v6.subnet, v6.gateway or v6.subnet.network_address + 1, v6.ip_range
        elif spec.enable_ipv6 and not spec.config_only:
            raise NotFound("could not find an available, non-overlapping IPv6 address pool among the defaults "
                           "to assign to the network: give an IPv6 --subnet")
        n.aux = {**(v4.aux if v4 else {}), **(v6.aux if v6 else {})}
        for pool in n.pools():
            pool.check()
            if not spec.config_only:  # (what config-only networks hold is checked where it is used)
                _check_overlap(pool.subnet, others)

    async def _bring_up(self, n: Network) -> None:
        """`n`'s bridge, addresses, forwarding and DNS in place; one bring-up of a network at a time."""
        task = self._bringing.get(n.id)
        if task is None:
            task = asyncio.create_task(self._bring_up_now(n), name=f"networks: bring up {n.bridge}")
            self._bringing[n.id] = task

            def done(finished: asyncio.Task[None]) -> None:
                if self._bringing.get(n.id) is finished:
                    del self._bringing[n.id]
                if not finished.cancelled():
                    finished.exception()  # its callers get it; none left is no reason to log it

            task.add_done_callback(done)
        await asyncio.shield(task)

    async def _bring_up_now(self, n: Network) -> None:
        assert n.subnet is not None and n.gateway is not None
        deleting = self._deleting.get(n.bridge)
        if deleting is not None:  # a removed network's bridge of the same name, still going
            await asyncio.shield(deleting)
        gateway6 = str(n.gateway6) if n.ipv6 else None
        prefixlen6 = n.subnet6.prefixlen if n.subnet6 is not None else 64
        await asyncio.to_thread(links.ensure_bridge, n.bridge, str(n.gateway), n.subnet.prefixlen,
                                self._alias("net:" + n.id[:12]), gateway6, prefixlen6)
        if not n.internal:
            await asyncio.to_thread(links.enable_forwarding, n.ipv6)
        self._up.add(n.id)
        if n.user_defined and n.id not in self.responders:
            responder = dns.DnsResponder(n.id, self.resolve_name, self.forwarders, forward=not n.internal,
                                         upstreams=self.upstreams_of)
            try:
                await responder.start(str(n.gateway))
            except OSError as e:
                log.warning("network %s: no embedded DNS on %s:53: %s", n.name, n.gateway, e)
            else:
                self.responders[n.id] = responder

    async def remove(self, ref: str) -> None:
        n = self.get(ref)
        if n.predefined:
            raise Forbidden(f"{n.name} is a pre-defined network and cannot be removed")
        creating = self._creating.get(n.id)
        if creating is not None:  # its create is still bringing it up: let that end first
            await asyncio.shield(creating)
        async with self._lock:
            if not self._exists(n.id):  # removed meanwhile (or its create failed)
                raise NotFound(f"network {ref} not found")
            users = [ep.container_id for ep in self.store.endpoints(network_id=n.id)
                     if ep.container_id in self.active]
            if users:
                raise Forbidden(f"error while removing network: network {n.name} id {n.id} has active endpoints")
            if n.config_only and any(other.config_from == n.name for other in self.store.all()):
                raise Forbidden(f'error while removing network: configuration network "{n.name}" is in use')
            responder = self.responders.pop(n.id, None)
            if responder is not None:
                responder.close()
            self.store.delete(n.id)
            self._up.discard(n.id)
            deleting = self._delete_bridge(n.bridge) if n.bridge else None
        # Outside the lock: the kernel's wait for a deleted bridge's readers (~40 ms) and the rules'
        # write overlap, and removals that arrive meanwhile share the next write.
        try:
            await self._sync_firewall()
        finally:
            if deleting is not None:
                await asyncio.shield(deleting)
        self.events.publish("network", "destroy", n.id, {"name": n.name, "type": n.driver})

    def _delete_bridge(self, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(asyncio.to_thread(links.delete_link, name), name=f"networks: delete {name}")
        self._deleting[name] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._deleting.get(name) is finished:
                del self._deleting[name]
            if not finished.cancelled():
                finished.exception()  # the removal that started it gets it

        task.add_done_callback(done)
        return task

    async def remove_swarm_networks(self) -> list[str]:
        """When this node leaves its swarm: every swarm-scoped network goes, its containers
        disconnected first (dockerd does the same to attachable networks' containers)."""
        removed: list[str] = []
        for n in self.store.all():
            if n.scope != "swarm":
                continue
            for ep in self.store.endpoints(network_id=n.id):
                with contextlib.suppress(NotFound):
                    await self.disconnect(n.id, ep.container_id, force=True)
                self.store.remove_endpoint(n.id, ep.container_id)  # (a container already gone, too)
            await self.remove(n.id)
            removed.append(n.name)
        return removed

    async def prune(self, labels: list[str], until_ns: int | None = None) -> list[str]:
        removed: list[str] = []
        existing = {c.id for c in self.all_containers()}
        for n in self.store.all():
            if n.predefined or n.ingress or (until_ns is not None and n.created_ns >= until_ns):
                continue
            if not prune_labels_match(n.labels, labels):
                continue
            if any(ep.container_id in existing for ep in self.store.endpoints(network_id=n.id)):
                continue
            with contextlib.suppress(EngineError):
                await self.remove(n.id)
                removed.append(n.name)
        return removed

    def inspect_all(self, networks: list[Network]) -> list[dict[str, Any]]:
        """Inspect of each, with one read of the endpoints for all of them (GET /networks)."""
        by_network: dict[str, list[Endpoint]] = {}
        for ep in self.store.endpoints():
            by_network.setdefault(ep.network_id, []).append(ep)
        return [self.inspect(n, endpoints=by_network.get(n.id, [])) for n in networks]

    def inspect(self, n: Network, with_containers: bool = True,
                endpoints: list[Endpoint] | None = None) -> dict[str, Any]:
        containers: dict[str, Any] = {}
        if with_containers:
            for ep in self.store.endpoints(network_id=n.id) if endpoints is None else endpoints:
                if ep.container_id not in self.active or ep.ip is None or n.subnet is None:
                    continue
                try:
                    c = self.lookup(ep.container_id)
                except NotFound:
                    continue
                v6 = f"{ep.ip6}/{n.subnet6.prefixlen}" if ep.ip6 is not None and n.subnet6 is not None else ""
                containers[c.id] = {"Name": c.name, "EndpointID": ep.endpoint_id, "MacAddress": ep.mac,
                                    "IPv4Address": f"{ep.ip}/{n.subnet.prefixlen}", "IPv6Address": v6}
        return {
            "Name": n.name, "Id": n.id, "Created": rfc3339_nano(n.created_ns), "Scope": n.scope, "Driver": n.driver,
            "EnableIPv6": n.enable_ipv6, "IPAM": network_row_fields(n), "Internal": n.internal,
            "Attachable": n.attachable, "Ingress": n.ingress, "ConfigFrom": {"Network": n.config_from},
            "ConfigOnly": n.config_only, "Containers": containers, "Options": dict(n.options), "Labels": n.labels,
        }

    # ---- ContainerNetworking: create time -----------------------------------------------

    def validate(self, c: Container, endpoints_config: dict[str, Any] | None = None) -> None:
        """Check the network settings; record the container's endpoints (aliases, static addresses).

        `endpoints_config` is the create request's NetworkingConfig.EndpointsConfig."""
        try:
            self._validate(c, endpoints_config)
        except NotFound as e:
            # 400, not 404: the docker CLI takes a 404 from create for a missing image and pulls.
            raise InvalidArgument(e.message) from None

    def _validate(self, c: Container, endpoints_config: dict[str, Any] | None) -> None:
        mode = c.spec.network
        requests = c.spec.publish.requested(c.config_spec.exposed_ports)
        if isinstance(mode, HostNetwork | NoNetwork):
            return
        if isinstance(mode, JoinContainer):
            if requests:
                raise InvalidArgument("conflicting options: port publishing and the container type network mode")
            other = self.lookup(mode.ref)
            if other.id == c.id:
                raise InvalidArgument("cannot join own network namespace")
            return
        primary = self.get(mode.name)
        if not primary.is_bridge:
            raise InvalidArgument(f"network {primary.name} cannot be combined with others")
        _check_attachable(primary)
        wanted: list[tuple[Network, dict[str, Any]]] = [(primary, {})]
        for key, settings in (endpoints_config or {}).items():
            # The CLI names the primary network as given: "default" when none was.
            n = primary if key in ("default", mode.name) else self.get(key)
            if not n.is_bridge:
                raise InvalidArgument(f"container cannot be connected to network {n.name} and to others")
            _check_attachable(n)
            if n.id == primary.id:
                wanted[0] = (primary, settings or {})
            else:
                wanted.append((n, settings or {}))
        # Config.MacAddress (API < 1.44; docker-py and older CLIs still send it) is the primary network's.
        mac = str(c.config.get("MacAddress") or "")
        for position, (n, settings) in enumerate(wanted):
            self._add_endpoint(c, n, parse_endpoint(settings, mac if position == 0 else ""), position)

    def _add_endpoint(self, c: Container, n: Network, spec: EndpointSpec, position: int) -> Endpoint:
        if spec.ipv4 is not None or spec.ipv6 is not None:
            self._purge_stale(n.id, keep=c.id)
            if n.predefined:
                raise InvalidArgument("user specified IP address is supported on user defined networks only")
            # Only running holders block a static address: a stopped one gives it up when this starts.
            used = self.store.used_addresses(n.id, running=self.active)
            if spec.ipv4 is not None:
                n.pool.static(spec.ipv4, used)
            if spec.ipv6 is not None:
                pool6 = n.pool6
                if pool6 is None or not n.ipv6:
                    raise InvalidArgument(f"invalid IPv6 address {spec.ipv6}: network {n.name} has no IPv6 "
                                          "(create it with --ipv6 and an IPv6 --subnet)")
                pool6.static(spec.ipv6, used)
        if spec.aliases and n.predefined:
            raise InvalidArgument("network-scoped aliases are supported for user-defined networks only")
        ep = Endpoint(network_id=n.id, container_id=c.id, endpoint_id=secrets.token_hex(32), ip=None, mac="",
                      static_ip=str(spec.ipv4 or ""), aliases=spec.aliases, position=position,
                      static_ip6=str(spec.ipv6 or ""), static_mac=spec.mac, links=spec.links,
                      link_local_ips=spec.link_local_ips, driver_opts=spec.driver_opts)
        self.store.add_endpoint(ep)
        return ep

    def _purge_stale(self, network_id: str, keep: str) -> None:
        """Forget endpoints of containers that were never stored (a create that failed after validate)."""
        for ep in self.store.endpoints(network_id=network_id):
            if ep.container_id == keep:
                continue
            try:
                self.lookup(ep.container_id)
            except NotFound:
                self.store.remove_endpoint(network_id, ep.container_id)

    # ---- ContainerNetworking: run time --------------------------------------------------

    async def attach(self, c: Container) -> NetworkAttachment:
        mode = c.spec.network
        if isinstance(mode, HostNetwork):
            return NetworkAttachment(host_network=True, host_gateway=self._default_gateway(),
                                     resolv_conf=resolvconf.host_network(c.spec.dns))
        if isinstance(mode, NoNetwork):
            return NetworkAttachment(resolv_conf=resolvconf.own_namespace(c.spec.dns, None,
                                                                          resolvconf.ResolvFile.read()))
        if isinstance(mode, JoinContainer):
            other = self.lookup(mode.ref)
            if not other.running or not other.pid:
                raise Conflict(f"cannot join the network of container {other.name}: it is not running")
            path = self.netns_path(other.id)
            netns = str(path) if path.exists() else f"/proc/{other.pid}/ns/net"
            return NetworkAttachment(netns_path=netns, hosts=self._hosts(other), resolv_conf=self._resolv(other),
                                     host_gateway=self._host_gateway(other))
        async with self._lock:
            return await self._attach_bridged(c, mode.name)

    async def _attach_bridged(self, c: Container, mode: str) -> NetworkAttachment:
        laps = Laps()
        eps = self.store.endpoints(container_id=c.id)
        if not eps:  # created before this berthd knew networks, or its endpoints were dropped
            self._add_endpoint(c, self.get(mode), EndpointSpec(), 0)
            eps = self.store.endpoints(container_id=c.id)
        laps.mark("endpoints")
        netns = self.netns_path(c.id)
        await asyncio.to_thread(links.create_netns, netns)
        laps.mark("netns")
        self.active.add(c.id)
        try:
            routed = (False, False)
            for index, ep in enumerate(eps):
                try:
                    n = self.get(ep.network_id)
                except NotFound:
                    raise NotFound(f"network {ep.network_id[:12]} of container {c.name} not found") from None
                routed = await self._plug(c, n, ep, netns, f"eth{index}", routed)
                laps.mark(f"eth{index}")
            # Ports published without a host address go where the primary network's
            # host_binding_ipv4 option says (every address unless it says otherwise).
            host_ip = self.get(eps[0].network_id).host_binding_ipv4 if eps else ""
            wanted = [r if r.host_ip or not host_ip else dataclasses.replace(r, host_ip=host_ip)
                      for r in c.spec.publish.requested(c.config_spec.exposed_ports)]
            bindings = self.reservations.reserve(c.id, wanted)
            self.store.set_bindings(c.id, bindings)
            laps.mark("ports")
            await self._sync_firewall()
            laps.mark("firewall")
        except BaseException:
            await self._teardown(c.id)
            raise
        self._publish_endpoints(c.id, "connect")
        attachment = NetworkAttachment(netns_path=str(netns), hosts=self._hosts(c), resolv_conf=self._resolv(c),
                                       host_gateway=self._host_gateway(c))
        laps.mark("hosts and resolv.conf")
        log.debug("network join of %s: %s", c.name, laps)
        return attachment

    async def _plug(self, c: Container, n: Network, ep: Endpoint, netns: Path, ifname: str,
                    routed: tuple[bool, bool]) -> tuple[bool, bool]:
        """Plug `ep` in as `ifname`. `routed`: whether the container already has an IPv4, an IPv6
        default route; the first network with a way out gives each. Returns them after this one."""
        assert n.subnet is not None
        addr = self.store.assign_address(n, ep, running=self.active)
        ep.mac = ep.static_mac.replace("-", ":").lower() or mac_for(addr)
        self.store.set_mac(ep)
        if n.id not in self._up:
            await self._bring_up(n)
        gateway = str(n.gateway) if not n.internal and not routed[0] else None
        gateway6 = str(n.gateway6) if n.ipv6 and ep.ip6 is not None and not n.internal and not routed[1] else None
        plug = links.Plug(bridge=n.bridge, host_name="vb" + secrets.token_hex(5), ifname=ifname, mac=ep.mac,
                          address=str(addr), prefixlen=n.subnet.prefixlen, gateway=gateway,
                          alias=self._alias(f"{c.id}:{n.id[:12]}"),
                          address6=str(ep.ip6) if ep.ip6 is not None else None,
                          prefixlen6=n.subnet6.prefixlen if n.subnet6 is not None else 64, gateway6=gateway6,
                          link_local=tuple(ep.link_local_ips), mtu=n.mtu)
        try:
            await asyncio.to_thread(links.plug, netns, plug)
        except links.BridgeMissing:  # gone since it was brought up (someone's `ip link del`)
            await self._bring_up(n)
            await asyncio.to_thread(links.plug, netns, plug)
        return routed[0] or gateway is not None, routed[1] or gateway6 is not None

    async def detach(self, c: Container) -> None:
        if _shares_namespace(c.spec.network):
            return
        if c.id not in self.active and not self.netns_path(c.id).exists():
            return  # already detached (removal follows the exit's detach)
        async with self._lock:
            await self._teardown(c.id)
            await self._sync_firewall()

    def _publish_endpoints(self, cid: str, action: str) -> None:
        """Docker announces a container's endpoints joining at start and leaving at stop."""
        for ep in self.store.endpoints(container_id=cid):
            with contextlib.suppress(NotFound):
                n = self.get(ep.network_id)
                self.events.publish("network", action, n.id, {"container": cid, "name": n.name, "type": n.driver})

    async def _teardown(self, cid: str) -> None:
        laps = Laps()
        if cid in self.active:
            self._publish_endpoints(cid, "disconnect")
        self.active.discard(cid)
        self.reservations.release(cid)
        self.store.set_bindings(cid, [])
        laps.mark("ports")
        # The kernel takes the veths with the namespace once its processes are gone; only where no
        # namespace was bound (a start cut short, a crash) are leftovers looked for and deleted.
        if not await asyncio.to_thread(links.delete_netns, self.netns_path(cid)):
            for link in await asyncio.to_thread(links.owned_links, self.config.alias_tag):
                if link.kind == "veth" and link.owner.startswith(cid + ":"):
                    await asyncio.to_thread(links.unplug, link.name)
        laps.mark("netns")
        log.debug("network teardown of %s: %s", cid[:12], laps)

    async def release(self, c: Container) -> None:
        await self.detach(c)
        self.store.remove_container(c.id)

    # ---- connect / disconnect -----------------------------------------------------------

    async def connect(self, ref: str, container_ref: str, settings: dict[str, Any] | None) -> None:
        n = self.get(ref)
        c = self.lookup(container_ref)
        mode = c.spec.network
        if not n.is_bridge:
            raise Forbidden(f"container cannot be connected to the {n.name} network")
        _check_attachable(n)
        if _shares_namespace(mode):
            raise Forbidden(f"container sharing network namespace with another container or host cannot be "
                            f"connected to any other network (network mode {mode.name})")
        async with self._lock:
            if self.store.endpoint(n.id, c.id) is not None:
                raise Forbidden(f"endpoint with name {c.name} already exists in network {n.name}")
            eps = self.store.endpoints(container_id=c.id)
            position = max((e.position for e in eps), default=-1) + 1
            ep = self._add_endpoint(c, n, parse_endpoint(settings), position)
            if c.id in self.active:
                try:
                    netns = self.netns_path(c.id)
                    names = await asyncio.to_thread(links.ns_ifnames, netns)
                    ifname = next(f"eth{i}" for i in range(64) if f"eth{i}" not in names)
                    others = [self.get(e.network_id) for e in eps if self._exists(e.network_id)]
                    routed = (any(not o.internal for o in others), any(o.ipv6 and not o.internal for o in others))
                    await self._plug(c, n, ep, netns, ifname, routed)
                    await self._sync_firewall()
                except BaseException:
                    self.store.remove_endpoint(n.id, c.id)
                    raise
        self.events.publish("network", "connect", n.id, {"container": c.id, "name": n.name, "type": n.driver})

    def _exists(self, network_id: str) -> bool:
        try:
            self.get(network_id)
        except NotFound:
            return False
        return True

    async def disconnect(self, ref: str, container_ref: str, force: bool = False) -> None:
        n = self.get(ref)
        try:
            c = self.lookup(container_ref)
        except NotFound:
            if not force:
                raise
            return
        async with self._lock:
            ep = self.store.endpoint(n.id, c.id)
            if ep is None:
                raise Forbidden(f"container {c.id} is not connected to network {n.name}")
            owned = await asyncio.to_thread(links.owned_links, self.config.alias_tag)
            for link in owned:
                if link.kind == "veth" and link.owner == f"{c.id}:{n.id[:12]}":
                    await asyncio.to_thread(links.unplug, link.name)
            self.store.remove_endpoint(n.id, c.id)
            await self._sync_firewall()
        self.events.publish("network", "disconnect", n.id, {"container": c.id, "name": n.name, "type": n.driver})

    # ---- what a container sees ----------------------------------------------------------

    def _primary(self, c: Container) -> tuple[Network, Endpoint] | None:
        for ep in self.store.endpoints(container_id=c.id):
            with contextlib.suppress(NotFound):
                return self.get(ep.network_id), ep
        return None

    def _hosts(self, c: Container) -> list[tuple[str, str]]:
        hostname = c.config_spec.hostname or c.short_id
        found = self._primary(c)
        if found is None or found[1].ip is None:
            return []
        return [(address, hostname) for address in _addresses(found[1])]

    def _host_gateway(self, c: Container) -> str:
        """The host's address on the container's own network (reachable without leaving the bridge)."""
        found = self._primary(c)
        if found is not None and found[0].is_bridge and found[0].gateway is not None:
            return str(found[0].gateway)
        return self._default_gateway()

    def _default_gateway(self) -> str:
        with contextlib.suppress(NotFound):
            gateway = self.get("bridge").gateway
            return str(gateway) if gateway is not None else ""
        return ""

    def _resolv(self, c: Container) -> str:
        """The container's resolv.conf, with the embedded DNS of its first user-defined network if it
        has one: as in dockerd, a container of the default bridge also connected to a user-defined
        network resolves names through it (the answer is scoped to all its networks either way).
        The host's IPv6 servers are kept when one of its networks has IPv6."""
        nameserver, ipv6 = None, False
        for ep in self.store.endpoints(container_id=c.id):
            with contextlib.suppress(NotFound):
                n = self.get(ep.network_id)
                ipv6 = ipv6 or n.ipv6
                if nameserver is None and n.user_defined and n.id in self.responders:
                    nameserver = str(n.gateway)
        return resolvconf.own_namespace(c.spec.dns, nameserver, resolvconf.ResolvFile.read(), ipv6)

    def upstreams_of(self, network_id: str, client: str) -> list[tuple[str, int]] | None:
        """The embedded DNS: where the container at `client` on the network sends names not ours,
        when it was given servers of its own (`--dns`); None for the default ones."""
        for ep in self.store.endpoints(network_id=network_id):
            if str(ep.ip) == client and ep.container_id in self.active:
                try:
                    return self.lookup(ep.container_id).spec.dns.forwarders()
                except NotFound:
                    return None
        return None

    def resolve_name(self, network_id: str, client: str, name: str) -> list[str] | None:
        """The embedded DNS: `name` as a container on the asking container's networks sees it
        (its IPv4 and, on a dual-stack network, IPv6 addresses: the responder answers A and AAAA)."""
        name = name.rstrip(".").lower()
        asking = next((ep for ep in self.store.endpoints(network_id=network_id) if str(ep.ip) == client), None)
        mine = [asking] if asking is not None else []
        if asking is not None:
            mine += [ep for ep in self.store.endpoints(container_id=asking.container_id) if ep.network_id != network_id]
        scope = [network_id] + [ep.network_id for ep in mine if ep.network_id != network_id]
        for nid in scope:
            members = [ep for ep in self.store.endpoints(network_id=nid)
                       if ep.container_id in self.active and ep.ip is not None]
            # A link ("upstream:bar") names a container for the linking container alone, first.
            own = next((ep for ep in mine if ep.network_id == nid), None)
            for link in own.links if own is not None else []:
                target, alias = link_target(link)
                if name == alias.lower():
                    found = self._addresses_of(target, members)
                    if found:
                        return found
            found = []
            for ep in members:
                try:
                    c = self.lookup(ep.container_id)
                except NotFound:
                    continue
                if name in {c.name.lower(), c.short_id, *(a.lower() for a in ep.aliases)}:
                    found += _addresses(ep)
            if found:
                return found
        return None

    def _addresses_of(self, container_ref: str, members: list[Endpoint]) -> list[str]:
        try:
            target = self.lookup(container_ref)
        except NotFound:
            return []
        return [a for ep in members if ep.container_id == target.id for a in _addresses(ep)]

    def settings(self, c: Container) -> dict[str, Any]:
        networks = self._networks_of(c, self.store.endpoints(container_id=c.id), None)
        running = c.id in self.active
        default = networks.get("bridge", _NO_ENDPOINT)
        return {
            "Bridge": "", "SandboxID": c.id if running else "",
            "SandboxKey": str(self.netns_path(c.id)) if running else "",
            "Ports": self._port_map(c) if running else {}, "HairpinMode": False, "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": default["EndpointID"], "Gateway": default["Gateway"],
            "GlobalIPv6Address": default["GlobalIPv6Address"], "GlobalIPv6PrefixLen": default["GlobalIPv6PrefixLen"],
            "IPAddress": default["IPAddress"], "IPPrefixLen": default["IPPrefixLen"],
            "IPv6Gateway": default["IPv6Gateway"], "MacAddress": default["MacAddress"], "Networks": networks,
        }

    def summaries(self, containers: list[Container]) -> dict[str, dict[str, EndpointSettings]]:
        """The NetworkSettings.Networks of many containers from one query: what `ps` lists."""
        by_container: dict[str, list[Endpoint]] = {}
        for ep in self.store.endpoints():
            by_container.setdefault(ep.container_id, []).append(ep)
        networks = {n.id: n for n in self.store.all()}
        return {c.id: self._networks_of(c, by_container.get(c.id, []), networks) for c in containers}

    def _networks_of(self, c: Container, endpoints: list[Endpoint],
                     networks_by_id: dict[str, Network] | None) -> dict[str, EndpointSettings]:
        running = c.id in self.active
        networks: dict[str, EndpointSettings] = {}
        for ep in endpoints:
            if networks_by_id is not None:
                found = networks_by_id.get(ep.network_id)
                if found is None:
                    continue
                n = found
            else:
                try:
                    n = self.get(ep.network_id)
                except NotFound:
                    continue
            show = running and ep.ip is not None
            v6 = show and ep.ip6 is not None and n.subnet6 is not None
            networks[n.name] = {
                "IPAMConfig": _ipam_config(ep), "Links": ep.links or None, "Aliases": ep.aliases or None,
                # The MAC asked for shows before the interface exists, as dockerd shows it.
                "MacAddress": ep.mac if show else ep.static_mac, "DriverOpts": ep.driver_opts,
                "NetworkID": n.id, "EndpointID": ep.endpoint_id if show else "",
                "Gateway": str(n.gateway) if show else "", "IPAddress": str(ep.ip) if show else "",
                "IPPrefixLen": n.subnet.prefixlen if show and n.subnet else 0,
                "IPv6Gateway": str(n.gateway6) if v6 else "", "GlobalIPv6Address": str(ep.ip6) if v6 else "",
                "GlobalIPv6PrefixLen": n.subnet6.prefixlen if v6 and n.subnet6 else 0,
                "DNSNames": [c.name, c.short_id, *ep.aliases] if n.user_defined else None,
            }
        mode = c.spec.network
        if isinstance(mode, HostNetwork | NoNetwork):
            special = (next((n for n in networks_by_id.values() if n.name == mode.name), None)
                       if networks_by_id is not None else self.store.by_name(mode.name))
            if special is not None:
                networks[mode.name] = _NO_ENDPOINT.copy()
                networks[mode.name]["NetworkID"] = special.id
        return networks

    def _port_map(self, c: Container) -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            for port, proto in c.spec.publish.exposed(c.config_spec.exposed_ports):
                out[f"{port}/{proto}"] = None
        except InvalidArgument:
            pass
        for b in self.store.bindings(c.id).get(c.id, []):
            out.setdefault(f"{b.container_port}/{b.proto}", None)
            out[f"{b.container_port}/{b.proto}"] = [
                *(out[f"{b.container_port}/{b.proto}"] or []),
                {"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(b.host_port)}]
        return out

    def ports(self, c: Container) -> list[dict[str, Any]]:
        if c.id not in self.active:
            return []
        out: list[dict[str, Any]] = []
        for key, bindings in self._port_map(c).items():
            port, proto = parse_port_key(key)
            if not bindings:
                out.append({"PrivatePort": port, "Type": proto})
            for b in bindings or []:
                out.append({"IP": b["HostIp"], "PrivatePort": port, "PublicPort": int(b["HostPort"]), "Type": proto})
        return out

    # ---- firewall -----------------------------------------------------------------------

    def firewall_state(self) -> FirewallState:
        state = FirewallState()
        nets = {n.id: n for n in self.store.all() if n.is_bridge and n.subnet is not None}
        for n in nets.values():
            state.networks.append(NetworkRules(bridge=n.bridge, subnet=str(n.subnet), internal=n.internal,
                                               icc=n.icc, masquerade=n.masquerade, dns=n.user_defined,
                                               subnet6=str(n.subnet6) if n.ipv6 else ""))
        for cid, bindings in self.store.bindings().items():
            primary = next((ep for ep in self.store.endpoints(container_id=cid)
                            if ep.network_id in nets and ep.ip is not None), None)
            if primary is None:
                continue
            n = nets[primary.network_id]
            if n.internal:
                continue  # Docker publishes nothing from an internal network
            for b in bindings:
                state.mappings.append(PortMapping(proto=b.proto, host_ip=b.host_ip, host_port=b.host_port,
                                                  container_ip=str(primary.ip), container_port=b.container_port))
        return state

    async def _sync_firewall(self, check_jumps: bool = False) -> None:
        """Bring berthd's rules up to date with the store, if what they should say has changed (most
        container starts and stops, those without published ports, change nothing)."""
        await self._rules.sync(check_jumps)

    # ---- start-up -----------------------------------------------------------------------

    async def reconcile(self) -> None:
        """After a (re)start: put back what running containers need, remove what a crash left."""
        self.recover()
        async with self._lock:
            await self._repair()

    async def reconcile_in_background(self) -> asyncio.Task[None]:
        """`reconcile`, with the kernel's part running on once this returns: berthd serves meanwhile,
        and every request that touches a network's links or rules queues behind it on the lock."""
        self.recover()
        await self._lock.acquire()

        async def repair() -> None:
            try:
                await asyncio.to_thread(links.netlink)  # the import, off the event loop's thread
                await self._repair()
            except Exception:
                log.exception("reconciling the networks with the kernel failed")
            finally:
                self._lock.release()

        return asyncio.create_task(repair(), name="networks: reconcile")

    def recover(self) -> None:
        """What the API reports about running containers' networks, read from the store and the
        namespaces berthd keeps (no netlink): each running container's endpoints and published ports."""
        containers = {c.id: c for c in self.all_containers()}
        running = {cid for cid, c in containers.items() if c.running}
        for ep in self.store.endpoints():
            if ep.container_id not in containers:
                self.store.remove_endpoint(ep.network_id, ep.container_id)
        self.active = {cid for cid in running if self.netns_path(cid).exists()}
        for cid, bindings in self.store.bindings().items():
            if cid not in self.active:
                self.store.set_bindings(cid, [])
                continue
            try:
                self.reservations.reserve(cid, [_again(b) for b in bindings])
            except EngineError as e:
                log.warning("container %s: cannot hold its published ports again: %s", cid[:12], e.message)

    async def _repair(self) -> None:
        """Bridges up, links and namespaces a crash left removed, rules as the store says (under the lock)."""
        running = {c.id for c in self.all_containers() if c.running}
        networks = [n for n in self.store.all() if n.is_bridge and n.subnet is not None]
        for n in networks:
            await self._bring_up(n)
        bridges = {n.bridge for n in networks}
        for link in await asyncio.to_thread(links.owned_links, self.config.alias_tag):
            stale = (link.kind == "bridge" and link.name not in bridges) or (
                link.kind == "veth" and link.owner.partition(":")[0] not in running)
            if stale:
                log.info("removing %s %s left behind", link.kind, link.name)
                await asyncio.to_thread(links.delete_link, link.name)
        netns_dir = self.config.netns_dir
        if netns_dir.is_dir():
            for entry in netns_dir.iterdir():
                if entry.name not in running:
                    await asyncio.to_thread(links.delete_netns, entry)
        await self._sync_firewall(check_jumps=True)

    def close(self) -> None:
        for responder in self.responders.values():
            responder.close()
        self.responders.clear()
        self.reservations.close()


def _addresses(ep: Endpoint) -> list[str]:
    return [str(a) for a in (ep.ip, ep.ip6) if a is not None]


def _ipam_config(ep: Endpoint) -> EndpointIPAMConfig | None:
    """EndpointIPAMConfig as asked for: only the fields given (dockerd omits empty ones), null for none."""
    config: EndpointIPAMConfig = {}
    if ep.static_ip:
        config["IPv4Address"] = ep.static_ip
    if ep.static_ip6:
        config["IPv6Address"] = ep.static_ip6
    if ep.link_local_ips:
        config["LinkLocalIPs"] = list(ep.link_local_ips)
    return config or None


def _shares_namespace(mode: NetworkMode) -> bool:
    """host, none and container:x have no endpoint of their own on any network."""
    return isinstance(mode, HostNetwork | NoNetwork | JoinContainer)


def _check_attachable(n: Network) -> None:
    """Swarm networks take containers only when made attachable (the ingress network never)."""
    if n.scope == "swarm" and (n.ingress or not n.attachable):
        raise Forbidden(f"Could not attach to network {n.name}: network {n.name} not manually attachable")


def _check_overlap(subnet: Net | Net6, others: list[Claim]) -> None:
    for other in others:
        theirs = other.subnet if subnet.version == 4 else other.subnet6
        if theirs is not None and subnet.overlaps(theirs):
            raise Forbidden(f"Pool overlaps with other one on this address space ({other.name})")


def _again(b: Binding) -> PortRequest:
    return PortRequest(b.container_port, b.proto, b.host_ip, b.host_port, b.host_port)


def teardown(config: NetworkConfig) -> None:
    """Remove every bridge, veth, namespace and rule of the berthd on `config` (for tests and uninstall)."""
    for link in links.owned_links(config.alias_tag):
        if link.kind == "veth":
            links.delete_link(link.name)
    for link in links.owned_links(config.alias_tag):
        links.delete_link(link.name)
    if config.netns_dir.is_dir():
        for entry in config.netns_dir.iterdir():
            links.delete_netns(entry)
    Firewall(Chains(config.chain_prefix)).teardown()
