"""A small in-memory engine speaking the slice of the Docker API the front end uses.

It runs an aiohttp server on a Unix socket in its own thread, so synchronous tests, `asyncio.run`
(the CLI) and the Qt loop (the desktop) can all talk to it. It models the API's shapes, not
containers: "start" flips a state, "logs" returns what the test gave it.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


@dataclass
class FakeContainer:
    id: str
    name: str
    image: str
    cmd: list[str]
    created: int
    state: str = "created"
    exit_code: int = 0
    output: list[tuple[int, bytes]] = field(default_factory=list)
    ports: list[dict[str, Any]] = field(default_factory=list)
    exited: asyncio.Event | None = None

    def listing(self) -> dict[str, Any]:
        if self.state == "running":
            status = "Up 2 minutes"
        elif self.state == "exited":
            status = f"Exited ({self.exit_code}) 1 second ago"
        else:
            status = "Created"
        return {
            "Id": self.id,
            "Names": [f"/{self.name}"],
            "Image": self.image,
            "ImageID": "sha256:" + "b" * 64,
            "Command": " ".join(self.cmd),
            "Created": self.created,
            "State": self.state,
            "Status": status,
            "Ports": self.ports,
            "Labels": {},
        }


class FakeEngine:
    def __init__(
        self,
        socket: Path,
        *,
        events: bool = True,
        version: dict[str, Any] | None = None,
    ) -> None:
        self.socket = socket
        self.url = f"unix://{socket}"
        self.events_enabled = events
        self.version_body = version or {
            "Platform": {"Name": "Fake Engine"},
            "Version": "9.9.9",
            "ApiVersion": "1.45",
            "MinAPIVersion": "1.24",
            "Os": "linux",
            "Arch": "amd64",
        }
        self.containers: dict[str, FakeContainer] = {}
        self.volumes: list[dict[str, Any]] = []  # what GET /volumes answers
        self.requests: list[str] = []
        self.exit_code_on_stop = 137
        # Images whose name starts with "missing" are absent until pulled; pulls succeed only for the
        # references in `registry` (as a registry that has them), others answer as dockerd does.
        self.registry: set[str] = set()
        self.pulled: set[str] = set()
        # Set by `run`, read by handlers: what a started container prints and how it exits.
        self.on_start: Callable[[FakeContainer], None] | None = None
        self._subscribers: list[asyncio.Queue[dict[str, Any] | None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle, called from the test's thread ---------------------------------------------

    def start(self) -> FakeEngine:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="fake-engine", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        self.call(self._shutdown)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self._loop = None

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` (sync, or returning an awaitable) in the server's loop and return its result."""
        assert self._loop is not None

        async def run() -> Any:
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(10)

    def add_container(self, name: str, image: str = "busybox:latest", state: str = "created") -> str:
        def add() -> str:
            container = self._new(name, image, ["sleep", "300"])
            container.state = state
            return container.id

        return str(self.call(add))

    def set_state(self, id: str, state: str, exit_code: int = 0) -> None:
        def change() -> None:
            container = self.containers[id]
            container.state = state
            container.exit_code = exit_code
            self._publish(container, "die" if state == "exited" else state)

        self.call(change)

    # -- server ---------------------------------------------------------------------------

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._record])
        routes = [
            ("GET", "/_ping", self._ping),
            ("GET", "/version", self._version),
            ("GET", "/info", self._info),
            ("GET", "/containers/json", self._list),
            ("POST", "/containers/create", self._create),
            ("GET", "/containers/{id}/json", self._inspect),
            ("POST", "/containers/{id}/start", self._start),
            ("POST", "/containers/{id}/stop", self._stop),
            ("POST", "/containers/{id}/wait", self._wait),
            ("GET", "/containers/{id}/logs", self._logs),
            ("DELETE", "/containers/{id}", self._delete),
            ("GET", "/images/json", self._images),
            ("GET", "/volumes", self._volumes),
            ("GET", "/networks", self._networks),
            ("POST", "/images/create", self._pull),
            ("POST", "/containers/prune", self._prune),
            ("GET", "/events", self._events),
        ]
        for method, path, handler in routes:
            # Versioned (/v1.45/...) and unversioned paths, as the API allows both.
            app.router.add_route(method, path, handler)
            app.router.add_route(method, "/{version:v[0-9.]+}" + path, handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(self.socket)).start()

    async def _shutdown(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(None)
        assert self._runner is not None
        await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        response: web.StreamResponse = await handler(request)
        return response

    def _new(self, name: str, image: str, cmd: list[str]) -> FakeContainer:
        container = FakeContainer(
            id=uuid.uuid4().hex + uuid.uuid4().hex,
            name=name,
            image=image,
            cmd=cmd,
            created=int(time.time()) - 120,
        )
        container.exited = asyncio.Event()
        self.containers[container.id] = container
        self._publish(container, "create")
        return container

    def _find(self, ref: str) -> FakeContainer:
        for container in self.containers.values():
            if container.id.startswith(ref) or container.name == ref:
                return container
        raise web.HTTPNotFound(
            text=json.dumps({"message": f"No such container: {ref}"}), content_type="application/json"
        )

    def _publish(self, container: FakeContainer, action: str) -> None:
        event = {
            "Type": "container",
            "Action": action,
            "Actor": {"ID": container.id, "Attributes": {"name": container.name, "image": container.image}},
            "time": int(time.time()),
            "timeNano": time.time_ns(),
        }
        for queue in self._subscribers:
            queue.put_nowait(event)

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="OK", headers={"Api-Version": "1.45"})

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response(self.version_body)

    async def _info(self, request: web.Request) -> web.Response:
        return web.json_response({"Containers": len(self.containers), "Name": "fake"})

    async def _list(self, request: web.Request) -> web.Response:
        show_all = request.query.get("all") in ("1", "true", "True")
        wanted: list[str] = json.loads(request.query.get("filters", "{}")).get("id", [])
        items = [
            c.listing()
            for c in self.containers.values()
            if (show_all or c.state == "running") and (not wanted or any(c.id.startswith(w) for w in wanted))
        ]
        return web.json_response(items)

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        name = request.query.get("name") or f"fake_{len(self.containers)}"
        if any(c.name == name for c in self.containers.values()):
            return web.json_response({"message": f"name {name} is already in use"}, status=409)
        image = _with_tag(str(body.get("Image", "")))
        if image.startswith("missing") and image not in self.pulled:
            return web.json_response({"message": f"No such image: {image}"}, status=404)
        cmd = body.get("Cmd") or ["sh"]
        container = self._new(name, body["Image"], list(cmd))
        return web.json_response({"Id": container.id, "Warnings": []}, status=201)

    async def _inspect(self, request: web.Request) -> web.Response:
        container = self._find(request.match_info["id"])
        return web.json_response(
            {
                "Id": container.id,
                "Name": f"/{container.name}",
                "Config": {"Tty": False, "Image": container.image, "Cmd": container.cmd},
                "State": {"Status": container.state, "ExitCode": container.exit_code},
            }
        )

    async def _start(self, request: web.Request) -> web.Response:
        container = self._find(request.match_info["id"])
        container.state = "running"
        self._publish(container, "start")
        if self.on_start is not None:
            self.on_start(container)
        return web.Response(status=204)

    async def _stop(self, request: web.Request) -> web.Response:
        container = self._find(request.match_info["id"])
        if container.state != "running":
            return web.Response(status=304)
        self.exit(container, self.exit_code_on_stop)
        return web.Response(status=204)

    def exit(self, container: FakeContainer, code: int) -> None:
        container.state = "exited"
        container.exit_code = code
        assert container.exited is not None
        container.exited.set()
        self._publish(container, "die")

    async def _wait(self, request: web.Request) -> web.Response:
        container = self._find(request.match_info["id"])
        assert container.exited is not None
        if container.state != "exited":
            await container.exited.wait()
        return web.json_response({"StatusCode": container.exit_code, "Error": None})

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        container = self._find(request.match_info["id"])
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.multiplexed-stream"})
        await response.prepare(request)
        for stream, data in container.output:
            # Split every frame in two writes: the client must reassemble frames across reads.
            frame = struct.pack(">BxxxL", stream, len(data)) + data
            await response.write(frame[:5])
            await response.write(frame[5:])
        await response.write_eof()
        return response

    async def _delete(self, request: web.Request) -> web.Response:
        container = self._find(request.match_info["id"])
        force = request.query.get("force") in ("1", "true", "True")
        if container.state == "running" and not force:
            return web.json_response(
                {"message": f"cannot remove container {container.name}: container is running"}, status=409
            )
        del self.containers[container.id]
        self._publish(container, "destroy")
        return web.Response(status=204)

    async def _volumes(self, request: web.Request) -> web.Response:
        # The desktop lists every kind, and a 404 would be a failure to say.
        return web.json_response({"Volumes": self.volumes, "Warnings": None})

    async def _networks(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def _images(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "Id": "sha256:" + "b" * 64,
                    "RepoTags": ["busybox:latest"],
                    "Created": int(time.time()) - 86400 * 3,
                    "Size": 1_234_567,
                    "Containers": -1,
                }
            ]
        )

    async def _prune(self, request: web.Request) -> web.Response:
        gone = [c for c in self.containers.values() if c.state in ("exited", "created")]
        for container in gone:
            del self.containers[container.id]
            self._publish(container, "destroy")
        return web.json_response({"ContainersDeleted": [c.id for c in gone] or None, "SpaceReclaimed": 0})

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        name = request.query.get("fromImage", "")
        tag = request.query.get("tag", "")
        # As dockerd: a `tag` that is a digest (the docker CLI's digest pull) names the content.
        reference = _with_tag(f"{name}{'@' if ':' in tag else ':'}{tag}" if tag else name)
        if reference not in self.registry:
            # dockerd's answer when the registry has no such repository: an error before any progress.
            return web.json_response({"message": f"pull access denied for {name}, repository does not exist or "
                                                 "may require 'docker login'"}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        tag = reference.rpartition(":")[2]
        for item in (
            {"status": f"Pulling from library/{name}", "id": tag},
            {"status": "Pulling fs layer", "id": "aaaaaaaaaaaa"},
            {"status": "Downloading", "id": "aaaaaaaaaaaa", "progressDetail": {"current": 1, "total": 2},
             "progress": "[=========================>                         ]       1B/2B"},
            {"status": "Download complete", "id": "aaaaaaaaaaaa", "progressDetail": {}},
            {"status": "Pull complete", "id": "aaaaaaaaaaaa", "progressDetail": {}},
            {"status": "Digest: sha256:" + "c" * 64},
            {"status": f"Status: Downloaded newer image for {reference}"},
        ):
            await response.write(json.dumps(item).encode() + b"\r\n")
        self.pulled.add(reference)
        await response.write_eof()
        return response

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self.events_enabled:
            return web.json_response({"message": "events are not implemented"}, status=501)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._subscribers.append(queue)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            while (event := await queue.get()) is not None:
                await response.write(json.dumps(event).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._subscribers.remove(queue)
        return response


def _with_tag(reference: str) -> str:
    return reference if "@" in reference or ":" in reference.rpartition("/")[2] else f"{reference}:latest"


def short_socket_dir() -> Path:
    """A fresh directory with a short path: a Unix socket path must fit in 108 bytes."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="berth-fake-", dir="/tmp"))
