"""Compose's operations over the Engine API: up, down, ps, logs, start, stop, restart, pull, build, exec, run.

Everything is found again by label (`com.docker.compose.project` and friends), so a project made by
Docker Compose is recognised, and one made here is recognised by Docker Compose. Every function takes
an optional `progress` callback that is told of each step, for the CLI's lines and the desktop's view.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.client.buildcontext import BuildContextError, locate_dockerfile, write_context
from engine.compose.convert import container_name, create_body, endpoint_config
from engine.compose.engine import EngineConnection, EngineError
from engine.compose.errors import ComposeError
from engine.compose.model import (
    COMPOSE_VERSION,
    LABEL_CONFIG_FILES,
    LABEL_CONFIG_HASH,
    LABEL_NETWORK,
    LABEL_NUMBER,
    LABEL_ONEOFF,
    LABEL_PROJECT,
    LABEL_SERVICE,
    LABEL_VERSION,
    LABEL_VOLUME,
    LABEL_WORKING_DIR,
    Project,
    Service,
)

_POLL = 0.25


@dataclass(frozen=True)
class Progress:
    """One step of an operation: `Container web-1 Started`, `Network app_default Created`."""

    kind: str  # "container", "network", "volume", "image", "project"
    name: str
    action: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.kind.capitalize()} {self.name}  {self.action}"
        return f"{text}: {self.detail}" if self.detail else text


ProgressCallback = Callable[[Progress], None]


def _ignore(_: Progress) -> None:
    return None


@dataclass(frozen=True)
class ContainerState:
    """A project's container as `ps` shows it."""

    id: str
    name: str
    service: str
    number: int
    image: str
    state: str  # running, exited, created, paused, restarting, dead
    status: str  # the engine's words: "Up 3 seconds (healthy)"
    ports: list[str]
    oneoff: bool
    config_hash: str
    labels: dict[str, str] = field(repr=False)

    @property
    def health(self) -> str:
        for word in ("healthy", "unhealthy", "starting"):
            if f"({word})" in self.status or f"(health: {word})" in self.status:
                return word
        return ""

    @classmethod
    def from_summary(cls, item: dict[str, Any]) -> ContainerState:
        labels = dict(item.get("Labels") or {})
        names = item.get("Names") or [""]
        ports = []
        for port in item.get("Ports") or []:
            inner = f"{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"
            if port.get("PublicPort"):
                ports.append(f"{port.get('IP') or '0.0.0.0'}:{port['PublicPort']}->{inner}")
            else:
                ports.append(inner)
        try:
            number = int(labels.get(LABEL_NUMBER, "0"))
        except ValueError:
            number = 0
        return cls(id=str(item.get("Id", "")), name=str(names[0]).lstrip("/"), service=labels.get(LABEL_SERVICE, ""),
                   number=number, image=str(item.get("Image", "")), state=str(item.get("State", "")),
                   status=str(item.get("Status", "")), ports=sorted(set(ports)),
                   oneoff=labels.get(LABEL_ONEOFF, "False").lower() == "true",
                   config_hash=labels.get(LABEL_CONFIG_HASH, ""), labels=labels)


@dataclass(frozen=True)
class ProjectSummary:
    """A project found on an engine by its labels (made by Berth or by Docker Compose)."""

    name: str
    working_dir: str
    config_files: list[str]
    services: list[str]
    running: int
    total: int


@dataclass(frozen=True)
class LogLine:
    container: str
    service: str
    text: str
    stream: str = "stdout"


# -- finding a project's things ------------------------------------------------------------------


async def containers(engine: EngineConnection, project: str, services: Iterable[str] | None = None, *,
                     all: bool = True, oneoff: bool | None = False) -> list[ContainerState]:
    """The project's containers (one-off `run` containers only when `oneoff` is True or None)."""
    wanted = set(services or [])
    found = [ContainerState.from_summary(c)
             for c in await engine.containers([f"{LABEL_PROJECT}={project}"], all=all)]
    return sorted((c for c in found if (not wanted or c.service in wanted)
                   and (oneoff is None or c.oneoff == oneoff)), key=lambda c: (c.service, c.number, c.name))


async def list_projects(engine: EngineConnection) -> list[ProjectSummary]:
    """Every compose project on the engine, as the desktop groups them."""
    groups: dict[str, list[ContainerState]] = {}
    for item in await engine.containers([LABEL_PROJECT], all=True):
        state = ContainerState.from_summary(item)
        groups.setdefault(state.labels[LABEL_PROJECT], []).append(state)
    out = []
    for name, members in sorted(groups.items()):
        labels = members[0].labels
        out.append(ProjectSummary(
            name=name, working_dir=labels.get(LABEL_WORKING_DIR, ""),
            config_files=[f for f in labels.get(LABEL_CONFIG_FILES, "").split(",") if f],
            services=sorted({m.service for m in members}), running=sum(m.state == "running" for m in members),
            total=len(members)))
    return out


# -- up ------------------------------------------------------------------------------------------


async def up(engine: EngineConnection, project: Project, services: Iterable[str] | None = None, *,
             build: bool = False, no_build: bool = False, pull: str = "missing", force_recreate: bool = False,
             no_recreate: bool = False, no_deps: bool = False, remove_orphans: bool = False,
             scale: dict[str, int] | None = None, no_start: bool = False, timeout: int | None = None,
             progress: ProgressCallback | None = None) -> list[ContainerState]:
    """Create or converge the project's containers, dependencies first; returns them as `ps` would.

    Only services whose configuration (hash label) or image changed are recreated. A service waits
    for its `depends_on` conditions (started, healthy, completed successfully) before it starts."""
    report = progress or _ignore
    names = list(services or [])
    for name in names:
        project.service(name)
    order = project.start_order(names) if no_deps else project.with_dependencies(names)
    replicas = {name: project.service(name).replicas for name in order}
    for name, count in (scale or {}).items():
        project.service(name)
        replicas[name] = count

    await _handle_orphans(engine, project, remove_orphans, report, timeout)
    await ensure_networks(engine, project, order, report)
    await ensure_volumes(engine, project, order, report)
    await ensure_images(engine, project, order, build=build, no_build=no_build, pull=pull, report=report)

    existing: dict[str, list[ContainerState]] = {}
    for c in await containers(engine, project.name, order):
        existing.setdefault(c.service, []).append(c)
    done: dict[str, asyncio.Future[None]] = {name: asyncio.get_running_loop().create_future() for name in order}

    async def converge_one(name: str) -> None:
        service = project.service(name)
        try:
            if not no_start:
                for dep, cond in service.depends_on.items():
                    if dep in done:
                        await done[dep]
                        await wait_for_condition(engine, project, dep, cond.get("condition", "service_started"),
                                                 report)
            await _converge(engine, project, service, existing.get(name, []), replicas[name],
                            force=force_recreate, no_recreate=no_recreate, no_start=no_start, timeout=timeout,
                            report=report)
        except asyncio.CancelledError:
            done[name].cancel()
            raise
        except BaseException as exc:
            done[name].set_exception(exc)
            done[name].exception()  # retrieved here: only the first failure is raised to the caller
            raise
        done[name].set_result(None)

    await _all_or_nothing([converge_one(name) for name in order])
    return await containers(engine, project.name, order)


async def _all_or_nothing(jobs: list[Awaitable[None]]) -> None:
    """Run jobs together; on the first failure cancel the rest and raise that failure."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _handle_orphans(engine: EngineConnection, project: Project, remove: bool, report: ProgressCallback,
                          timeout: int | None) -> None:
    known = project.all_service_names()
    orphans = [c for c in await containers(engine, project.name) if c.service not in known]
    if not orphans:
        return
    if not remove:
        names = ", ".join(c.name for c in orphans)
        report(Progress("project", project.name, "Warning",
                        f"orphan containers ({names}) for services not in the compose files; "
                        "--remove-orphans removes them"))
        return
    await asyncio.gather(*(_remove_container(engine, c, report, timeout) for c in orphans))


async def _converge(engine: EngineConnection, project: Project, service: Service, current: list[ContainerState],
                    replicas: int, *, force: bool, no_recreate: bool, no_start: bool, timeout: int | None,
                    report: ProgressCallback) -> None:
    current = sorted(current, key=lambda c: c.number)
    keep, extra = current[:replicas], current[replicas:]
    await asyncio.gather(*(_remove_container(engine, c, report, timeout) for c in extra))
    want = service.config_hash()
    image = await engine.inspect_image(service.image)
    image_id = str((image or {}).get("Id", ""))

    async def one(c: ContainerState) -> None:
        stale = c.config_hash != want
        if not stale and image_id:
            info = await engine.inspect_container(c.id)
            stale = bool(info.get("Image")) and info["Image"] != image_id
        if force or (stale and not no_recreate):
            report(Progress("container", c.name, "Recreate"))
            await _remove_container(engine, c, _ignore, timeout)
            await _create(engine, project, service, c.number, no_start=no_start, report=report, verb="Recreated")
        elif c.state != "running" and not no_start:
            report(Progress("container", c.name, "Starting"))
            await engine.call("POST", f"/containers/{c.id}/start")
            report(Progress("container", c.name, "Started"))
        else:
            report(Progress("container", c.name, "Running"))

    used = {c.number for c in keep}
    numbers = [n for n in range(1, replicas + len(used) + 1) if n not in used][: replicas - len(keep)]
    await asyncio.gather(*(one(c) for c in keep),
                         *(_create(engine, project, service, n, no_start=no_start, report=report) for n in numbers))


async def _create(engine: EngineConnection, project: Project, service: Service, number: int, *, no_start: bool,
                  report: ProgressCallback, verb: str = "Created") -> str:
    name = container_name(project, service, number)
    report(Progress("container", name, "Creating"))
    body = create_body(project, service, number)
    result = await engine.call("POST", "/containers/create", params={"name": name}, body=body)
    ident = str(result["Id"])
    await _connect_other_networks(engine, project, service, ident, number)
    report(Progress("container", name, verb))
    if not no_start:
        report(Progress("container", name, "Starting"))
        await engine.call("POST", f"/containers/{ident}/start")
        report(Progress("container", name, "Started"))
    return ident


async def _connect_other_networks(engine: EngineConnection, project: Project, service: Service, ident: str,
                                  number: int) -> None:
    if "network_mode" in service.config:
        return
    for key in list(service.networks)[1:]:
        await engine.call("POST", f"/networks/{project.network_name(key)}/connect",
                          body={"Container": ident, "EndpointConfig": endpoint_config(service, key, number)})


async def wait_exit(engine: EngineConnection, ident: str) -> int:
    """Block until the container is not running; its exit code (the wait may last as long as it runs)."""
    async with engine.stream("POST", f"/containers/{ident}/wait", params={"condition": "not-running"}) as answer:
        result = json.loads(await answer.text() or "{}")
    return int(result.get("StatusCode", 0)) if isinstance(result, dict) else 0


async def first_exit(engine: EngineConnection, members: Iterable[ContainerState]) -> tuple[ContainerState, int]:
    """The first of `members` to stop, and its exit code (`up --abort-on-container-exit`)."""
    waits = {asyncio.ensure_future(wait_exit(engine, c.id)): c for c in members}
    if not waits:
        raise ComposeError("no container to watch: nothing was started")
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        first = next(iter(done))
        return waits[first], first.result()
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def wait_for_condition(engine: EngineConnection, project: Project, service: str, condition: str,
                             report: ProgressCallback) -> None:
    """Block until every container of `service` meets a `depends_on` condition; raise if it never can."""
    if condition == "service_started":
        return
    members = await containers(engine, project.name, [service])
    for c in members:
        report(Progress("container", c.name, "Waiting"))
        while True:
            info = await engine.inspect_container(c.id)
            state = info.get("State") or {}
            if condition == "service_healthy":
                health = (state.get("Health") or {}).get("Status")
                if health is None:
                    raise ComposeError(f"dependency {service} has no healthcheck, so it can never be healthy")
                if health == "healthy":
                    report(Progress("container", c.name, "Healthy"))
                    break
                if health == "unhealthy":
                    raise ComposeError(f"dependency failed to start: container {c.name} is unhealthy")
                if state.get("Status") in ("exited", "dead"):
                    raise ComposeError(f"dependency failed to start: container {c.name} exited "
                                       f"({state.get('ExitCode')})")
            elif condition == "service_completed_successfully":
                if state.get("Status") in ("exited", "dead"):
                    code = int(state.get("ExitCode", -1))
                    if code != 0:
                        raise ComposeError(f"service {service} didn't complete successfully: exit {code}")
                    report(Progress("container", c.name, "Exited"))
                    break
            else:
                raise ComposeError(f"unknown depends_on condition {condition!r}")
            await asyncio.sleep(_POLL)


# -- networks, volumes, images -------------------------------------------------------------------


def _used_networks(project: Project, services: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for name in services:
        for key in project.service(name).networks:
            if key not in keys:
                keys.append(key)
    return keys


async def ensure_networks(engine: EngineConnection, project: Project, services: Iterable[str],
                          report: ProgressCallback) -> None:
    for key in _used_networks(project, services):
        cfg = project.networks.get(key, {})
        name = project.network_name(key)
        if await engine.get_or_none(f"/networks/{name}") is not None:
            continue
        if cfg.get("external"):
            raise ComposeError(f"network {name} declared as external, but could not be found")
        body: dict[str, Any] = {
            "Name": name, "Driver": cfg.get("driver") or "bridge", "CheckDuplicate": True,
            "Labels": {**(cfg.get("labels") or {}), LABEL_PROJECT: project.name, LABEL_NETWORK: key,
                       LABEL_VERSION: COMPOSE_VERSION},
            "Internal": bool(cfg.get("internal", False)), "Attachable": bool(cfg.get("attachable", False)),
        }
        if cfg.get("enable_ipv6"):
            body["EnableIPv6"] = True
        if cfg.get("driver_opts"):
            body["Options"] = {k: str(v) for k, v in cfg["driver_opts"].items()}
        ipam = cfg.get("ipam") or {}
        if ipam:
            body["IPAM"] = {"Driver": ipam.get("driver") or "default",
                            "Config": [{_camel(k): v for k, v in c.items()} for c in ipam.get("config") or []]}
        report(Progress("network", name, "Creating"))
        await engine.call("POST", "/networks/create", body=body)
        report(Progress("network", name, "Created"))


def _camel(key: str) -> str:
    return {"subnet": "Subnet", "gateway": "Gateway", "ip_range": "IPRange",
            "aux_addresses": "AuxiliaryAddresses"}.get(key, key)


async def ensure_volumes(engine: EngineConnection, project: Project, services: Iterable[str],
                         report: ProgressCallback) -> None:
    keys: list[str] = []
    for name in services:
        for vol in project.service(name).config.get("volumes") or []:
            if vol.get("type") == "volume" and vol.get("source") and vol["source"] not in keys:
                keys.append(vol["source"])
    for key in keys:
        cfg = project.volumes.get(key, {})
        name = project.volume_name(key)
        if await engine.get_or_none(f"/volumes/{name}") is not None:
            continue
        if cfg.get("external"):
            raise ComposeError(f"volume {name} declared as external, but could not be found")
        report(Progress("volume", name, "Creating"))
        await engine.call("POST", "/volumes/create", body={
            "Name": name, "Driver": cfg.get("driver") or "local",
            "DriverOpts": {k: str(v) for k, v in (cfg.get("driver_opts") or {}).items()},
            "Labels": {**(cfg.get("labels") or {}), LABEL_PROJECT: project.name, LABEL_VOLUME: key,
                       LABEL_VERSION: COMPOSE_VERSION}})
        report(Progress("volume", name, "Created"))


async def ensure_images(engine: EngineConnection, project: Project, services: Iterable[str], *, build: bool,
                        no_build: bool, pull: str, report: ProgressCallback) -> None:
    to_build, to_pull = [], []
    for name in services:
        service = project.service(name)
        policy = str(service.config.get("pull_policy") or pull)
        present = await engine.inspect_image(service.image) is not None
        if service.build is not None and not no_build and (build or not present or policy == "build"):
            to_build.append(name)
        elif policy == "always" or (not present and policy != "never"):
            to_pull.append(name)
        elif not present:
            raise ComposeError(f"image {service.image} for service {name} is not present and pull_policy is never")
    if to_pull:
        await pull_images(engine, project, to_pull, progress=report)
    if to_build:
        await build_images(engine, project, to_build, progress=report)


def split_image(reference: str) -> tuple[str, str]:
    """`repo[:tag|@digest]` into what `POST /images/create` takes as fromImage and tag."""
    if "@" in reference:
        repo, _, digest = reference.partition("@")
        return repo, digest
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1:]
    return reference, "latest"


async def pull_images(engine: EngineConnection, project: Project, services: Iterable[str] | None = None, *,
                      ignore_failures: bool = False, progress: ProgressCallback | None = None) -> None:
    report = progress or _ignore
    images = {project.service(n).image for n in (services or project.services)
              if project.service(n).config.get("image") and (services or project.service(n).build is None)}
    for image in sorted(images):
        repo, tag = split_image(image)
        report(Progress("image", image, "Pulling"))
        try:
            async for _ in engine.json_lines("POST", "/images/create", params={"fromImage": repo, "tag": tag}):
                pass
        except EngineError as exc:
            if not ignore_failures:
                raise ComposeError(f"pulling {image}: {exc}") from exc
            report(Progress("image", image, "Error", str(exc)))
            continue
        report(Progress("image", image, "Pulled"))


async def build_images(engine: EngineConnection, project: Project, services: Iterable[str] | None = None, *,
                       no_cache: bool = False, pull: bool = False, progress: ProgressCallback | None = None
                       ) -> list[str]:
    """`POST /build` for each service with a build section; returns the images built.

    An engine without `/build` (404) is reported and skipped: images already there are used."""
    report = progress or _ignore
    built = []
    for name in services or list(project.services):
        service = project.service(name)
        spec = service.build
        if spec is None:
            continue
        context = Path(spec["context"])
        if not context.is_dir():
            raise ComposeError(f"service {name}: build context {context} is not a directory")
        tar, dockerfile = context_tar(context, str(spec.get("dockerfile", "Dockerfile")))
        params: dict[str, Any] = {"t": service.image, "dockerfile": dockerfile, "rm": True,
                                  "nocache": no_cache or bool(spec.get("no_cache")), "pull": pull}
        if spec.get("args"):
            params["buildargs"] = json.dumps(spec["args"])
        if spec.get("target"):
            params["target"] = spec["target"]
        if spec.get("labels"):
            params["labels"] = json.dumps(spec["labels"])
        if spec.get("network"):
            params["networkmode"] = spec["network"]
        report(Progress("image", service.image, "Building"))
        try:
            async for item in engine.json_lines("POST", "/build", params=params, data=tar,
                                                headers={"Content-Type": "application/x-tar"}):
                text = str(item.get("stream", "")).strip()
                if text:
                    report(Progress("image", service.image, "Building", text))
        except EngineError as exc:
            if exc.status in (404, 405, 501):
                report(Progress("image", service.image, "Skipped",
                                f"the engine cannot build (POST /build answered {exc.status})"))
                if await engine.inspect_image(service.image) is None:
                    raise ComposeError(f"service {name}: the engine cannot build and image {service.image} "
                                       "is not present") from exc
                continue
            raise ComposeError(f"building {service.image}: {exc}") from exc
        report(Progress("image", service.image, "Built"))
        built.append(service.image)
    return built


def context_tar(context: Path, dockerfile: str) -> tuple[bytes, str]:
    """The build context as `docker build` sends it (its `.dockerignore` applied, the Dockerfile
    always in), and the Dockerfile's name inside it."""
    try:
        found = locate_dockerfile(context, dockerfile)
        out = io.BytesIO()
        write_context(context, found, out)
    except BuildContextError as exc:
        raise ComposeError(exc.message) from None
    return out.getvalue(), found.name


# -- down, start, stop, restart ------------------------------------------------------------------


async def _remove_container(engine: EngineConnection, c: ContainerState, report: ProgressCallback,
                            timeout: int | None, volumes: bool = False) -> None:
    if c.state in ("running", "paused", "restarting"):
        report(Progress("container", c.name, "Stopping"))
        await _stop(engine, c.id, timeout)
        report(Progress("container", c.name, "Stopped"))
    report(Progress("container", c.name, "Removing"))
    await engine.delete(f"/containers/{c.id}", params={"force": True, "v": volumes})
    report(Progress("container", c.name, "Removed"))


async def _stop(engine: EngineConnection, ident: str, timeout: int | None) -> None:
    params = {"t": timeout} if timeout is not None else None
    with contextlib.suppress(EngineError):  # already stopped or gone: the goal is met
        await engine.call("POST", f"/containers/{ident}/stop", params=params)


def _stop_order(project: Project, found: list[ContainerState]) -> list[list[ContainerState]]:
    """Containers grouped so that dependents stop before what they depend on; unknown services first."""
    known = [n for n in project.with_dependencies(None)] if project.services else []
    groups: list[list[ContainerState]] = [[c for c in found if c.service not in known]]
    for name in reversed(known):
        groups.append([c for c in found if c.service == name])
    return [g for g in groups if g]


async def down(engine: EngineConnection, project: Project, *, volumes: bool = False, rmi: str | None = None,
               remove_orphans: bool = False, timeout: int | None = None,
               progress: ProgressCallback | None = None) -> None:
    """Stop and remove the project's containers and networks; with `volumes` its named volumes too;
    with `rmi` ("all" or "local") the images its services use."""
    report = progress or _ignore
    found = await containers(engine, project.name, oneoff=None)
    known = project.all_service_names()
    if not remove_orphans and known:
        orphans = [c for c in found if c.service not in known and not c.oneoff]
        if orphans:
            report(Progress("project", project.name, "Warning",
                            f"orphan containers ({', '.join(c.name for c in orphans)}) left; "
                            "--remove-orphans removes them"))
        found = [c for c in found if c not in orphans]
    for group in _stop_order(project, found):
        await asyncio.gather(*(_remove_container(engine, c, report, timeout, volumes=volumes) for c in group))
    names = {project.network_name(k) for k, cfg in project.networks.items() if not cfg.get("external")}
    names |= {str(n["Name"]) for n in await engine.networks([f"{LABEL_PROJECT}={project.name}"])}
    for name in sorted(names):
        if await engine.delete(f"/networks/{name}"):
            report(Progress("network", name, "Removed"))
    if volumes:
        vols = {project.volume_name(k) for k, cfg in project.volumes.items() if not cfg.get("external")}
        if not project.services:
            vols |= {str(v["Name"]) for v in await engine.volumes([f"{LABEL_PROJECT}={project.name}"])}
        for name in sorted(vols):
            if await engine.delete(f"/volumes/{name}"):
                report(Progress("volume", name, "Removed"))
    if rmi:
        if rmi not in ("all", "local"):
            raise ComposeError(f"--rmi takes all or local, not {rmi!r}")
        images = sorted({s.image for s in project.services.values()
                         if rmi == "all" or (s.build is not None and s.image == f"{project.name}-{s.name}")})
        for image in images:
            try:
                removed = await engine.delete(f"/images/{image}")
            except EngineError as exc:
                raise ComposeError(f"removing image {image}: {exc}") from exc
            if removed:
                report(Progress("image", image, "Removed"))


async def start(engine: EngineConnection, project: Project, services: Iterable[str] | None = None, *,
                progress: ProgressCallback | None = None) -> None:
    """Start the existing containers of the services, dependencies first, honouring their conditions."""
    report = progress or _ignore
    names = list(services or [])
    found = await containers(engine, project.name, names or None)
    if not found:
        raise ComposeError("no containers to start: run up first")
    for name in project.start_order(names or None):
        service = project.service(name)
        for dep, cond in service.depends_on.items():
            if any(c.service == dep for c in found):
                await wait_for_condition(engine, project, dep, cond.get("condition", "service_started"), report)
        group = [c for c in found if c.service == name and c.state != "running"]
        for c in group:
            report(Progress("container", c.name, "Starting"))
        await asyncio.gather(*(engine.call("POST", f"/containers/{c.id}/start") for c in group))
        for c in group:
            report(Progress("container", c.name, "Started"))


async def stop(engine: EngineConnection, project: Project, services: Iterable[str] | None = None, *,
               timeout: int | None = None, progress: ProgressCallback | None = None) -> None:
    report = progress or _ignore
    found = await containers(engine, project.name, list(services or []) or None, all=False)
    for group in _stop_order(project, found):
        for c in group:
            report(Progress("container", c.name, "Stopping"))
        await asyncio.gather(*(_stop(engine, c.id, timeout) for c in group))
        for c in group:
            report(Progress("container", c.name, "Stopped"))


async def restart(engine: EngineConnection, project: Project, services: Iterable[str] | None = None, *,
                  timeout: int | None = None, progress: ProgressCallback | None = None) -> None:
    report = progress or _ignore
    found = await containers(engine, project.name, list(services or []) or None)
    params = {"t": timeout} if timeout is not None else None
    for name in project.start_order(list(services or []) or None):
        group = [c for c in found if c.service == name]
        for c in group:
            report(Progress("container", c.name, "Restarting"))
        await asyncio.gather(*(engine.call("POST", f"/containers/{c.id}/restart", params=params) for c in group))
        for c in group:
            report(Progress("container", c.name, "Started"))


async def ps(engine: EngineConnection, project: Project | str, services: Iterable[str] | None = None, *,
             all: bool = False) -> list[ContainerState]:
    name = project if isinstance(project, str) else project.name
    return await containers(engine, name, services, all=all)


# -- logs ----------------------------------------------------------------------------------------


async def logs(engine: EngineConnection, project: Project | str, services: Iterable[str] | None = None, *,
               follow: bool = False, tail: str = "all", timestamps: bool = False) -> AsyncIterator[LogLine]:
    """Every container's output, line by line, merged as it comes (ordered per container)."""
    name = project if isinstance(project, str) else project.name
    members = await containers(engine, name, services)
    queue: asyncio.Queue[LogLine | None] = asyncio.Queue()

    async def pump(c: ContainerState) -> None:
        info = await engine.inspect_container(c.id)
        tty = bool((info.get("Config") or {}).get("Tty"))
        pending: dict[str, str] = {}
        try:
            async for chunk in engine.logs(c.id, follow=follow, tail=tail, timestamps=timestamps, tty=tty):
                text = pending.pop(chunk.stream, "") + chunk.text
                *lines, rest = text.split("\n")
                for line in lines:
                    await queue.put(LogLine(c.name, c.service, line, chunk.stream))
                if rest:
                    pending[chunk.stream] = rest
            for stream, rest in pending.items():
                await queue.put(LogLine(c.name, c.service, rest, stream))
        finally:
            await queue.put(None)

    tasks = [asyncio.ensure_future(pump(c)) for c in members]
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
                continue
            yield item
        for task in tasks:
            task.result()  # a broken stream is an error, not a silent end
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- exec and run --------------------------------------------------------------------------------

Output = Callable[[str, bytes], None]


async def _pump_frames(engine: EngineConnection, path: str, body: dict[str, Any], output: Output, tty: bool
                       ) -> None:
    async with engine.stream("POST", path, body=body) as response:
        buffer = bytearray()
        async for data in response.content.iter_any():
            if tty:
                output("stdout", data)
                continue
            buffer.extend(data)
            while len(buffer) >= 8:
                size = int.from_bytes(buffer[4:8], "big")
                if len(buffer) < 8 + size:
                    break
                output("stderr" if buffer[0] == 2 else "stdout", bytes(buffer[8:8 + size]))
                del buffer[:8 + size]


async def exec_command(engine: EngineConnection, project: Project, service: str, command: list[str], *,
                       index: int = 1, env: dict[str, str] | None = None, user: str | None = None,
                       workdir: str | None = None, privileged: bool = False, detach: bool = False,
                       output: Output | None = None) -> int:
    """Run a command in a running container of the service (non-interactive); returns its exit code."""
    members = [c for c in await containers(engine, project.name, [service], all=False) if c.number == index]
    if not members:
        raise ComposeError(f"service {service} is not running (no container number {index})")
    body: dict[str, Any] = {"Cmd": command, "AttachStdout": not detach, "AttachStderr": not detach,
                            "AttachStdin": False, "Tty": False, "Privileged": privileged,
                            "Env": [f"{k}={v}" for k, v in (env or {}).items()]}
    if user:
        body["User"] = user
    if workdir:
        body["WorkingDir"] = workdir
    created = await engine.call("POST", f"/containers/{members[0].id}/exec", body=body)
    exec_id = str(created["Id"])
    if detach:
        await engine.call("POST", f"/exec/{exec_id}/start", body={"Detach": True, "Tty": False})
        return 0
    await _pump_frames(engine, f"/exec/{exec_id}/start", {"Detach": False, "Tty": False},
                       output or _discard, tty=False)
    info = await engine.call("GET", f"/exec/{exec_id}/json")
    code = info.get("ExitCode")
    return int(code) if code is not None else 0


def _discard(_: str, __: bytes) -> None:
    return None


async def run(engine: EngineConnection, project: Project, service: str, command: list[str] | None = None, *,
              name: str | None = None, entrypoint: list[str] | None = None, env: dict[str, str] | None = None,
              user: str | None = None, workdir: str | None = None, remove: bool = False, detach: bool = False,
              no_deps: bool = False, service_ports: bool = False, labels: dict[str, str] | None = None,
              output: Output | None = None, progress: ProgressCallback | None = None) -> tuple[str, int]:
    """A one-off container of the service (`compose run`); returns its name and exit code (0 if detached)."""
    report = progress or _ignore
    svc = project.service(service)
    deps = [d for d in project.with_dependencies([service]) if d != service]
    if deps and not no_deps:
        await up(engine, project, deps, progress=report)
    await ensure_networks(engine, project, [service], report)
    await ensure_volumes(engine, project, [service], report)
    await ensure_images(engine, project, [service], build=False, no_build=False, pull="missing", report=report)
    overrides = dict(svc.config)
    if user:
        overrides["user"] = user
    if workdir:
        overrides["working_dir"] = workdir
    if labels:
        overrides["labels"] = {**(overrides.get("labels") or {}), **labels}
    overrides.pop("restart", None)  # a one-off container is not restarted
    overrides.pop("container_name", None)
    one = Service(service, overrides)
    cname = name or f"{project.name}-{service}-run-{uuid.uuid4().hex[:12]}"
    body = create_body(project, one, 1, oneoff=True, command=command, entrypoint=entrypoint, extra_env=env,
                       publish=service_ports, aliases=False)
    if detach and remove:
        body["HostConfig"]["AutoRemove"] = True
    report(Progress("container", cname, "Creating"))
    created = await engine.call("POST", "/containers/create", params={"name": cname}, body=body)
    ident = str(created["Id"])
    await _connect_other_networks(engine, project, one, ident, 1)
    try:
        if detach:
            await engine.call("POST", f"/containers/{ident}/start")
            report(Progress("container", cname, "Started"))
            return cname, 0
        tty = bool(body.get("Tty"))
        await engine.call("POST", f"/containers/{ident}/start")
        sink = output or _discard
        async for chunk in engine.logs(ident, follow=True, tty=tty):
            sink(chunk.stream, chunk.text.encode())
        result = await engine.call("POST", f"/containers/{ident}/wait")
        return cname, int(result.get("StatusCode", 0))
    finally:
        if remove and not detach:
            with contextlib.suppress(EngineError):
                await engine.call("DELETE", f"/containers/{ident}", params={"force": True, "v": True})
