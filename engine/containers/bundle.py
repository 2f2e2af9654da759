"""The OCI bundle of a start: config.json from the container's typed specs (configspec.py,
hostspec.py) and the host as it is now, and the /etc files the engine owns (hostname, hosts,
resolv.conf). Namespaces shared with the host or another container, `--network container:x`
(that container's hostname and /etc files) and legacy links are resolved here, at each start,
since what they name may have changed since create."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Literal

from engine.containers import hostconfig, links
from engine.containers.context import ContainerContext
from engine.containers.create import process_env
from engine.containers.hooks import NetworkAttachment
from engine.containers.hostspec import JoinContainer
from engine.containers.model import Container
from engine.containers.users import resolve_user
from engine.errors import Conflict, InvalidArgument, NotFound
from engine.networks import resolvconf
from engine.runtime.spec import Mount, RuntimeSpec, build_config

Linked = list[tuple[links.Link, Container, str]]  # each link, the container it names, its address

ETC_FILES = ("hostname", "hosts", "resolv.conf")


class Bundle:
    def __init__(self, ctx: ContainerContext) -> None:
        self.ctx = ctx

    def write(self, c: Container, rootfs: Path, net: NetworkAttachment, extra_mounts: list[Mount]) -> None:
        """config.json in the container's bundle, its /etc files in its data directory."""
        oci, _warnings = build_config(self.runtime_spec(c, rootfs, net, extra_mounts))
        (self.ctx.bundle_dir(c.id) / "config.json").write_text(json.dumps(oci))

    def runtime_spec(self, c: Container, rootfs: Path, net: NetworkAttachment,
                     extra_mounts: list[Mount]) -> RuntimeSpec:
        cfg, spec = c.config_spec, c.spec
        user = resolve_user(rootfs, cfg.user, list(spec.group_add))
        peer = self._network_peer(c)
        owner = peer or c
        hostname = owner.config_spec.hostname or owner.short_id
        linked = self._linked(c)  # once per start: the environment and /etc/hosts both need it
        env = process_env(_link_env(c, linked) + list(cfg.env), home=user.home, hostname=hostname)
        box = spec.sandbox.resolve()  # the host's side (devices, init) as it is now
        etc = self._etc_files(c, net, linked) if peer is None else self._etc_mounts(peer)
        mounts = etc + extra_mounts + box.init_mount()
        args = cfg.command
        if box.init is not None:
            args = [hostconfig.INIT_IN_CONTAINER, "--", *args]
        res, sandbox = spec.resources, spec.sandbox
        return RuntimeSpec(
            container_id=c.id, rootfs=rootfs, args=args, env=env,
            cwd=cfg.workdir or "/", uid=user.uid, gid=user.gid,
            additional_gids=user.additional_gids, hostname=hostname,
            terminal=cfg.tty, readonly_rootfs=spec.readonly_rootfs, netns_path=net.netns_path,
            host_network=net.host_network,
            cap_add=list(spec.cap_add), cap_drop=list(spec.cap_drop),
            privileged=spec.privileged, mounts=mounts,
            memory_limit=res.memory, pids_limit=res.pids_limit,
            cpu_shares=res.cpu_shares, nano_cpus=res.nano_cpus,
            memory_swap=res.memory_swap, cpuset_cpus=res.cpuset_cpus,
            cpuset_mems=res.cpuset_mems, domainname=cfg.domainname,
            devices=box.devices, ulimits=list(sandbox.ulimits), no_new_privileges=sandbox.no_new_privileges,
            seccomp=sandbox.seccomp, shm_size=sandbox.shm_size,
            pid_ns=self._shared_namespace(spec.pid_mode, "pid"),
            ipc_ns=self._shared_namespace(spec.ipc_mode, "ipc"),
            uts_ns=self._shared_namespace(spec.uts_mode, "uts"),
            masked_paths=_list_or_none(spec.masked_paths), readonly_paths=_list_or_none(spec.readonly_paths),
            sysctls=sandbox.sysctls, netns_owner=_netns_owner(peer, net),
        )

    def _shared_namespace(self, mode: str, kind: str) -> str | None:
        """PidMode, IpcMode or UTSMode as the runtime takes it: None for a namespace
        of the container's own, "host", or the namespace of the running container it names."""
        if not mode.startswith("container:"):
            return "host" if mode == "host" else None
        ref = mode.partition(":")[2]
        try:
            other = self.ctx.get(ref)
        except NotFound:
            raise Conflict(f"cannot join the {kind} namespace of container {ref}: no such container") from None
        if not other.state.can_be_joined or other.pid <= 0:
            raise Conflict(f"cannot join {kind.upper()} of a non running container: {other.id}")
        return f"/proc/{other.pid}/ns/{kind}"

    def _linked(self, c: Container) -> Linked:
        """Each legacy link with the running container it names and that one's bridge address."""
        out = []
        for link in c.spec.links:
            try:
                target = self.ctx.get(link.target)
            except NotFound:
                raise Conflict(f"Cannot link to a non running container: /{link.target} AS "
                               f"/{c.name}/{link.alias}: it no longer exists") from None
            if not target.running:
                raise Conflict(f"Cannot link to a non running container: /{target.name} AS /{c.name}/{link.alias}")
            nets = self.ctx.networking.settings(target).get("Networks") or {}
            address = str((nets.get(c.spec.network.name) or nets.get("bridge")
                           or {}).get("IPAddress") or "")
            out.append((link, target, address))
        return out

    def _network_peer(self, c: Container) -> Container | None:
        """The container whose network namespace this one joins (`--network container:x`): as in
        dockerd, it also has that one's hostname, /etc/hosts and /etc/resolv.conf."""
        mode = c.spec.network
        if not isinstance(mode, JoinContainer):
            return None
        try:
            return self.ctx.get(mode.ref)
        except NotFound:
            return None  # networking refuses the start with its own words

    def _etc_mounts(self, owner: Container) -> list[Mount]:
        data = self.ctx.data_dir(owner.id)
        return [Mount(source=str(data / name), destination=f"/etc/{name}", type="bind",
                      options=["rbind", "rprivate"])
                for name in ETC_FILES]

    def _etc_files(self, c: Container, net: NetworkAttachment, linked: Linked) -> list[Mount]:
        """/etc/hostname, /etc/hosts and /etc/resolv.conf, owned by the engine."""
        data = self.ctx.data_dir(c.id)
        hostname = c.config_spec.hostname or c.short_id
        (data / "hostname").write_text(hostname + "\n")
        own = [(addr, names) for addr, names in net.hosts] or [("127.0.1.1", hostname)]
        extra = []
        for name, addr in c.spec.sandbox.extra_hosts:
            if addr == hostconfig.HOST_GATEWAY:
                if not net.host_gateway:
                    raise InvalidArgument(f"--add-host {name}:{addr}: this container has no network to the host")
                addr = net.host_gateway
            extra.append((addr, name))
        for link, target, address in linked:
            if address:
                extra.append((address, f"{link.alias} {target.short_id} {target.name}"))
        if net.host_gateway and not any(name == hostconfig.HOST_DOCKER_INTERNAL for _, name in extra):
            # As Docker Desktop: the host is reachable by name from every container.
            extra.append((net.host_gateway, hostconfig.HOST_DOCKER_INTERNAL))
        (data / "hosts").write_text(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            + "".join(f"{addr}\t{names}\n" for addr, names in own + extra)
        )
        resolv = data / "resolv.conf"
        if net.resolv_conf is not None:
            resolv.write_text(net.resolv_conf)
        else:
            try:
                shutil.copyfile(resolvconf.host_path(), resolv)
            except OSError:
                resolv.write_text("")
        return self._etc_mounts(c)


def _link_env(c: Container, linked: Linked) -> list[str]:
    env: list[str] = []
    for link, target, address in linked:
        env += links.environment(link, c.name, address, list(target.config_spec.exposed_ports),
                                 list(target.config_spec.env))
    return env


def _netns_owner(peer: Container | None, net: NetworkAttachment) -> Literal["own", "other", "host"]:
    """Whose network namespace the container gets. One joined through a container is the host's
    when that container has the host's network: the same test as runc's, the namespace's inode
    against berthd's own."""
    if peer is None:
        return "own"
    try:
        joined, mine = os.stat(net.netns_path or ""), os.stat("/proc/self/ns/net")
    except OSError:
        return "other"
    return "host" if (joined.st_dev, joined.st_ino) == (mine.st_dev, mine.st_ino) else "other"


def _list_or_none(paths: tuple[str, ...] | None) -> list[str] | None:
    return None if paths is None else list(paths)
