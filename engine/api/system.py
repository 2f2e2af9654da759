"""/_ping, /version, /info and /system/df."""

from __future__ import annotations

import asyncio
import os
import platform
import sys
from collections import Counter
from typing import Any

from aiohttp import web

from engine import API_VERSION, MIN_API_VERSION, __version__
from engine.api import containers as containers_api
from engine.api.app import Routes, backend
from engine.containers.logs import KEPT_DRIVERS
from engine.containers.model import State
from engine.containers.reported import DEFAULT_LOG_DRIVER
from engine.containers.stats import host_memory
from engine.emulation import Binfmt
from engine.formats import now_ns, rfc3339_nano
from engine.runtime.detect import cgroup_mode

PING_HEADERS = {
    "Api-Version": API_VERSION,
    "Builder-Version": "1",
    "Docker-Experimental": "false",
    "Swarm": "inactive",
    "OSType": "linux",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


async def ping(request: web.Request) -> web.Response:
    body = "" if request.method == "HEAD" else "OK"
    # The docker CLI reads the node's swarm role here (dockerd's "active/manager" in a swarm).
    swarm = "active/manager" if backend(request).swarm.active else "inactive"
    return web.Response(text=body, headers={**PING_HEADERS, "Swarm": swarm}, content_type="text/plain")


def _go_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


async def version(request: web.Request) -> web.Response:
    b = backend(request)
    kernel = platform.release()
    details = {
        "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": "",
        "GoVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "Os": "linux", "Arch": _go_arch(), "KernelVersion": kernel, "BuildTime": "",
    }
    return web.json_response({
        "Platform": {"Name": f"Berth {__version__}"},
        "Components": [
            {"Name": "Engine", "Version": __version__, "Details": details},
            {"Name": b.runtime.name, "Version": "", "Details": {"Path": b.runtime.path}},
        ],
        "Version": __version__,
        **details,
    })


async def info(request: web.Request) -> web.Response:
    b = backend(request)
    containers = [c for c in b.containers.all() if not c.build_step]  # a build's own are not counted
    count = {s: sum(1 for c in containers if c.state is s) for s in State}
    mode = cgroup_mode()
    warnings = [] if b.runtime.name == "crun" else [f"using {b.runtime.name}: {b.runtime.reason}"]
    return web.json_response({
        "ID": b.engine_id,
        "Containers": len(containers),
        "ContainersRunning": count[State.RUNNING],
        "ContainersPaused": count[State.PAUSED],
        "ContainersStopped": len(containers) - count[State.RUNNING] - count[State.PAUSED],
        "Images": b.images.count(),  # all of them, step images too, as dockerd (docker-py compares with all=1)
        "Driver": "overlay",
        "DriverStatus": [["Backing Filesystem", "overlayfs"]],
        "DockerRootDir": str(b.paths.root),
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": sorted(KEPT_DRIVERS)},
        "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": True, "PidsLimit": True, "OomKillDisable": False,
        "IPv4Forwarding": True, "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 0, "SystemTime": _now_rfc3339(), "LoggingDriver": DEFAULT_LOG_DRIVER,
        "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if mode == "v2" else "1",
        "NEventsListener": b.events.listeners, "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(), "OSVersion": "", "OSType": "linux", "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 1, "MemTotal": host_memory(), "IndexServerAddress": "",
        "RegistryConfig": b.images.registries.info(),
        "GenericResources": None, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": b.hostname, "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {b.runtime.name: {"path": b.runtime.path}},
        "DefaultRuntime": b.runtime.name,
        "RuntimeReason": b.runtime.reason,
        # Berth's own: the platforms containers can run as here, native first, then emulated (QEMU).
        "BerthPlatforms": [f"linux/{arch}" for arch in Binfmt().architectures()],
        "Swarm": b.swarm.info(),
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"] + (["name=cgroupns"] if mode == "v2" else []),
        "Warnings": warnings,
    })


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _now_rfc3339() -> str:
    return rfc3339_nano(now_ns())


async def system_df(request: web.Request) -> web.Response:
    """What each kind of object takes on disk; `type` (API 1.42) asks for some kinds only."""
    b = backend(request)
    wanted = set(request.query.getall("type", [])) or {"container", "image", "volume", "build-cache"}
    all_containers = [c for c in b.containers.all() if not c.build_step]
    per_image = Counter(c.image_id for c in all_containers)
    body: dict[str, Any] = {"LayersSize": 0, "Images": [], "Containers": [], "Volumes": [], "BuildCache": []}
    if "image" in wanted:
        body["LayersSize"], body["Images"] = b.images.disk_usage(dict(per_image))
    if "container" in wanted:
        # A container's writable-layer size needs a walk of its upper dir: not cheap, so 0 here.
        body["Containers"] = [{**containers_api.summary(c, request), "SizeRw": 0, "SizeRootFs": 0}
                              for c in all_containers]
    if "volume" in wanted:
        body["Volumes"] = await asyncio.to_thread(b.volumes.service.disk_usage)
    return web.json_response(body)


def register(routes: Routes) -> None:
    routes.add("GET", "/_ping", ping)
    routes.add("HEAD", "/_ping", ping)
    routes.add("GET", "/version", version)
    routes.add("GET", "/info", info)
    routes.add("GET", "/system/df", system_df)
