"""The container service: the domain behind /containers.

A container moves through created -> running -> exited (-> removed), persisted on every
transition. Starting mounts its overlay rootfs, writes an OCI bundle and hands it to
conmon; a watcher per running container turns conmon's exit into state, events and
answers to waiters.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import secrets
import shutil
import signal as signals
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from engine import emulation, mountinfo
from engine.config import EnginePaths
from engine.containers import hostconfig, links, names, stdio
from engine.containers.cgroups import cgroup_reader, container_cgroup_path
from engine.containers.configspec import ConfigSpec
from engine.containers.create import (
    check_host_config,
    check_workdir,
    matching_variant,
    merge_config,
    normalise_host_config,
    process_env,
)
from engine.containers.hooks import ContainerMounts, ContainerNetworking, NetworkAttachment
from engine.containers.hostspec import JoinContainer
from engine.containers.model import Container, State
from engine.containers.restart import Backoff, restart_policy
from engine.containers.stdio import OutputWriter
from engine.containers.store import ContainerStore
from engine.containers.users import resolve_user
from engine.errors import Conflict, EngineError, InvalidArgument, NotFound, NotModified, RuntimeFailure
from engine.events import EventBus
from engine.filters import Filters
from engine.formats import now_ns
from engine.images.manifest import config_platform
from engine.images.platform import Platform
from engine.labels import labels_match, prune_labels_match
from engine.runtime.conmon import RESIZE, ConmonLayout, signal_number
from engine.runtime.detect import cgroup_mode
from engine.runtime.interface import OCIRuntime
from engine.runtime.spec import Mount, RuntimeSpec, build_config

log = logging.getLogger(__name__)


class ImageRecord(Protocol):
    @property
    def id(self) -> str: ...


class ImageSource(Protocol):
    """What the container service needs of the image service."""

    def resolve(self, name_or_id: str) -> ImageRecord: ...
    def config(self, image_id: str) -> dict[str, Any]: ...
    def full_config(self, image_id: str | None) -> dict[str, Any]: ...
    def layer_dirs(self, image_id: str) -> list[Path]: ...


class RootfsMounter(Protocol):
    def mount(self, lowers: list[Path], upper: Path, work: Path, target: Path) -> None: ...
    def unmount(self, target: Path) -> None: ...



@dataclass
class AttachRequest:
    """A client attached (or waiting to attach) to a container's stdio."""

    write: OutputWriter
    stdin: asyncio.StreamReader | None
    stdout: bool
    stderr: bool
    connected: asyncio.Future[stdio.AttachHub]


class ContainerService:
    def __init__(self, paths: EnginePaths, store: ContainerStore, images: ImageSource,
                 runtime: OCIRuntime, rootfs: RootfsMounter, events: EventBus,
                 networking: ContainerNetworking, mounts: ContainerMounts) -> None:
        self.paths = paths
        self.networking = networking
        self.mounts = mounts
        self.store = store
        self.images = images
        self.runtime = runtime
        self.rootfs = rootfs
        self.events = events
        self._exit_waiters: dict[str, list[asyncio.Future[int]]] = {}
        self._removed_waiters: dict[str, list[asyncio.Future[int]]] = {}
        self._pending_attach: dict[str, list[AttachRequest]] = {}
        self._hubs: dict[str, stdio.AttachHub] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._restart_tasks: dict[str, asyncio.Task[None]] = {}
        self._backoff = Backoff()
        self._restarting: set[str] = set()  # a manual restart is under way: not a final stop

    # ---- layout -------------------------------------------------------------------------

    def data_dir(self, cid: str) -> Path:
        return self.paths.containers / cid

    def bundle_dir(self, cid: str) -> Path:
        return self.paths.bundles / cid

    def log_path(self, cid: str) -> Path:
        return self.data_dir(cid) / "container.log"

    def layout(self, c: Container) -> ConmonLayout:
        return ConmonLayout(bundle=self.bundle_dir(c.id), log_path=self.log_path(c.id),
                            exit_file=self.paths.exits / c.id, socket_dir=self.paths.sockets,
                            short_id=c.short_id)

    @functools.cached_property
    def cgroupns_mode(self) -> str:
        """HostConfig.CgroupnsMode as dockerd reports it: containers get a cgroup namespace of
        their own on cgroup v2 hosts only (engine/runtime/spec.py)."""
        return "private" if cgroup_mode() == "v2" else "host"

    def _lock(self, cid: str) -> asyncio.Lock:
        return self._locks.setdefault(cid, asyncio.Lock())

    # ---- queries ------------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        return self.store.resolve(ref)

    def all(self) -> list[Container]:
        return self.store.all()

    def matching(self, flt: Filters, *, show_all: bool = False, limit: int = -1,
             everything: list[Container] | None = None) -> list[Container]:
        """GET /containers/json's rows: running ones unless `show_all` (or a status filter), never a
        build's step containers; `everything`: the rows the caller already fetched."""
        flt.validate(PS_FILTERS)
        states = {st.value for st in State}
        bad = [s for s in flt.get("status") if s not in states]
        if bad:
            raise InvalidArgument(f"invalid filter 'status={bad[0]}': use one of " + ", ".join(states_in_order()))
        rows = [c for c in (self.store.all() if everything is None else everything)
                if (show_all or c.running or "status" in flt) and not c.build_step and _matches(c, flt)]
        return rows[:limit] if limit > 0 else rows

    # ---- create -------------------------------------------------------------------------

    def create(self, body: dict[str, Any], name: str | None,
               platform: Platform | None = None) -> tuple[Container, list[str]]:
        """`platform`: the one the client asked for (API 1.41+), checked against the image's."""
        if not isinstance(body, dict):
            raise InvalidArgument("the request body must be a JSON object (a container config)")
        image_ref = body.get("Image")
        if not image_ref or not isinstance(image_ref, str):
            raise InvalidArgument("config error: no image given: set \"Image\" to the image to run")
        image_id = self.images.resolve(image_ref).id
        image_platform = config_platform(self.images.full_config(image_id))
        emulation.check_platform(matching_variant(platform, image_platform), image_platform, image_ref)
        emulation.check_runnable(image_platform)
        image_cfg = self.images.config(image_id)
        host_config = body.get("HostConfig") or {}
        if not isinstance(host_config, dict):
            raise InvalidArgument("HostConfig must be a JSON object")
        config = merge_config(image_cfg, body)
        check_workdir(config.get("WorkingDir"))
        if not config.get("Entrypoint") and not config.get("Cmd"):
            raise InvalidArgument("no command specified: give a command, or use an image with a CMD")
        cname = names.validate(name) if name else self._unused_name()
        cid = secrets.token_hex(32)
        config.setdefault("Hostname", cid[:12])
        if not config.get("Hostname"):
            config["Hostname"] = cid[:12]
        warnings: list[str] = []
        # Parsed now: a Config that a start or a stop could not read is refused here.
        config_spec = ConfigSpec.parse(config)
        c = Container(id=cid, name=cname, image=image_ref, image_id=image_id, config=config,
                      host_config=normalise_host_config(host_config), _config_spec=config_spec)
        if c.host_config.get("Links") is not None:
            c.host_config["Links"] = links.stored(c.host_config["Links"], cname)
            for link in links.parse(c.host_config["Links"]):
                try:
                    self.store.resolve(link.target)
                except NotFound:
                    raise InvalidArgument(f"could not get container for {link.target}: no such container "
                                          f"(--link {link.target}:{link.alias})") from None
        warnings += check_host_config(c.host_config, self.runtime.name)
        networking_config = body.get("NetworkingConfig") or {}
        if not isinstance(networking_config, dict):
            raise InvalidArgument("NetworkingConfig must be a JSON object")
        self.networking.validate(c, networking_config.get("EndpointsConfig"))
        self.mounts.validate(c)
        # The directories before the row: a crash in between leaves a directory without a row, which
        # restore removes, never a container that cannot start.
        data = self.data_dir(cid)
        try:
            data.mkdir(parents=True, mode=0o710)
            (data / "upper").mkdir()
            (data / "work").mkdir()
            self.store.insert(c)
        except BaseException:
            shutil.rmtree(data, ignore_errors=True)
            raise
        self.publish(c, "create")
        return c, warnings

    def _unused_name(self) -> str:
        for _ in range(50):
            candidate = names.generate()
            try:
                self.store.resolve(candidate)
            except NotFound:
                return candidate
        return f"{names.generate()}_{secrets.token_hex(2)}"

    # ---- start --------------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            c = self.get(c.id)
            if c.state.is_up:
                raise NotModified("container already started")
            if not c.state.can_start:
                raise Conflict(f"cannot start container {c.name}: it is being removed")
            self._cancel_restart(c)
            c.manually_stopped = False
            try:
                await self._start_locked(c)
                return
            except Exception as e:
                if not c.spec.auto_remove:
                    raise
                failure = e
        # As dockerd: a --rm container that could not start is removed (`docker run --rm` waits
        # for that removal after printing the error); the start's error is still the answer.
        with contextlib.suppress(EngineError):
            await self.remove(c.id, force=True)
        raise failure

    async def _start_locked(self, c: Container) -> None:
        layout = self.layout(c)
        bundle = layout.bundle
        rootfs = bundle / "rootfs"
        bundle.mkdir(parents=True, exist_ok=True)
        rootfs.mkdir(exist_ok=True)
        data = self.data_dir(c.id)
        lowers = self.images.layer_dirs(c.image_id)
        await asyncio.to_thread(self.rootfs.mount, lowers, data / "upper", data / "work", rootfs)
        try:
            attachment = await self.networking.attach(c)
            extra_mounts = await asyncio.to_thread(self.mounts.prepare, c, rootfs)
            spec = self._runtime_spec(c, rootfs, attachment, extra_mounts)
            oci, _warnings = build_config(spec)
            (bundle / "config.json").write_text(json.dumps(oci))
            cfg = c.config_spec
            created = await self.runtime.create(c.id, c.name, layout, stdin=cfg.open_stdin, tty=cfg.tty,
                                                keep_log=c.spec.log.kept)
            await self._connect_hub(c, layout)
            await self.runtime.start(c.id)
        except BaseException as e:
            await self._teardown(c, runtime_errors=(Exception,))
            self._fail_pending_attaches(c.id, e)
            c.error = e.message if isinstance(e, RuntimeFailure) else str(e)
            c.exit_code = 128 if isinstance(e, RuntimeFailure) else c.exit_code
            self.store.save(c)
            raise
        c.state = State.RUNNING
        c.pid = created.pid
        c.conmon_pid = created.conmon_pid
        c.started_ns = now_ns()
        c.error = ""
        self.store.save(c)
        self.publish(c, "start")
        self._watch(c)

    def _runtime_spec(self, c: Container, rootfs: Path, net: NetworkAttachment,
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
            pid_ns=self._shared_namespace(c, spec.pid_mode, "pid"),
            ipc_ns=self._shared_namespace(c, spec.ipc_mode, "ipc"),
            uts_ns=self._shared_namespace(c, spec.uts_mode, "uts"),
            masked_paths=_list_or_none(spec.masked_paths), readonly_paths=_list_or_none(spec.readonly_paths),
        )

    def _shared_namespace(self, c: Container, mode: str, kind: str) -> str | None:
        """PidMode, IpcMode or UTSMode as the runtime takes it: None for a namespace
        of the container's own, "host", or the namespace of the running container it names."""
        if not mode.startswith("container:"):
            return "host" if mode == "host" else None
        ref = mode.partition(":")[2]
        try:
            other = self.get(ref)
        except NotFound:
            raise Conflict(f"cannot join the {kind} namespace of container {ref}: no such container") from None
        if not other.state.can_be_joined or other.pid <= 0:
            raise Conflict(f"cannot join {kind.upper()} of a non running container: {other.id}")
        return f"/proc/{other.pid}/ns/{kind}"

    def _linked(self, c: Container) -> list[tuple[links.Link, Container, str]]:
        """Each legacy link with the running container it names and that one's bridge address."""
        out = []
        for link in c.spec.links:
            try:
                target = self.get(link.target)
            except NotFound:
                raise Conflict(f"Cannot link to a non running container: /{link.target} AS "
                               f"/{c.name}/{link.alias}: it no longer exists") from None
            if not target.running:
                raise Conflict(f"Cannot link to a non running container: /{target.name} AS /{c.name}/{link.alias}")
            nets = self.networking.settings(target).get("Networks") or {}
            address = str((nets.get(c.spec.network.name) or nets.get("bridge")
                           or {}).get("IPAddress") or "")
            out.append((link, target, address))
        return out

    def remove_link(self, ref: str, alias: str) -> None:
        """DELETE /containers/{name}/{alias}?link=1: the link goes, both containers stay."""
        c = self.get(ref)
        kept = [e for e in c.host_config.get("Links") or [] if e.rsplit("/", 1)[-1] != alias]
        if len(kept) == len(c.host_config.get("Links") or []):
            raise NotFound(f"Could not find link {alias!r} of container {c.name}")
        c.host_config["Links"] = kept or None
        c.host_config_changed()
        self.store.save(c)

    @staticmethod
    def link_names(containers: list[Container]) -> dict[str, list[str]]:
        """The extra names legacy links among `containers` give them (`/web/db` for db linked by
        web as db): from the rows a listing already holds, not another query."""
        names: dict[str, list[str]] = {}
        for c in containers:
            for link in c.spec.links:
                names.setdefault(link.target, []).append(f"/{c.name}/{link.alias}")
        return names

    def _network_peer(self, c: Container) -> Container | None:
        """The container whose network namespace this one joins (`--network container:x`): as in
        dockerd, it also has that one's hostname, /etc/hosts and /etc/resolv.conf."""
        mode = c.spec.network
        if not isinstance(mode, JoinContainer):
            return None
        try:
            return self.get(mode.ref)
        except NotFound:
            return None  # networking refuses the start with its own words

    def _etc_mounts(self, owner: Container) -> list[Mount]:
        data = self.data_dir(owner.id)
        return [Mount(source=str(data / name), destination=f"/etc/{name}", type="bind",
                      options=["rbind", "rprivate"])
                for name in ("hostname", "hosts", "resolv.conf")]

    def _etc_files(self, c: Container, net: NetworkAttachment,
                   linked: list[tuple[links.Link, Container, str]]) -> list[Mount]:
        """/etc/hostname, /etc/hosts and /etc/resolv.conf, owned by the engine."""
        data = self.data_dir(c.id)
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
                shutil.copyfile("/etc/resolv.conf", resolv)
            except OSError:
                resolv.write_text("")
        return self._etc_mounts(c)

    async def _teardown(self, c: Container, *, detach_network: bool = True,
                        runtime_errors: tuple[type[Exception], ...] = (RuntimeFailure,)) -> None:
        """Undo a start (it failed, the container exited, or a crash cut it short): the runtime's
        state, the network, the mounts, the rootfs. Each step best effort, so one that fails
        holds none of the others back; a busy rootfs must not leave the container "running".
        A runtime error outside `runtime_errors` propagates (the exit watcher retries on it)."""
        with contextlib.suppress(*runtime_errors):
            await self.runtime.delete(c.id)
        if detach_network:
            with contextlib.suppress(Exception):
                await self.networking.detach(c)
        with contextlib.suppress(Exception):
            self.mounts.release(c)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.rootfs.unmount, self.bundle_dir(c.id) / "rootfs")

    # ---- exit ---------------------------------------------------------------------------

    @staticmethod
    def _oom_killed(c: Container) -> bool:
        return cgroup_reader(container_cgroup_path(c.id)).oom_kills() > 0

    def _watch(self, c: Container) -> None:
        self._watchers[c.id] = asyncio.get_running_loop().create_task(self._watch_exit(c.id, c.conmon_pid))

    async def _watch_exit(self, cid: str, conmon_pid: int) -> None:
        await self.runtime.wait_exit(conmon_pid)
        try:
            # Retried: with the data root full, the state write fails until space is freed, and a
            # container left "running" for good could be neither waited for, started nor removed.
            for delay in (1.0, 2.0, 5.0, 10.0, *[30.0] * 120):
                try:
                    await self._on_exit(cid)
                    return
                except Exception:
                    log.exception("handling the exit of container %s failed; retrying in %.0fs", cid, delay)
                await asyncio.sleep(delay)
        finally:
            self._watchers.pop(cid, None)

    async def _on_exit(self, cid: str) -> None:
        async with self._lock(cid):
            try:
                c = self.get(cid)
            except NotFound:
                return
            code = self.runtime.exit_status(self.paths.exits / cid)
            # Read before the runtime deletes the cgroup: dockerd reports OOMKilled and an "oom" event.
            c.oom_killed = await asyncio.to_thread(self._oom_killed, c)
            await self._teardown(c)
            c.exit_code = code if code is not None else 255
            if code is None:
                c.error = "conmon exited without recording the container's exit code"
            c.pid = 0
            c.conmon_pid = 0
            c.finished_ns = _exit_time(self.paths.exits / cid)
            restart = cid in self._restarting or self._policy_restarts(c)
            c.state = State.RESTARTING if restart else State.EXITED
            if c.health is not None:
                c.health = {**c.health, "Status": "unhealthy" if c.health_status == "unhealthy" else "starting"}
            self.store.save(c)
        self._hubs.pop(cid, None)
        if c.oom_killed:
            self.publish(c, "oom")
        self.publish(c, "die", exitCode=str(c.exit_code))
        for fut in self._exit_waiters.pop(cid, []):
            if not fut.done():
                fut.set_result(c.exit_code)
        if restart and cid not in self._restarting:
            self._schedule_restart(c)
        elif c.spec.auto_remove:
            try:
                await self.remove(cid, force=True)
            except Exception:
                log.exception("auto-removing container %s failed", cid)

    def _policy_restarts(self, c: Container) -> bool:
        return c.spec.restart.restarts(exit_code=c.exit_code, restart_count=c.restart_count,
                                                      manually_stopped=c.manually_stopped)

    def _schedule_restart(self, c: Container) -> None:
        delay = self._backoff.next_delay(c.id, (c.finished_ns - c.started_ns) / 1e9)
        self._restart_tasks[c.id] = asyncio.get_running_loop().create_task(self._restart_after(c.id, delay))

    async def _restart_after(self, cid: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            async with self._lock(cid):
                try:
                    c = self.get(cid)
                except NotFound:
                    return
                if not c.state.awaits_restart:
                    return
                c.restart_count += 1
                try:
                    await self._start_locked(c)
                except Exception as e:
                    log.warning("restarting container %s failed: %s", c.name, e)
                    c = self.get(cid)
                    c.state = State.EXITED
                    self.store.save(c)
                    self.publish(c, "die", exitCode=str(c.exit_code))
        finally:
            self._restart_tasks.pop(cid, None)

    def _cancel_restart(self, c: Container) -> None:
        task = self._restart_tasks.pop(c.id, None)
        if task is not None:
            task.cancel()
        if c.state.awaits_restart and c.id not in self._restarting:
            c.state = State.EXITED
            self.store.save(c)

    # ---- stop / kill --------------------------------------------------------------------

    async def kill(self, ref: str, signal: str | int | None = None) -> None:
        c = self.get(ref)
        sig = signal_number(signal, signals.SIGKILL)
        failure: RuntimeFailure | None = None
        # The signal goes out under the container's lock, so it never lands between a start's
        # `runtime create` and `runtime start`; the wait for the exit is outside it.
        async with self._lock(c.id):
            c = self.get(c.id)
            if c.state.awaits_restart:
                raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
            if not c.state.can_kill:
                raise Conflict(f"Cannot kill container: {c.name}: container {c.id} is not running")
            exited = self._exit_future(c.id)
            try:
                await self.runtime.kill(c.id, sig)
                if sig == signals.SIGKILL and c.state.is_frozen:  # a frozen process dies once thawed
                    await self.runtime.resume(c.id)
            except RuntimeFailure as e:
                failure = e
        if failure is not None:
            # The process may have exited on its own a moment ago: its exit is being recorded (the
            # runtime no longer knows it). As dockerd's killPossiblyDeadProcess, that is no error.
            if not await self._exits_within(c.id, 2.0, exited):
                raise Conflict(f"Cannot kill container {c.name}: {failure.message}")
            return
        self.publish(c, "kill", signal=str(sig))
        if sig == signals.SIGKILL:
            # As dockerd: SIGKILL returns once the container has exited, so what the client does
            # next (inspect, remove) sees it stopped with 137.
            await self._exits_within(c.id, KILL_WAIT, exited)
        else:
            self._forget_exit_future(c.id, exited)

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            c = self.get(c.id)
            if c.state.awaits_restart:
                if c.id in self._restarting:  # a restart between its stop and its start
                    raise NotModified("container already stopped")
                self._cancel_restart(c)
                c.manually_stopped = True
                self.store.save(c)
                self.publish(c, "stop")
                return
            if not c.state.can_stop:
                raise NotModified("container already stopped")
            c.manually_stopped = c.id not in self._restarting
            self.store.save(c)
            if timeout is None:
                timeout = c.config_spec.stop_timeout
            sig = signal_number(signal or c.config_spec.stop_signal or None, signals.SIGTERM)
            exited = self._exit_future(c.id)
            pid = c.pid
            with contextlib.suppress(RuntimeFailure):
                if c.state.is_frozen:
                    await self.runtime.resume(c.id)
                await self.runtime.kill(c.id, sig)
                self.publish(c, "kill", signal=str(sig))
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout=max(timeout, 0))
        except TimeoutError:
            async with self._lock(c.id):
                now = self.get(c.id) if self._exists(c.id) else None
                if now is not None and now.running and now.pid == pid:
                    with contextlib.suppress(RuntimeFailure):
                        await self.runtime.kill(c.id, signals.SIGKILL, all_processes=True)
                        self.publish(c, "kill", signal=str(int(signals.SIGKILL)))
            await self._exits_within(c.id, KILL_WAIT, exited)
        self._forget_exit_future(c.id, exited)
        self.publish(self.get(c.id) if self._exists(c.id) else c, "stop")

    async def restart(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        self._restarting.add(c.id)
        try:
            if c.state.is_up:
                with contextlib.suppress(NotModified):  # it stopped meanwhile: start it all the same
                    await self.stop(c.id, timeout, signal)
        finally:
            self._restarting.discard(c.id)
        async with self._lock(c.id):
            c = self.get(c.id)
            if c.state.is_up:
                return
            self._cancel_restart(c)
            c.manually_stopped = False
            await self._start_locked(c)
        self.publish(c, "restart")

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            c = self.get(c.id)
            if c.state.is_frozen:
                raise Conflict(f"Container {c.id} is already paused")
            if not c.state.can_pause:
                raise Conflict(f"Container {c.id} is not running")
            await self.runtime.pause(c.id)
            c.state = State.PAUSED
            self.store.save(c)
        self.publish(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            c = self.get(c.id)
            if not c.state.can_unpause:
                raise Conflict(f"Container {c.id} is not paused")
            await self.runtime.resume(c.id)
            c.state = State.RUNNING
            self.store.save(c)
        self.publish(c, "unpause")

    def rename(self, ref: str, new_name: str) -> None:
        if not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        c = self.get(ref)
        name = names.validate(new_name)
        if name == c.name:
            raise Conflict(f"Renaming a container with the same name as its current name: {name}")
        old = c.name
        c.name = name
        self.store.rename(c)
        self.publish(c, "rename", oldName="/" + old)

    async def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        """Change resources (live, when running) and the restart policy."""
        c = self.get(ref)
        if not isinstance(body, dict):
            raise InvalidArgument("the request body must be a JSON object (resources to update)")
        # The CLI sends every Resources field; only the ones with a value matter.
        body = {k: v for k, v in body.items() if v not in (None, "", 0, [], {})}
        unknown = set(body) - UPDATABLE
        if unknown:
            raise InvalidArgument(f"cannot update {', '.join(sorted(unknown))}: only resources and RestartPolicy")
        changes = {k: v for k, v in body.items() if v not in (None, "") and not (k != "RestartPolicy" and v == 0)}
        for key, value in changes.items():
            if key not in ("RestartPolicy", "CpusetCpus", "CpusetMems") and not isinstance(value, int):
                raise InvalidArgument(f"{key} must be an integer")
        if "RestartPolicy" in changes:
            policy = restart_policy({"RestartPolicy": changes["RestartPolicy"]})
            if policy.name != "no" and c.spec.auto_remove:
                raise InvalidArgument(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container")
        if "Memory" in changes and "MemorySwap" not in changes:
            old_swap = c.spec.resources.memory_swap
            if old_swap > 0 and old_swap < changes["Memory"]:
                raise InvalidArgument("Memory limit should be smaller than already set memoryswap limit, "
                                      "update the memoryswap at the same time")
        if c.state.is_up:
            await self.runtime.update(c.id, {k: v for k, v in changes.items() if k != "RestartPolicy"})
        c = self.get(c.id)
        c.host_config.update(changes)
        c.host_config_changed()
        self.store.save(c)
        self.publish(c, "update")
        return []

    async def prune_matching(self, flt: Filters) -> tuple[list[str], int]:
        """POST /containers/prune with its filters (until, label, label!)."""
        flt.validate(PRUNE_FILTERS)
        return await self.prune(until_ns=flt.until_ns() or 0, labels=flt.labels())

    async def prune(self, until_ns: int = 0, labels: list[str] | None = None) -> tuple[list[str], int]:
        deleted: list[str] = []
        space = 0
        for c in self.store.all():
            if not c.state.can_prune:
                continue
            if until_ns and c.created_ns > until_ns:
                continue
            if not prune_labels_match(c.config.get("Labels") or {}, labels or []):
                continue
            space += await asyncio.to_thread(_tree_size, self.data_dir(c.id) / "upper")
            with contextlib.suppress(NotFound, Conflict):
                await self.remove(c.id)
                deleted.append(c.id)
        return deleted, space

    def set_health(self, cid: str, health: dict[str, Any]) -> None:
        c = self.get(cid)
        old = c.health_status
        c.health = health
        self.store.save(c)
        if health.get("Status") != old and health.get("Status") != "starting":
            self.publish(c, f"health_status: {health.get('Status')}")

    async def _exits_within(self, cid: str, seconds: float, fut: asyncio.Future[int] | None = None) -> bool:
        """True once the container is gone or stopped, waiting at most `seconds` for it."""
        if self._settled(cid):
            return True
        fut = fut or self._exit_future(cid)
        try:
            await asyncio.wait_for(asyncio.shield(fut), seconds)
        except TimeoutError:
            pass
        finally:
            self._forget_exit_future(cid, fut)
        return self._settled(cid)

    def _forget_exit_future(self, cid: str, fut: asyncio.Future[int]) -> None:
        waiters = self._exit_waiters.get(cid, [])
        if fut in waiters:
            waiters.remove(fut)

    def _settled(self, cid: str) -> bool:
        """The container is gone or no longer running."""
        try:
            return not self.get(cid).running
        except NotFound:
            return True

    def _exists(self, cid: str) -> bool:
        try:
            self.get(cid)
        except NotFound:
            return False
        return True

    # ---- wait ---------------------------------------------------------------------------

    def _exit_future(self, cid: str) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._exit_waiters.setdefault(cid, []).append(fut)
        return fut

    def wait_future(self, ref: str, condition: str = "not-running") -> asyncio.Future[int]:
        """Register a waiter now (before the response starts), resolved with the exit code."""
        condition = condition or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}: use not-running, next-exit or removed")
        c = self.get(ref)
        if condition == "removed":
            fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._removed_waiters.setdefault(c.id, []).append(fut)
            return fut
        if condition == "not-running" and not c.running:
            done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            done.set_result(c.exit_code)
            return done
        return self._exit_future(c.id)

    # ---- remove -------------------------------------------------------------------------

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        if c.state.awaits_restart and force:
            self._cancel_restart(c)
            c = self.get(c.id)
        if c.running:
            if not force:
                raise Conflict(
                    f"cannot remove container \"/{c.name}\": container is running: "
                    "stop the container before removing or force remove"
                )
            if c.state.can_kill:  # restarting: no process until the restart starts one
                # The exit that follows is no reason for its restart policy to start it again (which
                # kept a forced removal waiting 30 s for an exit that never settled).
                async with self._lock(c.id):
                    c = self.get(c.id)
                    c.manually_stopped = True
                    self.store.save(c)
                # it may be exiting already, or its runtime state be gone: removal goes on regardless
                with contextlib.suppress(RuntimeFailure, Conflict):
                    await self.kill(c.id, signals.SIGKILL)
                await self._exits_within(c.id, 30)
            c = self.get(c.id)
        async with self._lock(c.id):
            try:
                c = self.get(c.id)
            except NotFound:
                return
            settled = c.state.runtime_settled
            c.state = State.REMOVING
            self.store.save(c)
            if not settled:
                with contextlib.suppress(RuntimeFailure):
                    await self.runtime.delete(c.id)
            rootfs = self.bundle_dir(c.id) / "rootfs"
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.rootfs.unmount, rootfs)
            await self.networking.release(c)
            await asyncio.to_thread(self.mounts.remove, c, volumes)
            await asyncio.to_thread(shutil.rmtree, self.bundle_dir(c.id), True)
            await asyncio.to_thread(shutil.rmtree, self.data_dir(c.id), True)
            (self.paths.exits / c.id).unlink(missing_ok=True)
            self.store.delete(c.id)
        self._locks.pop(c.id, None)
        self._backoff.forget(c.id)
        self.publish(c, "destroy")
        for fut in self._removed_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result(c.exit_code)
        for fut in self._exit_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result(c.exit_code)

    # ---- attach -------------------------------------------------------------------------

    async def attach(self, ref: str, write: OutputWriter, stdin: asyncio.StreamReader | None,
                     stdout: bool, stderr: bool, detach_keys: bytes = stdio.DEFAULT_DETACH_KEYS) -> bool:
        """Stream the container's output to `write` until it exits or the client detaches;
        feed `stdin` to it. Returns True if the client detached.

        Attaching to a container that is not running waits for its next start, so no output
        is lost (what `docker run` and `docker start -a` rely on)."""
        c = self.get(ref)
        req = AttachRequest(write=write, stdin=stdin, stdout=stdout, stderr=stderr,
                            connected=asyncio.get_running_loop().create_future())
        if c.state.can_start:  # not up yet: wait for the next start
            self._pending_attach.setdefault(c.id, []).append(req)
            try:
                hub = await req.connected
            finally:
                pending = self._pending_attach.get(c.id, [])
                if req in pending:
                    pending.remove(req)
        else:
            hub = await self._hub(c)
        return await hub.serve(write, stdin, stdout=stdout, stderr=stderr, detach_keys=detach_keys,
                               # as dockerd: a TTY's stdin outlives its clients
                               close_stdin_on_eof=c.config_spec.stdin_once and not c.config_spec.tty)

    async def _hub(self, c: Container) -> stdio.AttachHub:
        """The container's attach hub, connected now if berthd restarted since it started."""
        hub = self._hubs.get(c.id)
        if hub is None or hub.ended.is_set():
            hub = await stdio.AttachHub.open(self.layout(c).attach_socket)
            self._hubs[c.id] = hub
        return hub

    async def _connect_hub(self, c: Container, layout: ConmonLayout) -> None:
        """At start, before the process runs: no output is lost to waiting clients."""
        try:
            hub = await stdio.AttachHub.open(layout.attach_socket)
        except OSError as e:
            self._fail_pending_attaches(c.id, RuntimeFailure(f"cannot attach to {c.name}: {e}"))
            return
        self._hubs[c.id] = hub
        for req in self._pending_attach.pop(c.id, []):
            if not req.connected.done():
                req.connected.set_result(hub)

    def _fail_pending_attaches(self, cid: str, err: BaseException) -> None:
        for req in self._pending_attach.pop(cid, []):
            if not req.connected.done():
                req.connected.set_exception(err if isinstance(err, Exception) else RuntimeFailure(str(err)))

    def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"cannot resize container {c.name}: it is not running")
        if c.config_spec.tty:
            self.runtime.control(self.bundle_dir(c.id), RESIZE, height, width)

    # ---- restore ------------------------------------------------------------------------

    async def restore(self) -> None:
        """After a berthd restart: re-watch live containers, settle the ones that exited.

        The exit file decides, not the process table: conmon writes it as the container
        exits, while a conmon nobody has reaped yet would still look alive."""
        for c in self.store.in_states([State.RUNNING, State.PAUSED, State.RESTARTING, State.REMOVING]):
            if c.state is State.REMOVING:
                await self.remove(c.id, force=True)
            elif c.state.awaits_restart:
                self._schedule_restart(c)
            elif (self.paths.exits / c.id).exists() or not self.runtime.monitor_alive(c.conmon_pid):
                await self._on_exit(c.id)
            else:
                self._settle_paused(c)
                self._watch(c)
        # A create that berthd died in the middle of: its directories without a row.
        known = {c.id for c in self.store.all()}
        if self.paths.containers.is_dir():
            for stray in self.paths.containers.iterdir():
                if stray.name not in known and len(stray.name) == 64:
                    log.info("removing %s, the data of a container whose create a crash cut short", stray)
                    await asyncio.to_thread(shutil.rmtree, stray, True)
        # A start that berthd died in the middle of: the row still says created (or exited), but the
        # runtime may hold a started process and the rootfs may be mounted. Undo both.
        mounted = mountinfo.mount_points()
        for c in self.store.in_states([State.CREATED, State.EXITED]):
            if str(self.bundle_dir(c.id) / "rootfs") in mounted:
                log.info("container %s: undoing a start interrupted by a crash", c.short_id)
                await self._teardown(c, detach_network=False)

    def _settle_paused(self, c: Container) -> None:
        """A crash between the runtime's pause (or resume) and the row's write leaves the row saying the
        other, and unpause would then fail on a process that runs: the freezer is right, the row follows."""
        frozen = cgroup_reader(container_cgroup_path(c.id)).frozen()
        if frozen is None or frozen == c.state.is_frozen:
            return
        log.info("container %s: recorded %s, but the freezer says otherwise", c.short_id, c.state.value)
        c.state = State.PAUSED if frozen else State.RUNNING
        self.store.save(c)

    async def close(self) -> None:
        """Stop watching; containers keep running under conmon."""
        for task in list(self._watchers.values()):
            task.cancel()
        for task in list(self._watchers.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def publish(self, c: Container, action: str, **extra: str) -> None:
        attrs = {"name": c.name, "image": c.image}
        attrs.update({k: str(v) for k, v in c.labels.items()})
        attrs.update(extra)
        self.events.publish("container", action, c.id, attrs)


def _link_env(c: Container, linked: list[tuple[links.Link, Container, str]]) -> list[str]:
    env: list[str] = []
    for link, target, address in linked:
        env += links.environment(link, c.name, address, list(target.config_spec.exposed_ports),
                                 list(target.config_spec.env))
    return env


# What dockerd's `ps` accepts (those berthd does not apply yet are accepted too, as before), and prune.
PS_FILTERS = {"ancestor", "before", "exited", "health", "id", "isolation", "is-task", "expose", "label",
              "name", "network", "publish", "since", "status", "volume"}
PRUNE_FILTERS = {"until", "label", "label!"}


def states_in_order() -> list[str]:
    return [st.value for st in State]


def _matches(c: Container, flt: Filters) -> bool:
    if "status" in flt and c.state.value not in flt.get("status"):
        return False
    if "name" in flt and not any(n.lstrip("/") in c.name for n in flt.get("name")):
        return False
    if "id" in flt and not any(c.id.startswith(i) for i in flt.get("id")):
        return False
    if "exited" in flt and not (c.state is State.EXITED and str(c.exit_code) in flt.get("exited")):
        return False
    if "ancestor" in flt and not any(a in (c.image, c.image_id) or c.image_id.startswith("sha256:" + a)
                                     for a in flt.get("ancestor")):
        return False
    return labels_match(c.config.get("Labels") or {}, flt.get("label"))


KILL_WAIT = 10.0  # seconds a SIGKILL waits for the container's exit to be recorded
UPDATABLE = {"CpuShares", "Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuPeriod", "CpuQuota",
             "CpusetCpus", "CpusetMems", "PidsLimit", "BlkioWeight", "KernelMemory", "RestartPolicy",
             "CpuRealtimePeriod", "CpuRealtimeRuntime", "OomKillDisable", "MemorySwappiness"}


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def _exit_time(exit_file: Path) -> int:
    """When the container exited: conmon wrote the exit file then (it may have been while
    berthd was down), else now."""
    try:
        return exit_file.stat().st_mtime_ns
    except OSError:
        return now_ns()


def _list_or_none(paths: tuple[str, ...] | None) -> list[str] | None:
    return None if paths is None else list(paths)
