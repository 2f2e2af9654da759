"""berthd: the daemon's entry point. Parses flags, wires the services, serves the API on a
Unix socket, restores containers left running by a previous berthd, and on SIGTERM stops
serving while leaving containers running under conmon (live restore)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import functools
import grp
import logging
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path

from aiohttp import web

from engine import __version__, diagnostics, emulation
from engine.api.app import build_app
from engine.backend import Backend
from engine.config import DEFAULT_EXEC_ROOT, DEFAULT_ROOT, DEFAULT_SOCKET, EnginePaths
from engine.containers.execs import ExecService
from engine.containers.health import HealthMonitor
from engine.containers.logrotate import LogRotator
from engine.containers.rootfs import OverlayRootfs
from engine.containers.service import ContainerService
from engine.containers.store import ContainerStore
from engine.errors import EngineError
from engine.events import EventBus
from engine.images.registry import RegistryConfig
from engine.images.service import ImageService
from engine.memory import manage_memory
from engine.networks.config import config_for
from engine.networks.service import NetworkService
from engine.runtime.conmon import ConmonRuntime
from engine.runtime.detect import detect_runtime
from engine.runtime.fastexec import FastExec
from engine.state.db import Database
from engine.swarm.service import SwarmService
from engine.volumes.mounts import VolumeMounts
from engine.volumes.store import VolumeStore

log = logging.getLogger("berthd")


def since_exec() -> float:
    """Seconds since this process was started, its imports included (most of a start under emulation):
    /proc gives the start in clock ticks since boot."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="berthd", description="Berth's container engine (Docker Engine API v1.45)")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="data root (default: %(default)s)")
    p.add_argument("--exec-root", type=Path, default=DEFAULT_EXEC_ROOT,
                   help="run-time state: bundles, sockets (default: %(default)s)")
    p.add_argument("-H", "--host", default=f"unix://{DEFAULT_SOCKET}",
                   help="where to serve the API: unix:///path or a path (default: %(default)s)")
    p.add_argument("--runtime", choices=["crun", "runc"], default=None,
                   help="OCI runtime (default: crun where it can run on this host, else runc)")
    p.add_argument("--group", default="berth", help="group that may use the socket (default: %(default)s)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST|CIDR",
                   help="registry reachable over plain HTTP or unverified TLS (loopback always is); repeatable")
    p.add_argument("--registry-mirror", action="append", default=[], metavar="URL",
                   help="a mirror Docker Hub's images are pulled through first, http(s)://host[:port]; "
                        "repeatable, tried in order before Docker Hub itself")
    p.add_argument("--check", action="store_true",
                   help="do not serve: check the stopped engine's roots, repair what is safe, report (engine/check.py)")
    p.add_argument("--version", action="version", version=f"berthd {__version__}")
    return p.parse_args(argv)


def socket_path(host: str) -> Path:
    if host.startswith("unix://"):
        return Path(host[len("unix://"):])
    if "://" in host:
        raise SystemExit(f"berthd: only unix:// sockets are served (TCP needs mutual TLS): {host}")
    return Path(host)


def engine_id(db: Database) -> str:
    db.ensure_schema("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
    row = db.query_one("SELECT value FROM meta WHERE key = 'engine_id'")
    if row is not None:
        return str(row["value"])
    value = secrets.token_hex(16)
    with db.transaction() as tx:
        tx.execute("INSERT INTO meta (key, value) VALUES ('engine_id', ?)", (value,))
    return value


def systemd_socket() -> socket.socket | None:
    """The listening socket systemd passed (fd 3, sd_listen_fds protocol), if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS", "0") or 0) < 1:
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)  # not for our children (conmon, the runtime)
    return socket.socket(fileno=3)


def lock_exec_root(paths: EnginePaths) -> int:
    """One berthd per exec root: a second one would fight the first over its containers."""
    fd = os.open(paths.exec_root / "berthd.pid", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"berthd: another berthd is already using {paths.exec_root}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def build_backend(paths: EnginePaths, runtime_name: str | None, registries: RegistryConfig | None = None) -> Backend:
    paths.ensure()
    db = Database(paths.database)
    choice = detect_runtime(runtime_name)
    events = EventBus()
    images = ImageService(paths.images, db, registries=registries)
    store = ContainerStore(db)

    def container_exists(cid: str) -> bool:
        try:
            store.resolve(cid)
        except EngineError:
            return False
        return True

    def container_running(cid: str) -> bool:
        try:
            return store.resolve(cid).running
        except EngineError:
            return False

    mounts = VolumeMounts(VolumeStore(paths.root / "volumes", db, container_exists), events,
                          # an image's config never changes: read each once, not per `ps` row
                          image_volumes=functools.lru_cache(maxsize=512)(
                              lambda image_id: list(images.config(image_id).get("Volumes") or {})),
                          is_running=container_running, lookup=store.resolve)
    networking = NetworkService(db, events, config_for(paths.exec_root), lookup=store.resolve,
                                all_containers=store.all)
    containers = ContainerService(
        paths, store, images, ConmonRuntime(choice.name, choice.path, paths.runtime_state),
        OverlayRootfs(), events, networking=networking, mounts=mounts,
    )
    images.in_use = containers.store.uses_image
    return Backend(paths=paths, db=db, events=events, images=images, containers=containers,
                   execs=ExecService(containers, direct=FastExec()), networks=networking,
                   swarm=SwarmService(db, networking), volumes=mounts,
                   runtime=choice, engine_id=engine_id(db))


async def register_emulators() -> None:
    """QEMU user mode for the architectures the host cannot run, registered after berthd serves (in a
    machine under emulation every ms of the start counts); a foreign container's create waits for it."""
    def register() -> tuple[list[str], list[str]]:
        return emulation.ensure_handlers(), emulation.Binfmt().architectures()

    start = time.monotonic()
    names, arches = await asyncio.to_thread(register)
    log.info("binfmt_misc: %s in %.3f s; runs %s", ", ".join(names) or "nothing registered",
             time.monotonic() - start, " ".join(arches))


async def serve(args: argparse.Namespace) -> None:
    sock = socket_path(args.host)
    paths = EnginePaths(root=args.root.resolve(), exec_root=args.exec_root.resolve(), socket=sock)
    paths.ensure()
    lock_fd = lock_exec_root(paths)
    try:
        registries = RegistryConfig.from_flags(args.insecure_registry, args.registry_mirror)
        backend = build_backend(paths, args.runtime, registries)
    except EngineError as e:
        raise SystemExit(f"berthd: {e.message}") from None
    log.info("berthd %s: runtime %s (%s), root %s; imported and wired %.2f s after start", __version__,
             backend.runtime.name, backend.runtime.reason, paths.root, since_exec())
    await backend.containers.restore()
    health = HealthMonitor(backend.containers, backend.execs, backend.events)
    health.start()
    rotator = LogRotator(backend.containers, backend.events)
    rotator.start()
    # Serve once the containers' state is right; the networks' kernel side (bridges, leftovers, rules)
    # is put right behind the lock that every network change takes, while the API already answers.
    repair: asyncio.Task[None] | None = None
    if isinstance(backend.containers.networking, NetworkService):
        repair = await backend.containers.networking.reconcile_in_background()
        repair.add_done_callback(lambda _: log.info("networks reconciled, %.2f s after start", since_exec()))

    app = build_app(backend)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handle_signals=False)
    await runner.setup()
    activated = systemd_socket()
    site: web.BaseSite
    if activated is not None:
        # systemd made the socket (berthd.socket: its mode and group are systemd's to set).
        site = web.SockSite(runner, activated)
        await site.start()
    else:
        sock.parent.mkdir(parents=True, exist_ok=True)
        sock.unlink(missing_ok=True)
        site = web.UnixSite(runner, str(sock))
        await site.start()
        os.chmod(sock, 0o660)
        with contextlib.suppress(KeyError, PermissionError):
            os.chown(sock, 0, grp.getgrnam(args.group).gr_gid)
    log.info("serving the Docker Engine API on unix://%s%s, %.2f s after start", sock,
             " (socket-activated)" if activated else "", since_exec())
    binfmt = asyncio.create_task(register_emulators())
    trimming = asyncio.create_task(manage_memory())

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, diagnostics.log_report)
    await stop.wait()
    log.info("shutting down; containers keep running")
    trimming.cancel()
    with contextlib.suppress(Exception):
        await binfmt  # a thread: nothing to cancel, and it is short
    if repair is not None and not repair.done():
        repair.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await repair
    await health.close()
    await rotator.close()
    await backend.containers.close()
    await backend.execs.close()
    await runner.cleanup()
    if activated is None:
        sock.unlink(missing_ok=True)
    backend.db.close()
    os.close(lock_fd)


# Libraries whose DEBUG is every message they exchange: pyroute2 logs each netlink message as a dict,
# which buried berthd's own debug lines and added ~3 ms to each network join it timed.
QUIET_LIBRARIES = ("pyroute2",)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LIBRARIES:
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.INFO, logging.getLogger().getEffectiveLevel()))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_logging(args.log_level)
    if os.geteuid() != 0:
        raise SystemExit("berthd: must run as root (it creates namespaces, cgroups and mounts)")
    if args.check:
        from engine.check import run
        raise SystemExit(run(args.root, args.exec_root))
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
