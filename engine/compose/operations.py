"""Compose's operations over the Engine API: up, down, ps, logs, start, stop, restart, pull, build, exec, run.

Everything is found again by label (`com.docker.compose.project` and friends), so a project made by
Docker Compose is recognised, and one made here is recognised by Docker Compose. Every function takes
an optional `progress` callback that is told of each step, for the CLI's lines and the desktop's view.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from engine.client.buildcontext import BuildContextError
from engine.client.client import EngineClient
from engine.client.errors import EngineClientError
from engine.compose.convert import container_name, create_body, endpoint_config
from engine.compose.errors import ComposeError
from engine.compose.model import (
    COMPOSE_VERSION,
    LABEL_CONFIG_FILES,
    LABEL_NETWORK,
    LABEL_PROJECT,
    LABEL_VERSION,
    LABEL_VOLUME,
    LABEL_WORKING_DIR,
    Project,
    Service,
)
from engine.compose.results import ContainerState, LogLine, Progress, ProgressCallback, ProjectSummary
from engine.labels import labels_match

_POLL = 0.25


def _ignore(_: Progress) -> None:
    return None


# -- finding a project's things ------------------------------------------------------------------


async def _labelled(engine: EngineClient, labels: list[str], *, all: bool = True) -> list[dict[str, Any]]:
    found = await engine.containers(all=all, filters={"label": labels})
    # Filter again: an engine that ignores a filter must not make us touch another project.
    return [c for c in found if labels_match(c.get("Labels") or {}, labels)]


async def _found(call: Awaitable[dict[str, Any]]) -> dict[str, Any] | None:
    """An inspect's answer, or None when the engine says there is no such thing (404)."""
    try:
        return await call
    except EngineClientError as exc:
        if exc.not_found:
            return None
        raise


async def _removed(call: Awaitable[Any]) -> bool:
    """True when a removal removed something, False when it was already gone (404)."""
    try:
        await call
    except EngineClientError as exc:
        if exc.not_found:
            return False
        raise
    return True


async def containers(engine: EngineClient, project: str, services: Iterable[str] | None = None, *,
                     all: bool = True, oneoff: bool | None = False) -> list[ContainerState]:
    """The project's containers (one-off `run` containers only when `oneoff` is True or None)."""
    wanted = set(services or [])
    found = [ContainerState.from_summary(c) for c in await _labelled(engine, [f"{LABEL_PROJECT}={project}"], all=all)]
    return sorted((c for c in found if (not wanted or c.service in wanted)
                   and (oneoff is None or c.oneoff == oneoff)), key=lambda c: (c.service, c.number, c.name))


async def list_projects(engine: EngineClient) -> list[ProjectSummary]:
    """Every compose project on the engine, as the desktop groups them."""
    groups: dict[str, list[ContainerState]] = {}
    for item in await _labelled(engine, [LABEL_PROJECT], all=True):
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


async def up(engine: EngineClient, project: Project, services: Iterable[str] | None = None, *,
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


async def _handle_orphans(engine: EngineClient, project: Project, remove: bool, report: ProgressCallback,
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


async def _converge(engine: EngineClient, project: Project, service: Service, current: list[ContainerState],
                    replicas: int, *, force: bool, no_recreate: bool, no_start: bool, timeout: int | None,
                    report: ProgressCallback) -> None:
    current = sorted(current, key=lambda c: c.number)
    keep, extra = current[:replicas], current[replicas:]
    await asyncio.gather(*(_remove_container(engine, c, report, timeout) for c in extra))
    want = service.config_hash()
    image = await _found(engine.inspect_image(service.image))
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
            await engine.start(c.id)
            report(Progress("container", c.name, "Started"))
        else:
            report(Progress("container", c.name, "Running"))

    used = {c.number for c in keep}
    numbers = [n for n in range(1, replicas + len(used) + 1) if n not in used][: replicas - len(keep)]
    await asyncio.gather(*(one(c) for c in keep),
                         *(_create(engine, project, service, n, no_start=no_start, report=report) for n in numbers))


async def _create(engine: EngineClient, project: Project, service: Service, number: int, *, no_start: bool,
                  report: ProgressCallback, verb: str = "Created") -> str:
    name = container_name(project, service, number)
    report(Progress("container", name, "Creating"))
    body = create_body(project, service, number)
    ident = await engine.create_container(body, name)
    await _connect_other_networks(engine, project, service, ident, number)
    report(Progress("container", name, verb))
    if not no_start:
        report(Progress("container", name, "Starting"))
        await engine.start(ident)
        report(Progress("container", name, "Started"))
    return ident


async def _connect_other_networks(engine: EngineClient, project: Project, service: Service, ident: str,
                                  number: int) -> None:
    if "network_mode" in service.config:
        return
    for key in list(service.networks)[1:]:
        await engine.connect_network(project.network_name(key), ident, endpoint_config(service, key, number))


async def wait_exit(engine: EngineClient, ident: str) -> int:
    """Block until the container is not running; its exit code (the wait may last as long as it runs)."""
    return await engine.wait(ident, condition="not-running")


async def first_exit(engine: EngineClient, members: Iterable[ContainerState]) -> tuple[ContainerState, int]:
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


async def wait_for_condition(engine: EngineClient, project: Project, service: str, condition: str,
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


async def ensure_networks(engine: EngineClient, project: Project, services: Iterable[str],
                          report: ProgressCallback) -> None:
    for key in _used_networks(project, services):
        cfg = project.networks.get(key, {})
        name = project.network_name(key)
        if await _found(engine.inspect_network(name)) is not None:
            continue
        if cfg.get("external"):
            raise ComposeError(f"network {name} declared as external, but could not be found")
        ipam = cfg.get("ipam") or {}
        report(Progress("network", name, "Creating"))
        await engine.create_network(
            name, cfg.get("driver") or "bridge", internal=bool(cfg.get("internal", False)),
            attachable=bool(cfg.get("attachable", False)), ipv6=bool(cfg.get("enable_ipv6")),
            labels={**(cfg.get("labels") or {}), LABEL_PROJECT: project.name, LABEL_NETWORK: key,
                    LABEL_VERSION: COMPOSE_VERSION},
            options={k: str(v) for k, v in (cfg.get("driver_opts") or {}).items()},
            ipam={"Driver": ipam.get("driver") or "default",
                  "Config": [{_camel(k): v for k, v in c.items()} for c in ipam.get("config") or []]} if ipam else None)
        report(Progress("network", name, "Created"))


def _camel(key: str) -> str:
    return {"subnet": "Subnet", "gateway": "Gateway", "ip_range": "IPRange",
            "aux_addresses": "AuxiliaryAddresses"}.get(key, key)


async def ensure_volumes(engine: EngineClient, project: Project, services: Iterable[str],
                         report: ProgressCallback) -> None:
    keys: list[str] = []
    for name in services:
        for vol in project.service(name).config.get("volumes") or []:
            if vol.get("type") == "volume" and vol.get("source") and vol["source"] not in keys:
                keys.append(vol["source"])
    for key in keys:
        cfg = project.volumes.get(key, {})
        name = project.volume_name(key)
        if await _found(engine.inspect_volume(name)) is not None:
            continue
        if cfg.get("external"):
            raise ComposeError(f"volume {name} declared as external, but could not be found")
        report(Progress("volume", name, "Creating"))
        labels = {**(cfg.get("labels") or {}), LABEL_PROJECT: project.name, LABEL_VOLUME: key,
                  LABEL_VERSION: COMPOSE_VERSION}
        await engine.create_volume(
            name, cfg.get("driver") or "local", labels,
            driver_opts={k: str(v) for k, v in (cfg.get("driver_opts") or {}).items()})
        report(Progress("volume", name, "Created"))


async def ensure_images(engine: EngineClient, project: Project, services: Iterable[str], *, build: bool,
                        no_build: bool, pull: str, report: ProgressCallback) -> None:
    to_build, to_pull = [], []
    for name in services:
        service = project.service(name)
        policy = str(service.config.get("pull_policy") or pull)
        present = await _found(engine.inspect_image(service.image)) is not None
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


async def pull_images(engine: EngineClient, project: Project, services: Iterable[str] | None = None, *,
                      ignore_failures: bool = False, progress: ProgressCallback | None = None) -> None:
    report = progress or _ignore
    images = {project.service(n).image for n in (services or project.services)
              if project.service(n).config.get("image") and (services or project.service(n).build is None)}
    for image in sorted(images):
        report(Progress("image", image, "Pulling"))
        try:
            async for _ in engine.pull(image):
                pass
        except EngineClientError as exc:
            if not ignore_failures:
                raise ComposeError(f"pulling {image}: {exc.message}") from exc
            report(Progress("image", image, "Error", exc.message))
            continue
        report(Progress("image", image, "Pulled"))


async def build_images(engine: EngineClient, project: Project, services: Iterable[str] | None = None, *,
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
        report(Progress("image", service.image, "Building"))
        try:
            async for item in engine.build_image(
                context, service.image, str(spec.get("dockerfile", "Dockerfile")),
                nocache=no_cache or bool(spec.get("no_cache")), pull=pull, build_args=spec.get("args") or None,
                labels=spec.get("labels") or None, target=spec.get("target") or None,
                network=spec.get("network") or None,
            ):
                text = str(item.get("stream", "")).strip()
                if text:
                    report(Progress("image", service.image, "Building", text))
        except BuildContextError as exc:  # no Dockerfile, an unreadable file: found before the engine is asked
            raise ComposeError(exc.message) from None
        except EngineClientError as exc:
            if exc.not_implemented:
                report(Progress("image", service.image, "Skipped",
                                f"the engine cannot build (POST /build answered {exc.status})"))
                if await _found(engine.inspect_image(service.image)) is None:
                    raise ComposeError(f"service {name}: the engine cannot build and image {service.image} "
                                       "is not present") from exc
                continue
            raise ComposeError(f"building {service.image}: {exc.message}") from exc
        report(Progress("image", service.image, "Built"))
        built.append(service.image)
    return built


# -- down, start, stop, restart ------------------------------------------------------------------


async def _remove_container(engine: EngineClient, c: ContainerState, report: ProgressCallback,
                            timeout: int | None, volumes: bool = False) -> None:
    if c.state in ("running", "paused", "restarting"):
        report(Progress("container", c.name, "Stopping"))
        await _stop(engine, c.id, timeout)
        report(Progress("container", c.name, "Stopped"))
    report(Progress("container", c.name, "Removing"))
    await _removed(engine.remove(c.id, force=True, volumes=volumes))
    report(Progress("container", c.name, "Removed"))


async def _stop(engine: EngineClient, ident: str, timeout: int | None) -> None:
    with contextlib.suppress(EngineClientError):  # already stopped or gone: the goal is met
        await engine.stop(ident, timeout)


def _stop_order(project: Project, found: list[ContainerState]) -> list[list[ContainerState]]:
    """Containers grouped so that dependents stop before what they depend on; unknown services first."""
    known = [n for n in project.with_dependencies(None)] if project.services else []
    groups: list[list[ContainerState]] = [[c for c in found if c.service not in known]]
    for name in reversed(known):
        groups.append([c for c in found if c.service == name])
    return [g for g in groups if g]


async def down(engine: EngineClient, project: Project, *, volumes: bool = False, rmi: str | None = None,
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
    labels = [f"{LABEL_PROJECT}={project.name}"]
    names |= {str(n["Name"]) for n in await engine.networks(filters={"label": labels})
              if labels_match(n.get("Labels") or {}, labels)}
    for name in sorted(names):
        if await _removed(engine.remove_network(name)):
            report(Progress("network", name, "Removed"))
    if volumes:
        vols = {project.volume_name(k) for k, cfg in project.volumes.items() if not cfg.get("external")}
        if not project.services:
            vols |= {str(v["Name"]) for v in await engine.volumes(False, filters={"label": labels})
                     if labels_match(v.get("Labels") or {}, labels)}
        for name in sorted(vols):
            if await _removed(engine.remove_volume(name)):
                report(Progress("volume", name, "Removed"))
    if rmi:
        if rmi not in ("all", "local"):
            raise ComposeError(f"--rmi takes all or local, not {rmi!r}")
        images = sorted({s.image for s in project.services.values()
                         if rmi == "all" or (s.build is not None and s.image == f"{project.name}-{s.name}")})
        for image in images:
            try:
                removed = await _removed(engine.remove_image(image))
            except EngineClientError as exc:
                raise ComposeError(f"removing image {image}: {exc.message}") from exc
            if removed:
                report(Progress("image", image, "Removed"))


async def start(engine: EngineClient, project: Project, services: Iterable[str] | None = None, *,
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
        await asyncio.gather(*(engine.start(c.id) for c in group))
        for c in group:
            report(Progress("container", c.name, "Started"))


async def stop(engine: EngineClient, project: Project, services: Iterable[str] | None = None, *,
               timeout: int | None = None, progress: ProgressCallback | None = None) -> None:
    report = progress or _ignore
    found = await containers(engine, project.name, list(services or []) or None, all=False)
    for group in _stop_order(project, found):
        for c in group:
            report(Progress("container", c.name, "Stopping"))
        await asyncio.gather(*(_stop(engine, c.id, timeout) for c in group))
        for c in group:
            report(Progress("container", c.name, "Stopped"))


async def restart(engine: EngineClient, project: Project, services: Iterable[str] | None = None, *,
                  timeout: int | None = None, progress: ProgressCallback | None = None) -> None:
    report = progress or _ignore
    found = await containers(engine, project.name, list(services or []) or None)
    for name in project.start_order(list(services or []) or None):
        group = [c for c in found if c.service == name]
        for c in group:
            report(Progress("container", c.name, "Restarting"))
        await asyncio.gather(*(engine.restart(c.id, timeout) for c in group))
        for c in group:
            report(Progress("container", c.name, "Started"))


async def ps(engine: EngineClient, project: Project | str, services: Iterable[str] | None = None, *,
             all: bool = False) -> list[ContainerState]:
    name = project if isinstance(project, str) else project.name
    return await containers(engine, name, services, all=all)


# -- logs ----------------------------------------------------------------------------------------


async def logs(engine: EngineClient, project: Project | str, services: Iterable[str] | None = None, *,
               follow: bool = False, tail: str = "all", timestamps: bool = False) -> AsyncIterator[LogLine]:
    """Every container's output, line by line, merged as it comes (ordered per container)."""
    name = project if isinstance(project, str) else project.name
    members = await containers(engine, name, services)
    queue: asyncio.Queue[LogLine | None] = asyncio.Queue()

    params = {"stdout": True, "stderr": True, "follow": follow, "tail": tail, "timestamps": timestamps}

    async def pump(c: ContainerState) -> None:
        pending: dict[str, str] = {}
        try:
            async for chunk in engine.stream_output(c.id, params):
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


async def exec_command(engine: EngineClient, project: Project, service: str, command: list[str], *,
                       index: int = 1, env: dict[str, str] | None = None, user: str | None = None,
                       workdir: str | None = None, privileged: bool = False, detach: bool = False,
                       output: Output | None = None) -> int:
    """Run a command in a running container of the service (non-interactive); returns its exit code."""
    members = [c for c in await containers(engine, project.name, [service], all=False) if c.number == index]
    if not members:
        raise ComposeError(f"service {service} is not running (no container number {index})")
    exec_id = await engine.exec_create(
        members[0].id, command, tty=False, stdin=False, env=[f"{k}={v}" for k, v in (env or {}).items()],
        user=user, workdir=workdir, privileged=privileged, output=not detach)
    if detach:
        await engine.exec_detached(exec_id)
        return 0
    sink = output or _discard
    async for stream, data in engine.exec_output(exec_id):
        sink(stream, data)
    code = (await engine.exec_inspect(exec_id)).get("ExitCode")
    return int(code) if code is not None else 0


def _discard(_: str, __: bytes) -> None:
    return None


async def run(engine: EngineClient, project: Project, service: str, command: list[str] | None = None, *,
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
    ident = await engine.create_container(body, cname)
    await _connect_other_networks(engine, project, one, ident, 1)
    try:
        if detach:
            await engine.start(ident)
            report(Progress("container", cname, "Started"))
            return cname, 0
        await engine.start(ident)
        sink = output or _discard
        async for chunk in engine.stream_logs(ident, follow=True):
            sink(chunk.stream, chunk.text.encode())
        return cname, await engine.wait(ident)
    finally:
        if remove and not detach:
            with contextlib.suppress(EngineClientError):
                await engine.remove(ident, force=True, volumes=True)
