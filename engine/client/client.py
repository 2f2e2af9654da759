"""`EngineClient`: the one way Berth's front ends talk to an engine (berthd, dockerd, podman).

It speaks the Docker Engine API through aiodocker's connection handling (Unix sockets, TCP/TLS,
ssh://, error decoding) and hands back plain dicts and dataclasses, so no aiodocker type leaks out
and the transport can change without touching callers. Every request goes through `_request` /
`_stream`, the only places that know aiodocker.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiodocker
import aiodocker.stream
import aiohttp
from aiodocker.exceptions import DockerError
from yarl import URL

from engine.client.address import default_engine_url, normalize_url
from engine.client.buildcontext import (
    DEFAULT_DOCKERFILE,
    BuildContextError,
    locate_dockerfile,
    spool,
    write_context,
)
from engine.client.errors import EngineClientError, EngineUnreachable
from engine.client.execs import ExecStream
from engine.client.references import split_reference as split_reference  # its old home, still importable
from engine.client.streams import FrameDecoder, JSONStreamDecoder, LogChunk
from engine.client.tls import TLSFiles
from engine.client.transport import finish_connects, open_connector

# The newest API this client is written against; older engines are spoken to in their own version.
CLIENT_API_VERSION = "1.45"
# aiodocker reports "could not connect" as this pseudo-status.
_AIODOCKER_CONNECT_FAILED = 900
_PING_TIMEOUT = aiohttp.ClientTimeout(total=5)
_CALL_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=5)
# Streams (events, followed logs, wait) may stay open for hours; only connecting is bounded.
_STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=None, connect=5)

Params = Mapping[str, Any]


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def _error_message(raw: str) -> str:
    # aiodocker only decodes `{"message": ...}` when Content-Type is exactly application/json.
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.strip()
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return raw.strip()


class EngineClient:
    """An async client of one engine. Cheap to construct; connects on first use.

    Use it as `async with EngineClient(url) as engine: ...`, or call `close()` when done.
    """

    def __init__(self, url: str | None = None, tls: TLSFiles | None = None) -> None:
        self.url = normalize_url(url) if url else default_engine_url()
        # TLS applies to tcp:// only; without files given, the docker CLI's DOCKER_TLS* variables decide.
        self.tls = (tls or TLSFiles.from_env()) if self.url.startswith("tcp://") else None
        self._docker: aiodocker.Docker | None = None
        self._connector: aiohttp.BaseConnector | None = None
        # Requests under way, so close() can let them end instead of cutting their connections.
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._api_version: str | None = None
        self._negotiating = asyncio.Lock()

    async def __aenter__(self) -> EngineClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, grace: float = 1.0) -> None:
        """Close the connections; requests still under way get up to `grace` seconds to end first
        (a stream that is still open after that is cut, and its reader sees EngineUnreachable)."""
        if self._active:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        docker, self._docker = self._docker, None
        connector, self._connector = self._connector, None
        self._api_version = None
        if docker is not None:
            await docker.close()
        if connector is not None:  # ours, so aiodocker leaves it open
            await finish_connects(connector)
            await connector.close()

    # -- system ------------------------------------------------------------------------------

    async def ping(self) -> bool:
        """True when the engine answers `/_ping` with OK; False when nothing (or something else) answers."""
        try:
            await self.ensure_reachable()
        except (EngineUnreachable, EngineClientError):
            return False
        return True

    async def ensure_reachable(self) -> None:
        """`/_ping` with a short timeout; raises `EngineUnreachable` saying why nothing answered."""
        async with self._stream("GET", "_ping", versioned=False, timeout=_PING_TIMEOUT) as response:
            body = (await response.text()).strip()
        if body != "OK":
            raise EngineUnreachable(self.url, f"something answered, but not an engine (it said {body[:40]!r})")

    async def version(self) -> dict[str, Any]:
        return _object(await self._json("GET", "version", versioned=False))

    async def info(self) -> dict[str, Any]:
        return _object(await self._json("GET", "info"))

    async def api_version(self) -> str:
        """The API version spoken with this engine: the lower of the engine's and ours."""
        await self._negotiate()
        assert self._api_version is not None
        return self._api_version

    async def describe(self) -> str:
        """Which engine this is, for a person: "Berth 0.1.0", "Docker Engine - Community 20.10.24"."""
        return describe_version(await self.version())

    # -- containers --------------------------------------------------------------------------

    async def containers(
        self, all: bool = True, filters: Mapping[str, list[str]] | None = None
    ) -> list[dict[str, Any]]:
        """The `/containers/json` list: one dict per container (Id, Names, Image, State, ...)."""
        params: dict[str, Any] = {"all": all}
        if filters:
            params["filters"] = json.dumps(dict(filters))
        result = await self._json("GET", "containers/json", params=params)
        return list(result) if isinstance(result, list) else []

    async def container(self, id: str) -> dict[str, Any] | None:
        """The `/containers/json` entry of one container (by full or short id), None if gone."""
        for item in await self.containers(all=True, filters={"id": [id]}):
            # Filter again here: an engine that ignores `filters` returns every container.
            if str(item.get("Id", "")).startswith(id):
                return item
        return None

    async def inspect_container(self, id: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"containers/{id}/json"))

    async def create_container(self, config: Mapping[str, Any], name: str | None = None) -> str:
        """Create a container from a `ContainerConfig` body; returns its id."""
        params = {"name": name} if name else None
        result = await self._json("POST", "containers/create", params=params, body=dict(config))
        return str(result["Id"])

    async def start(self, id: str) -> None:
        await self._call("POST", f"containers/{id}/start")

    async def stop(self, id: str, timeout: int | None = None) -> None:
        params = {"t": timeout} if timeout is not None else None
        # The engine waits up to `timeout` seconds before killing: don't give up on the HTTP call first.
        await self._call("POST", f"containers/{id}/stop", params=params, timeout=_STREAM_TIMEOUT)

    async def remove(self, id: str, force: bool = False) -> None:
        await self._call("DELETE", f"containers/{id}", params={"force": force} if force else None)

    async def wait(self, id: str) -> int:
        """Block until the container exits; returns its exit code."""
        result = await self._json("POST", f"containers/{id}/wait", timeout=_STREAM_TIMEOUT)
        return int(result.get("StatusCode", -1))

    async def logs(self, id: str, *, tail: int | None = None) -> str:
        """Everything the container has written so far, stdout and stderr interleaved."""
        return "".join([chunk.text async for chunk in self.stream_logs(id, follow=False, tail=tail)])

    async def stream_logs(
        self, id: str, *, follow: bool = True, tail: int | None = None, timestamps: bool = False
    ) -> AsyncIterator[LogChunk]:
        """The container's output as it comes; with `follow`, until the container stops."""
        params: dict[str, Any] = {"stdout": True, "stderr": True, "follow": follow, "timestamps": timestamps}
        if tail is not None:
            params["tail"] = str(tail)
        async with self._stream("GET", f"containers/{id}/logs", params=params) as response:
            decoder = FrameDecoder(raw=await self._is_raw_stream(id, response))
            try:
                async for data in response.content.iter_any():
                    for chunk in decoder.feed(data):
                        yield chunk
            except aiohttp.ClientError as exc:
                raise EngineUnreachable(self.url, f"log stream broke: {exc}") from exc


    async def restart(self, id: str, timeout: int | None = None) -> None:
        params = {"t": timeout} if timeout is not None else None
        await self._call("POST", f"containers/{id}/restart", params=params, timeout=_STREAM_TIMEOUT)

    async def pause(self, id: str) -> None:
        await self._call("POST", f"containers/{id}/pause")

    async def unpause(self, id: str) -> None:
        await self._call("POST", f"containers/{id}/unpause")

    async def kill(self, id: str, signal: str = "SIGKILL") -> None:
        await self._call("POST", f"containers/{id}/kill", params={"signal": signal})

    async def top(self, id: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"containers/{id}/top"))

    async def stats(self, id: str) -> AsyncIterator[dict[str, Any]]:
        """The container's `/stats` stream: one raw sample a second (see `StatsSample.from_api`)."""
        async for sample in self._json_lines("GET", f"containers/{id}/stats", params={"stream": True}):
            yield sample

    async def stats_once(self, id: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"containers/{id}/stats", params={"stream": False}))

    # -- exec --------------------------------------------------------------------------------

    async def exec_create(
        self,
        id: str,
        cmd: list[str],
        *,
        tty: bool = True,
        stdin: bool = True,
        env: list[str] | None = None,
        user: str | None = None,
        workdir: str | None = None,
    ) -> str:
        """Create an exec instance in a running container; returns its id."""
        config: dict[str, Any] = {
            "Cmd": cmd,
            "Tty": tty,
            "AttachStdin": stdin,
            "AttachStdout": True,
            "AttachStderr": True,
        }
        if env:
            config["Env"] = env
        if user:
            config["User"] = user
        if workdir:
            config["WorkingDir"] = workdir
        result = await self._json("POST", f"containers/{id}/exec", body=config)
        return str(result["Id"])

    async def exec_start(self, exec_id: str, *, tty: bool = True) -> ExecStream:
        """Start an exec and take over the connection (101 Upgrade): bytes flow both ways."""
        await self._negotiate()
        docker = self._connection()
        body = json.dumps({"Detach": False, "Tty": tty}).encode()

        async def setup() -> tuple[Any, bytes | None, bool]:
            return URL(f"exec/{exec_id}/start"), body, tty

        stream = ExecStream(aiodocker.stream.Stream(docker, setup, timeout=_STREAM_TIMEOUT), self.url)
        await stream.open()
        return stream

    async def attach(self, id: str, *, tty: bool, stdin: bool = True, logs: bool = False) -> ExecStream:
        """Take over `/containers/{id}/attach` (101 Upgrade): the container's stdio both ways. Opened
        before a start, no output is missed; `logs` replays what it printed already."""
        await self._negotiate()
        docker = self._connection()
        query = f"stream=1&stdin={int(stdin)}&stdout=1&stderr=1&logs={int(logs)}"

        async def setup() -> tuple[Any, bytes | None, bool]:
            return URL(f"containers/{id}/attach?{query}"), None, tty

        stream = ExecStream(aiodocker.stream.Stream(docker, setup, timeout=_STREAM_TIMEOUT), self.url)
        await stream.open()
        return stream

    async def exec_resize(self, exec_id: str, rows: int, columns: int) -> None:
        await self._call("POST", f"exec/{exec_id}/resize", params={"h": rows, "w": columns})

    async def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"exec/{exec_id}/json"))

    # -- files -------------------------------------------------------------------------------

    async def archive(self, id: str, path: str) -> AsyncIterator[bytes]:
        """A tar of `path` in the container (GET /containers/{id}/archive), as it streams."""
        async with self._stream("GET", f"containers/{id}/archive", params={"path": path}) as response:
            try:
                async for chunk in response.content.iter_chunked(1 << 16):
                    yield chunk
            except aiohttp.ClientError as exc:
                raise EngineUnreachable(self.url, f"archive stream broke: {exc}") from exc

    async def path_stat(self, id: str, path: str) -> dict[str, Any]:
        """What `path` is in the container (name, size, mode, mtime, linkTarget), from the archive's HEAD."""
        async with self._stream("HEAD", f"containers/{id}/archive", params={"path": path}) as response:
            header = response.headers.get("X-Docker-Container-Path-Stat", "")
        if not header:
            return {}
        try:
            return _object(json.loads(base64.b64decode(header)))
        except (ValueError, binascii.Error) as exc:
            raise EngineClientError(200, f"the engine sent an unreadable path stat: {exc}") from exc

    # -- images ------------------------------------------------------------------------------

    async def images(self, all: bool = False) -> list[dict[str, Any]]:
        """The `/images/json` list: one dict per image (Id, RepoTags, Created, Size, ...)."""
        result = await self._json("GET", "images/json", params={"all": all})
        return list(result) if isinstance(result, list) else []


    async def inspect_image(self, name: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"images/{name}/json"))

    async def image_history(self, name: str) -> list[dict[str, Any]]:
        result = await self._json("GET", f"images/{name}/history")
        return list(result) if isinstance(result, list) else []

    async def pull(self, reference: str, auth: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Pull an image; yields the engine's progress objects. An `error` object raises."""
        image, tag = split_reference(reference)
        params = {"fromImage": image, "tag": tag or "latest"}
        headers = {"X-Registry-Auth": auth} if auth else None
        async for item in self._progress("POST", "images/create", params=params, headers=headers):
            yield item

    async def push(self, reference: str, auth: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Push an image; yields progress objects. An `error` object raises."""
        image, tag = split_reference(reference)
        # The API insists on X-Registry-Auth; an empty credential object means "anonymous".
        headers = {"X-Registry-Auth": auth or base64.urlsafe_b64encode(b"{}").decode()}
        params = {"tag": tag} if tag else None
        async for item in self._progress("POST", f"images/{image}/push", params=params, headers=headers):
            yield item

    async def import_image(self, data: bytes, repo: str, tag: str = "latest") -> None:
        """`docker import`: a rootfs tar becomes image `repo:tag`."""
        params = {"fromSrc": "-", "repo": repo, "tag": tag}
        headers = {"Content-Type": "application/x-tar"}
        async for _ in self._progress("POST", "images/create", params=params, data=data, headers=headers):
            pass

    async def build_image(
        self,
        context_dir: str | os.PathLike[str],
        tag: str | None = None,
        dockerfile: str | os.PathLike[str] = DEFAULT_DOCKERFILE,
        nocache: bool = False,
        pull: bool = False,
        *,
        build_args: Mapping[str, str | None] | None = None,
        labels: Mapping[str, str] | None = None,
        target: str | None = None,
        quiet: bool = False,
    ) -> AsyncIterator[dict[str, Any]]:
        """`docker build` with the classic builder: the folder `context_dir` (less what its
        `.dockerignore` excludes) is sent as a tar; yields the engine's JSON lines as they come
        (`{"stream": text}` output, `{"aux": {"ID": image id}}`, pull progress for `FROM`).

        `dockerfile` is relative to the folder, or an absolute path (outside it too). A missing
        Dockerfile or unreadable file raises `BuildContextError` (an `EngineClientError`) before
        the engine is asked; a failed step raises `EngineClientError` with the engine's message.
        """
        context = Path(context_dir)
        located = await asyncio.to_thread(locate_dockerfile, context, dockerfile)
        params: dict[str, Any] = {"dockerfile": located.name, "nocache": nocache, "pull": pull, "rm": True}
        if tag:
            params["t"] = tag
        if build_args:
            params["buildargs"] = json.dumps(dict(build_args))
        if labels:
            params["labels"] = json.dumps(dict(labels))
        if target:
            params["target"] = target
        if quiet:
            params["q"] = True
        with spool() as body:
            # The tar goes through a temporary file: a big context never sits in memory, and is
            # sent with its length. Made in a thread, stopped if the build is abandoned meanwhile.
            stop = threading.Event()
            try:
                await asyncio.to_thread(write_context, context, located, body, stop)
            except asyncio.CancelledError:
                stop.set()  # the thread gives up at its next file (BuildCancelled, unseen)
                raise
            body.seek(0)
            try:
                async for item in self._progress("POST", "build", params=params, data=body,
                                                 headers={"Content-Type": "application/x-tar"}):
                    yield item
            except EngineClientError as exc:
                if "Cannot locate specified Dockerfile" in exc.message:
                    raise BuildContextError(f"no Dockerfile in {context} (the engine says: {exc.message})") from exc
                raise

    async def tag(self, name: str, repo: str, tag: str = "latest") -> None:
        await self._call("POST", f"images/{name}/tag", params={"repo": repo, "tag": tag})

    async def remove_image(self, name: str, force: bool = False) -> list[dict[str, Any]]:
        result = await self._json("DELETE", f"images/{name}", params={"force": force} if force else None)
        return list(result) if isinstance(result, list) else []

    # -- volumes -----------------------------------------------------------------------------

    async def volumes(self, usage: bool = True) -> list[dict[str, Any]]:
        """Every volume; with `usage`, berthd adds `UsageData` (Size, RefCount), other engines ignore it."""
        result = await self._json("GET", "volumes", params={"usage": True} if usage else None)
        items = result.get("Volumes") if isinstance(result, dict) else None
        return list(items) if isinstance(items, list) else []

    async def inspect_volume(self, name: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"volumes/{name}"))

    async def create_volume(
        self, name: str = "", driver: str = "local", labels: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        body = {"Name": name, "Driver": driver, "Labels": dict(labels or {})}
        return _object(await self._json("POST", "volumes/create", body=body))

    async def remove_volume(self, name: str, force: bool = False) -> None:
        await self._call("DELETE", f"volumes/{name}", params={"force": force} if force else None)

    async def volume_files(self, name: str, path: str = "/") -> dict[str, Any]:
        """Berth's own: one directory of a volume (`/berth/v1/volumes/{name}/files`)."""
        return _object(
            await self._json("GET", f"berth/v1/volumes/{name}/files", params={"path": path}, versioned=False)
        )

    async def export_volume(self, name: str) -> AsyncIterator[bytes]:
        """Berth's own: the volume's files as a tar stream."""
        async with self._stream("GET", f"berth/v1/volumes/{name}/export", versioned=False) as response:
            try:
                async for chunk in response.content.iter_chunked(1 << 16):
                    yield chunk
            except aiohttp.ClientError as exc:
                raise EngineUnreachable(self.url, f"export broke: {exc}") from exc

    async def import_volume(self, name: str, data: bytes, create: bool = False) -> dict[str, Any]:
        """Berth's own: extract a tar into the volume (created first with `create`)."""
        return _object(
            await self._json(
                "PUT",
                f"berth/v1/volumes/{name}/import",
                params={"create": True} if create else None,
                data=data,
                headers={"Content-Type": "application/x-tar"},
                versioned=False,
                timeout=_STREAM_TIMEOUT,  # a big tar takes as long as it takes
            )
        )

    async def clone_volume(self, name: str, new_name: str) -> dict[str, Any]:
        """Berth's own: a new local volume with a copy of `name`'s files."""
        return _object(
            await self._json("POST", f"berth/v1/volumes/{name}/clone", params={"name": new_name}, versioned=False,
                             timeout=_STREAM_TIMEOUT)
        )

    # -- networks ----------------------------------------------------------------------------

    async def networks(self) -> list[dict[str, Any]]:
        result = await self._json("GET", "networks")
        return list(result) if isinstance(result, list) else []

    async def inspect_network(self, id: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"networks/{id}"))

    async def create_network(
        self, name: str, driver: str = "bridge", *, internal: bool = False, subnet: str | None = None
    ) -> str:
        body: dict[str, Any] = {"Name": name, "Driver": driver, "Internal": internal}
        if subnet:
            body["IPAM"] = {"Config": [{"Subnet": subnet}]}
        result = await self._json("POST", "networks/create", body=body)
        return str(result.get("Id", ""))

    async def remove_network(self, id: str) -> None:
        await self._call("DELETE", f"networks/{id}")

    # -- events ------------------------------------------------------------------------------

    async def events(
        self, filters: Mapping[str, list[str]] | None = None, since: int | None = None
    ) -> AsyncGenerator[dict[str, Any]]:
        """The engine's `/events` stream, one dict per event (Type, Action, Actor, time, ...).

        Raises `EngineClientError` (e.g. 404/501) at the first iteration if the engine has no events,
        and `EngineUnreachable` if the stream breaks. Leaving early: wrap in `contextlib.aclosing`.
        """
        async with self.open_events(filters, since) as stream:
            async for event in stream:
                yield event

    @asynccontextmanager
    async def open_events(
        self, filters: Mapping[str, list[str]] | None = None, since: int | None = None
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Subscribe to `/events`; entered once the engine has accepted the subscription.

        Unlike `events()`, a caller learns that the stream is up before the first event arrives,
        so it can list the current state knowing no later change will be missed.
        """
        params: dict[str, Any] = {}
        if filters:
            params["filters"] = json.dumps(dict(filters))
        if since is not None:
            params["since"] = str(since)
        async with self._stream("GET", "events", params=params) as response:
            stream = self._decode_events(response)
            try:
                yield stream
            finally:
                await stream.aclose()

    async def _decode_events(self, response: aiohttp.ClientResponse) -> AsyncGenerator[dict[str, Any]]:
        decoder = JSONStreamDecoder()
        try:
            async for data in response.content.iter_any():
                for event in decoder.feed(data):
                    yield event
        except aiohttp.ClientError as exc:
            raise EngineUnreachable(self.url, f"event stream broke: {exc}") from exc

    # -- any endpoint --------------------------------------------------------------------------
    # For the `berth` CLI's long tail of verbs (rename, update, prune, connect, ...): one public door
    # to an endpoint with no method of its own, with this client's negotiation and error mapping.

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        long: bool = False,
    ) -> Any:
        """The decoded JSON answer of `method path` ({} for an empty one); `long` lifts the time limit."""
        return await self._json(method, path, params=params, body=body, data=data, headers=headers,
                                timeout=_STREAM_TIMEOUT if long else _CALL_TIMEOUT)

    async def request_bytes(
        self, method: str, path: str, *, params: Params | None = None, data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[bytes]:
        """The raw answer of `method path` as it streams (tars, multiplexed logs)."""
        async with self._stream(method, path, params=params, data=data, headers=headers) as response:
            try:
                async for chunk in response.content.iter_any():
                    yield chunk
            except aiohttp.ClientError as exc:
                raise EngineUnreachable(self.url, f"stream broke: {exc}") from exc

    async def request_lines(
        self, method: str, path: str, *, params: Params | None = None, data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[dict[str, Any]]:
        """A progress stream's JSON objects (load, push, pull with auth); an `error` object raises."""
        async for item in self._progress(method, path, params=params, data=data, headers=headers):
            yield item

    async def stream_output(
        self, id: str, params: Params
    ) -> AsyncGenerator[LogChunk]:
        """`/containers/{id}/logs` with any of its parameters (since, until, ...), decoded."""
        async with self._stream("GET", f"containers/{id}/logs", params=params) as response:
            decoder = FrameDecoder(raw=await self._is_raw_stream(id, response))
            try:
                async for data in response.content.iter_any():
                    for chunk in decoder.feed(data):
                        yield chunk
            except aiohttp.ClientError as exc:
                raise EngineUnreachable(self.url, f"log stream broke: {exc}") from exc

    # -- transport ---------------------------------------------------------------------------

    def _connection(self) -> aiodocker.Docker:
        if self._docker is None:
            # Created here, inside a coroutine, because aiohttp sessions belong to a running loop.
            try:
                connector, base = open_connector(self.url, self.tls)
            except ValueError as exc:  # TLSSetupError is one
                raise EngineUnreachable(self.url, str(exc)) from exc
            self._connector = connector
            self._docker = aiodocker.Docker(url=base, connector=connector, timeout=_CALL_TIMEOUT)
        return self._docker

    async def _negotiate(self) -> None:
        if self._api_version is not None:
            return
        async with self._negotiating:
            if self._negotiated():
                return
            version = await self.version()
            theirs = str(version.get("ApiVersion", CLIENT_API_VERSION))
            ours = CLIENT_API_VERSION
            self._api_version = min(theirs, ours, key=_version_tuple)
            self._connection().api_version = f"v{self._api_version}"

    def _negotiated(self) -> bool:
        # Another task may have negotiated while this one waited for the lock.
        return self._api_version is not None

    @asynccontextmanager
    async def _stream(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        versioned: bool = True,
        timeout: aiohttp.ClientTimeout = _STREAM_TIMEOUT,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        if versioned:
            await self._negotiate()
        docker = self._connection()
        if body is not None:
            data = json.dumps(body)
        self._active += 1
        self._idle.clear()
        try:
            async with docker._query(
                path,
                method,
                params=_query_params(params),
                data=data,
                headers=headers,
                timeout=timeout,
                versioned_api=versioned,
            ) as response:
                # aiodocker leaves finalizing the response to its caller.
                try:
                    yield response
                finally:
                    if response.content.at_eof():
                        response.release()
                    else:
                        # Left early (a stream nobody reads any more): drop the connection.
                        response.close()
        except DockerError as exc:
            raise self._translate(exc) from exc
        except TimeoutError as exc:
            # Before OSError: TimeoutError is one.
            raise EngineUnreachable(self.url, "no answer in time") from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise EngineUnreachable(self.url, str(exc) or type(exc).__name__) from exc
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        versioned: bool = True,
        timeout: aiohttp.ClientTimeout = _CALL_TIMEOUT,
    ) -> Any:
        async with self._stream(
            method, path, params=params, body=body, data=data, headers=headers, versioned=versioned, timeout=timeout
        ) as response:
            try:
                text = await response.text()
            except aiohttp.ClientError as exc:
                raise EngineUnreachable(self.url, str(exc)) from exc
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except ValueError as exc:
            raise EngineClientError(response.status, f"the engine sent something that is not JSON: {exc}") from exc

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        timeout: aiohttp.ClientTimeout = _CALL_TIMEOUT,
    ) -> None:
        async with self._stream(method, path, params=params, body=body, timeout=timeout) as response:
            await response.read()

    async def _progress(self, method: str, path: str, **kwargs: Any) -> AsyncGenerator[dict[str, Any]]:
        """A progress stream (pull, push, import, build): its JSON objects, an `error` one raised.
        The request is closed on the way out, so a failure ends it at once instead of at collection."""
        lines = self._json_lines(method, path, **kwargs)
        async with contextlib.aclosing(lines):
            async for item in lines:
                _raise_progress_error(item)
                yield item

    async def _json_lines(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        versioned: bool = True,
    ) -> AsyncGenerator[dict[str, Any]]:
        """A streamed answer of JSON objects (progress, stats), decoded as they arrive."""
        async with self._stream(
            method, path, params=params, body=body, data=data, headers=headers, versioned=versioned
        ) as response:
            decoder = JSONStreamDecoder()
            try:
                async for chunk in response.content.iter_any():
                    for item in decoder.feed(chunk):
                        yield item
            except aiohttp.ClientError as exc:
                raise EngineUnreachable(self.url, f"stream broke: {exc}") from exc

    async def _is_raw_stream(self, id: str, response: aiohttp.ClientResponse) -> bool:
        content_type = response.headers.get("Content-Type", "")
        if "raw-stream" in content_type:
            return True
        if "multiplexed-stream" in content_type:
            return False
        # Engines older than API 1.42 do not say: a TTY container's output is raw.
        inspected = await self.inspect_container(id)
        return bool(inspected.get("Config", {}).get("Tty", False))

    def _translate(self, exc: DockerError) -> Exception:
        if exc.status == _AIODOCKER_CONNECT_FAILED:
            # aiodocker raised this while handling aiohttp's error: its OS error says it best.
            cause = exc.__context__
            if isinstance(cause, aiohttp.ClientConnectorError) and cause.os_error.strerror:
                return EngineUnreachable(self.url, cause.os_error.strerror.lower())
            return EngineUnreachable(self.url, str(exc.message))
        return EngineClientError(exc.status, _error_message(str(exc.message)))


def build_output(item: Mapping[str, Any]) -> str:
    """What `docker build` (classic) prints of one line of a build's answer: step output as it is;
    a FROM image being pulled as status lines, its byte counts left out; nothing for `aux`."""
    stream = item.get("stream")
    if isinstance(stream, str):
        return stream
    status = item.get("status")
    if isinstance(status, str) and status and not item.get("progressDetail"):
        return f"{item['id']}: {status}\n" if item.get("id") else f"{status}\n"
    return ""


def _raise_progress_error(item: Mapping[str, Any]) -> None:
    # Streams answer 200 first; a failure later comes as {"error": ..., "errorDetail": {...}}.
    if item.get("error"):
        detail = item.get("errorDetail") or {}
        code = detail.get("code") if isinstance(detail, Mapping) else None
        raise EngineClientError(int(code) if isinstance(code, int) else 500, str(item["error"]))


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EngineClientError(200, f"the engine sent {type(value).__name__} where an object was expected")
    return value


def _query_params(params: Params | None) -> dict[str, str] | None:
    # The API wants booleans as 1/0 (dockerd also accepts true/false; some engines only 1/0).
    if not params:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            out[key] = "1" if value else "0"
        else:
            out[key] = str(value)
    return out


def describe_version(version: Mapping[str, Any]) -> str:
    """A person's name for the engine behind a `/version` answer."""
    platform = version.get("Platform")
    name = ""
    if isinstance(platform, Mapping):
        name = str(platform.get("Name", "")).strip()
    if not name:
        components = version.get("Components")
        if isinstance(components, list):
            for component in components:
                if isinstance(component, Mapping) and component.get("Name"):
                    label = str(component["Name"])
                    name = "Docker Engine" if label == "Engine" else label
                    break
    name = name or "Docker Engine"
    number = str(version.get("Version", "")).strip()
    # Platform names like "Docker Engine - Community" don't carry the version; "Berth 0.1.0" might.
    if number and number not in name:
        return f"{name} {number}"
    return name
