"""/containers: create, list, inspect, start, stop, kill, wait, attach, logs, remove."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from engine.api.app import Routes, backend, requested_below
from engine.api.params import filter_args, flag, fold_keys, integer, json_body
from engine.api.streams import MULTIPLEXED, RAW, frame, hijack
from engine.containers import reported
from engine.containers.create import requested_platform
from engine.containers.logs import LogQuery, read_log
from engine.containers.model import Container
from engine.containers.stdio import OutputWriter, parse_detach_keys
from engine.errors import InvalidArgument, NotFound, NotImplementedHere
from engine.formats import FormatError, rfc3339_nano, timestamp_ns


def summary(c: Container, request: web.Request, networks: dict[str, Any] | None = None,
            link_names: list[str] | None = None) -> dict[str, Any]:
    """The ContainerSummary shape of GET /containers/json (`networks`: its Networks, when the
    caller fetched those of many containers at once; `link_names`: the names links give it)."""
    svc = backend(request).containers
    if networks is None:
        networks = svc.networking.summaries([c])[c.id]
    return {
        "Id": c.id,
        "Names": ["/" + c.name, *(link_names or [])],
        "Image": c.image,
        "ImageID": c.image_id,
        "Command": " ".join(c.command),
        "Created": c.created_ns // 1_000_000_000,
        "Ports": svc.networking.ports(c),
        "Labels": c.config.get("Labels") or {},
        "State": c.state.value,
        "Status": c.status_text(),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode", "bridge")},
        "NetworkSettings": {"Networks": networks},
        "Mounts": svc.mounts.inspect(c),
    }


def inspect(c: Container, request: web.Request) -> dict[str, Any]:
    svc = backend(request).containers
    data = svc.data_dir(c.id)
    cmd = c.command
    return {
        "Id": c.id,
        "Created": rfc3339_nano(c.created_ns),
        "Path": cmd[0] if cmd else "",
        "Args": cmd[1:],
        "State": c.state_api(),
        "Image": c.image_id,
        "ResolvConfPath": str(data / "resolv.conf"),
        "HostnamePath": str(data / "hostname"),
        "HostsPath": str(data / "hosts"),
        "LogPath": str(svc.log_path(c.id)),
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": reported.host_config(c.host_config, runtime=svc.runtime.name, cgroupns=svc.cgroupns_mode),
        "GraphDriver": {"Name": "overlay", "Data": {
            "UpperDir": str(data / "upper"), "WorkDir": str(data / "work"),
            "MergedDir": str(svc.bundle_dir(c.id) / "rootfs")}},
        "Mounts": svc.mounts.inspect(c),
        "Config": reported.config(c.config),
        "NetworkSettings": svc.networking.settings(c),
    }


async def list_containers(request: web.Request) -> web.Response:
    svc = backend(request).containers
    everything = svc.all()
    rows = svc.matching(filter_args(request), show_all=flag(request, "all"),
                    limit=integer(request, "limit", -1) or -1, everything=everything)
    networks = svc.networking.summaries(rows)
    link_names = svc.link_names(everything)
    return web.json_response([summary(c, request, networks[c.id], link_names.get(c.name)) for c in rows])


async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    if isinstance(body, dict):
        body = fold_keys(body, reported.CONFIG_KEYS)
        if isinstance(body.get("HostConfig"), dict):
            body["HostConfig"] = fold_keys(body["HostConfig"], reported.HOST_CONFIG_KEYS)
    # `platform` came with API 1.41; dockerd ignores it from older clients.
    platform = None if requested_below(request, "1.41") else requested_platform(request.query.get("platform"))
    c, warnings = backend(request).containers.create(body, request.query.get("name") or None, platform)
    return web.json_response({"Id": c.id, "Warnings": warnings}, status=201)


async def inspect_container(request: web.Request) -> web.Response:
    c = backend(request).containers.get(request.match_info["id"])
    return web.json_response(inspect(c, request))


async def start(request: web.Request) -> web.Response:
    await backend(request).containers.start(request.match_info["id"])
    return web.Response(status=204)


async def stop(request: web.Request) -> web.Response:
    await backend(request).containers.stop(request.match_info["id"], integer(request, "t"),
                                           request.query.get("signal"))
    return web.Response(status=204)


async def kill(request: web.Request) -> web.Response:
    await backend(request).containers.kill(request.match_info["id"], request.query.get("signal") or None)
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    fut = backend(request).containers.wait_future(request.match_info["id"], request.query.get("condition", ""))
    # Headers go out at once, as dockerd does, so the client knows the wait is in place.
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    try:
        code = await fut
    finally:
        fut.cancel()
    with contextlib.suppress(ConnectionError):  # the client may have given up waiting
        await resp.write(b'{"Error":null,"StatusCode":%d}\n' % code)
    return resp


async def remove_link(request: web.Request) -> web.Response:
    if not flag(request, "link"):
        raise NotFound(f"No such container: {request.match_info['id']}/{request.match_info['alias']}")
    backend(request).containers.remove_link(request.match_info["id"], request.match_info["alias"])
    return web.Response(status=204)


async def remove(request: web.Request) -> web.Response:
    await backend(request).containers.remove(request.match_info["id"], force=flag(request, "force"),
                                             volumes=flag(request, "v"))
    return web.Response(status=204)


async def attach(request: web.Request) -> web.StreamResponse:
    svc = backend(request).containers
    c = svc.get(request.match_info["id"])
    if not flag(request, "stream") and not flag(request, "logs"):
        raise InvalidArgument("attach needs stream=1 or logs=1")
    want_stdin = flag(request, "stdin") and bool(c.config.get("OpenStdin"))
    resp, reader = await hijack(request, RAW if c.tty else MULTIPLEXED)
    lock = asyncio.Lock()

    async def write(stream: int, data: bytes) -> None:
        async with lock:
            await resp.write(data if c.tty else frame(stream, data))

    keys = parse_detach_keys(request.query.get("detachKeys"))
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        await _attached(request, c, write, reader if want_stdin else None, keys)
        await resp.write_eof()
    return resp


async def _attached(request: web.Request, c: Container, write: OutputWriter, stdin: asyncio.StreamReader | None,
                    keys: bytes) -> None:
    """What an attach sends, whatever carries it: with logs=1 what was printed so far, then with stream=1
    what comes (stdin fed to the container meanwhile), as dockerd replays and streams it."""
    svc = backend(request).containers
    if flag(request, "logs") and c.spec.log.kept:
        query = LogQuery(stdout=flag(request, "stdout"), stderr=flag(request, "stderr"), since_ns=0,
                         until_ns=0, tail=None, follow=False)
        async for batch in read_log(svc.log_path(c.id), query, lambda: False):
            for line in batch:
                await write(line.stream, line.data)
    if flag(request, "stream"):
        await svc.attach(c.id, write, stdin, flag(request, "stdout"), flag(request, "stderr"), keys)


async def attach_ws(request: web.Request) -> web.WebSocketResponse:
    """GET /containers/{id}/attach/ws: attach over a websocket, as dockerd serves it. The output is not
    multiplexed (stdout and stderr alike), in binary frames from API 1.28 (text before); every frame
    the client sends is stdin; the client closing the socket detaches it."""
    c = backend(request).containers.get(request.match_info["id"])
    keys = parse_detach_keys(request.query.get("detachKeys"))
    binary = not requested_below(request, "1.28")
    stdin = asyncio.StreamReader() if flag(request, "stdin") and c.config.get("OpenStdin") else None
    ws = web.WebSocketResponse()
    await ws.prepare(request)

    async def write(stream: int, data: bytes) -> None:
        if binary:
            await ws.send_bytes(data)
        else:
            await ws.send_str(data.decode(errors="replace"))

    async def from_client() -> None:
        async for msg in ws:  # also answers the client's pings and close
            if stdin is not None and msg.type in (web.WSMsgType.TEXT, web.WSMsgType.BINARY):
                stdin.feed_data(msg.data.encode() if isinstance(msg.data, str) else msg.data)
        if stdin is not None:
            stdin.feed_eof()

    async def to_client() -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            await _attached(request, c, write, stdin, keys)

    reading, writing = asyncio.create_task(from_client()), asyncio.create_task(to_client())
    try:
        await asyncio.wait({reading, writing}, return_when=asyncio.FIRST_COMPLETED)
        if not writing.done():  # the client closed: its stdin's end gets a moment to land, then it detaches
            await asyncio.wait({writing}, timeout=0.2)
            writing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writing
    finally:
        for task in (reading, writing):
            task.cancel()
        await ws.close()
    return ws


async def resize(request: web.Request) -> web.Response:
    h, w = integer(request, "h", 0) or 0, integer(request, "w", 0) or 0
    backend(request).containers.resize(request.match_info["id"], h, w)
    return web.Response(status=200)


async def logs(request: web.Request) -> web.StreamResponse:
    svc = backend(request).containers
    c = svc.get(request.match_info["id"])
    stdout, stderr = flag(request, "stdout"), flag(request, "stderr")
    if not stdout and not stderr:
        raise InvalidArgument("you must choose at least one stream: stdout=1 or stderr=1")
    if not c.spec.log.kept:
        raise NotImplementedHere("configured logging driver does not support reading")
    tail_raw = request.query.get("tail", "all")
    if tail_raw in ("all", ""):
        tail = None
    else:
        try:
            tail = int(tail_raw)
        except ValueError:
            raise InvalidArgument(f"invalid tail value: {tail_raw!r} (a number or \"all\")") from None
    query = LogQuery(
        stdout=stdout, stderr=stderr,
        since_ns=_time_param(request, "since"), until_ns=_time_param(request, "until"),
        tail=tail, follow=flag(request, "follow"),
    )
    timestamps = flag(request, "timestamps")
    resp = web.StreamResponse(status=200, headers={"Content-Type": RAW if c.tty else MULTIPLEXED})
    await resp.prepare(request)

    def running() -> bool:
        try:
            return svc.get(c.id).running
        except Exception:
            return False

    with contextlib.suppress(ConnectionResetError):
        async for batch in read_log(svc.log_path(c.id), query, running):
            out = bytearray()
            for line in batch:
                data = line.rfc3339() + b" " + line.data if timestamps else line.data
                out += data if c.tty else frame(line.stream, data)
            await resp.write(bytes(out))
    return resp


async def restart(request: web.Request) -> web.Response:
    await backend(request).containers.restart(request.match_info["id"], integer(request, "t"),
                                              request.query.get("signal"))
    return web.Response(status=204)


async def pause(request: web.Request) -> web.Response:
    await backend(request).containers.pause(request.match_info["id"])
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.Response:
    await backend(request).containers.unpause(request.match_info["id"])
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    backend(request).containers.rename(request.match_info["id"], request.query.get("name", ""))
    return web.Response(status=204)


async def update(request: web.Request) -> web.Response:
    body = await json_body(request)
    warnings = await backend(request).containers.update(request.match_info["id"], body)
    return web.json_response({"Warnings": warnings})


async def prune(request: web.Request) -> web.Response:
    deleted, space = await backend(request).containers.prune_matching(filter_args(request))
    return web.json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": space})


def _time_param(request: web.Request, name: str) -> int:
    """logs' since/until, as docker's GetTimestamp reads them; 0 when absent."""
    value = request.query.get(name, "0")
    if value in ("", "0"):
        return 0
    try:
        return timestamp_ns(value)
    except FormatError as e:
        raise InvalidArgument(f"invalid {name} value {value!r}: {e}") from None


def register(routes: Routes) -> None:
    routes.add("GET", "/containers/json", list_containers)
    routes.add("POST", "/containers/create", create)
    routes.add("GET", "/containers/{id}/json", inspect_container)
    routes.add("POST", "/containers/{id}/start", start)
    routes.add("POST", "/containers/{id}/stop", stop)
    routes.add("POST", "/containers/{id}/kill", kill)
    routes.add("POST", "/containers/{id}/wait", wait)
    routes.add("POST", "/containers/{id}/attach", attach)
    routes.add("GET", "/containers/{id}/attach/ws", attach_ws)
    routes.add("GET", "/containers/{id}/logs", logs)
    routes.add("POST", "/containers/{id}/resize", resize)
    routes.add("POST", "/containers/{id}/restart", restart)
    routes.add("POST", "/containers/{id}/pause", pause)
    routes.add("POST", "/containers/{id}/unpause", unpause)
    routes.add("POST", "/containers/{id}/rename", rename)
    routes.add("POST", "/containers/{id}/update", update)
    routes.add("POST", "/containers/prune", prune)
    routes.add("DELETE", "/containers/{id}", remove)
    routes.add("DELETE", "/containers/{id}/{alias}", remove_link)
