"""`berth` container verbs: create/run, start/stop/..., logs, exec, cp, top, port, diff, export, stats.

Flags, defaults, exit codes and columns follow the docker CLI; every request goes through
`engine.client.EngineClient`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from app.cli_format import output, table
from app.display import command_text, container_name, human_ago, human_size, ports_text, short_id
from engine.client.errors import EngineClientError
from engine.client.references import parse_reference

if TYPE_CHECKING:
    from engine.client import EngineClient

# docker's convention: 125 when the engine refused to run the container, 126 when the command
# could not be run, 127 when it was not found; otherwise the container's own exit code.
EXIT_RUN_FAILED = 125

PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED",
              "CreatedAt": "CREATED AT", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES",
              "State": "STATE", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS", "Size": "SIZE"}
PS_DEFAULT = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]


def ps_row(item: Mapping[str, Any], truncate: bool = True) -> dict[str, str | None]:
    """What docker's ps template sees of one `/containers/json` entry."""
    import time

    labels = item.get("Labels") or {}
    networks = (item.get("NetworkSettings") or {}).get("Networks") or {}
    created = float(item.get("Created", 0))
    id = str(item.get("Id", ""))
    return {
        "Command": command_text(item) if truncate else json.dumps(
            " ".join(filter(None, [str(item.get("Command", ""))]))),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created)),
        "ID": short_id(id) if truncate else id,
        "Image": str(item.get("Image", "")),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "LocalVolumes": str(sum(1 for m in item.get("Mounts") or [] if m.get("Driver") == "local")),
        "Mounts": ",".join(str(m.get("Name") or m.get("Source", "")) for m in item.get("Mounts") or []),
        "Names": container_name(item),
        "Networks": ",".join(sorted(networks)),
        "Platform": None,  # docker's ps --format json has it, always null for local containers
        "Ports": ports_text(item.get("Ports")),
        "RunningFor": human_ago(created),
        "Size": human_size(float(item.get("SizeRw", 0) or 0)),
        "State": str(item.get("State", "")),
        "Status": str(item.get("Status", "")),
    }


def filters_of(pairs: list[str]) -> dict[str, list[str]]:
    """`-f key=value` flags as the API's filters object."""
    result: dict[str, list[str]] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        result.setdefault(key, []).append(value)
    return result


def print_ps(items: list[dict[str, Any]], args: argparse.Namespace, out: TextIO) -> int:
    items.sort(key=lambda item: int(item.get("Created", 0)), reverse=True)
    if getattr(args, "last", None) is not None and args.last >= 0:
        items = items[: args.last]
    if getattr(args, "latest", False):
        items = items[:1]
    rows = [ps_row(item, truncate=not args.no_trunc) for item in items]
    text = output(args.format, rows, PS_DEFAULT, PS_HEADERS, quiet_field="ID", quiet=args.quiet)
    if text:
        print(text, file=out)
    return 0


def ps_params(args: argparse.Namespace) -> dict[str, str]:
    params = {"all": "1" if (args.all or args.last is not None or args.latest) else "0"}
    if args.filter:
        params["filters"] = json.dumps(filters_of(args.filter))
    if args.size:
        params["size"] = "1"
    return params


# -- create / run -------------------------------------------------------------------------------

def _port_bindings(specs: list[str]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        spec, _, proto = spec.partition("/")
        parts = spec.rsplit(":", 2) if spec.count(":") <= 2 else [spec]
        host_ip, host_port, container_port = "", "", parts[-1]
        if len(parts) == 2:
            host_port = parts[0]
        elif len(parts) == 3:
            host_ip, host_port = parts[0].strip("[]"), parts[1]
        if not container_port.isdigit():
            raise ValueError(f'invalid containerPort: {container_port}')
        key = f"{container_port}/{proto or 'tcp'}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": host_port})
    return exposed, bindings


def _mount(spec: str) -> dict[str, Any]:
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        fields[key.strip()] = value if sep else "true"
    mount: dict[str, Any] = {"Type": fields.get("type", "volume")}
    source = fields.get("source") or fields.get("src")
    target = fields.get("target") or fields.get("destination") or fields.get("dst")
    if not target:
        raise ValueError("invalid argument for --mount: target is required (e.g. type=bind,source=/data,target=/data)")
    if source:
        mount["Source"] = os.path.abspath(source) if mount["Type"] == "bind" else source
    mount["Target"] = target
    if fields.get("readonly", fields.get("ro", "false")) in ("true", "1", ""):
        mount["ReadOnly"] = True
    return mount


def _bind(spec: str) -> str:
    # As the docker CLI (23+): a relative host path is taken from here, not sent as a volume name.
    source, _, rest = spec.partition(":")
    if source.startswith((".", "~")):
        source = os.path.abspath(os.path.expanduser(source))
    return f"{source}:{rest}"


def _env(args: argparse.Namespace) -> list[str]:
    env: list[str] = []
    for path in args.env_file:
        for line in Path(path).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                env.append(line if "=" in line else f"{line}={os.environ.get(line, '')}")
    for item in args.env:
        if "=" in item:
            env.append(item)
        elif item in os.environ:
            env.append(f"{item}={os.environ[item]}")
    return env


def _restart(value: str) -> dict[str, Any]:
    name, _, count = value.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise ValueError(f"invalid restart policy {value!r}: use no, always, on-failure[:N] or unless-stopped")
    policy: dict[str, Any] = {"Name": "" if name == "no" else name}
    if count:
        policy["MaximumRetryCount"] = int(count)
    return policy


def container_config(args: argparse.Namespace) -> dict[str, Any]:
    """The create body of `docker create/run` flags; ValueError says which flag is wrong."""
    exposed, bindings = _port_bindings(args.publish)
    for port in args.expose:
        exposed[port if "/" in port else f"{port}/tcp"] = {}
    labels = dict(item.partition("=")[::2] for item in args.label)
    host: dict[str, Any] = {
        "Binds": [_bind(b) for b in args.volume if ":" in b] or None,
        "Mounts": [_mount(m) for m in args.mount] or None,
        "PortBindings": bindings or None,
        "PublishAllPorts": args.publish_all,
        # Attached, `run` removes the container itself after reading its exit code (an AutoRemove
        # could win the race with the wait and lose the code); detached, the engine does it.
        "AutoRemove": args.rm and getattr(args, "detach", False),
        "RestartPolicy": _restart(args.restart),
        "Privileged": args.privileged,
        "Init": args.init or None,
    }
    if args.network:
        host["NetworkMode"] = args.network
    if args.memory:
        host["Memory"] = _bytes(args.memory)
    if args.cpus:
        host["NanoCpus"] = int(float(args.cpus) * 1e9)
    volumes: dict[str, Any] = {v: {} for v in args.volume if ":" not in v}  # an anonymous volume
    config: dict[str, Any] = {
        "Image": args.image,
        "Cmd": list(args.cmd) or None,
        "Env": _env(args) or None,
        "Labels": labels or None,
        "ExposedPorts": exposed or None,
        "Volumes": volumes or None,
        "WorkingDir": args.workdir or "",
        "User": args.user or "",
        "Hostname": args.hostname or "",
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": args.interactive,
        "AttachStdin": args.interactive,
        "AttachStdout": not getattr(args, "detach", False),
        "AttachStderr": not getattr(args, "detach", False),
        "HostConfig": {k: v for k, v in host.items() if v is not None},
    }
    if args.entrypoint is not None:
        config["Entrypoint"] = [args.entrypoint] if args.entrypoint else [""]
    if args.health_cmd:
        config["Healthcheck"] = {"Test": ["CMD-SHELL", args.health_cmd],
                                 "Interval": _nanos(args.health_interval), "Timeout": _nanos(args.health_timeout),
                                 "StartPeriod": _nanos(args.health_start_period),
                                 "Retries": args.health_retries or 0}
    elif args.no_healthcheck:
        config["Healthcheck"] = {"Test": ["NONE"]}
    return {k: v for k, v in config.items() if v is not None}


def _bytes(text: str) -> int:
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    unit = text[-1].lower()
    return int(float(text[:-1]) * units[unit]) if unit in units else int(text)


def _nanos(text: str | None) -> int:
    if not text:
        return 0
    units = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * units[suffix])
    return int(float(text) * 10**9)


async def create(engine: EngineClient, args: argparse.Namespace, err: TextIO) -> str:
    """Create the container, pulling its image first if the engine lacks it (as docker does)."""
    from app.cli_images import pull_with_progress

    config = container_config(args)
    if args.pull == "always":
        await pull_with_progress(engine, args.image, err, args.platform)
    try:
        result = await engine.create(config, name=args.name, platform=args.platform)
    except EngineClientError as exc:
        if not exc.not_found or "image" not in exc.message.lower() or args.pull == "never":
            raise
        ref = parse_reference(args.image)
        image = args.image if ref.tag or ref.digest else f"{args.image}:latest"
        print(f"Unable to find image '{image}' locally", file=err)
        await pull_with_progress(engine, image, err, args.platform)
        result = await engine.create(config, name=args.name, platform=args.platform)
    for warning in result.get("Warnings") or []:
        print(f"WARNING: {warning}", file=err)
    return str(result["Id"])


def run_exit_code(exc: EngineClientError) -> int:
    text = exc.message.lower()
    if "not found" in text and ("executable" in text or "no such file" in text):
        return 127
    if "permission denied" in text:
        return 126
    return EXIT_RUN_FAILED


async def cmd_create(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    print(await create(engine, args, err), file=out)
    return 0


async def cmd_run(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:

    try:
        id = await create(engine, args, err)
    except EngineClientError as exc:
        print(f"berth: Error response from daemon: {exc.message}\n\nRun 'berth run --help' for more information",
              file=err)
        return EXIT_RUN_FAILED
    attach = None
    if not args.detach and (args.interactive or args.tty):
        attach = await engine.attach(id, tty=args.tty, stdin=args.interactive)
    try:
        await engine.start(id)
    except EngineClientError as exc:
        print(f"berth: Error response from daemon: {exc.message}\n\nRun 'berth run --help' for more information",
              file=err)
        if args.rm:
            await _quiet_remove(engine, id)
        return run_exit_code(exc)
    if args.detach:
        print(id, file=out)
        return 0
    try:
        if attach is not None:
            from app.cli_tty import pump

            if await pump(engine, attach, args.interactive, args.tty, f"containers/{id}/resize", args.detach_keys):
                args.rm = False  # detached: it runs on, as after docker's ctrl-p ctrl-q
                return 0
        else:
            async for chunk in engine.stream_output(id, {"stdout": True, "stderr": True, "follow": True}):
                stream = err if chunk.stream == "stderr" else out
                stream.write(chunk.text)
                stream.flush()
        return await _wait(engine, id)
    finally:
        if args.rm:
            await _quiet_remove(engine, id)


async def _wait(engine: EngineClient, id: str) -> int:
    try:
        # next-exit: a container that exits before this call is seen is still waited for.
        result = await engine.request("POST", f"containers/{id}/wait", long=True)
        return int(result.get("StatusCode", 0))
    except EngineClientError:
        # Removed by AutoRemove before the wait was set up: its code went with it.
        return 0


async def _quiet_remove(engine: EngineClient, id: str) -> None:
    with contextlib.suppress(EngineClientError):
        await engine.remove(id, force=True)


# -- lifecycle verbs on many containers ---------------------------------------------------------

async def each(names: list[str], action: Any, out: TextIO, err: TextIO, echo: bool = True,
               missing_ok: bool = False) -> int:
    """docker's many-container verbs: each name in turn, errors printed, exit 1 if any failed
    (`missing_ok`: a name that does not exist is said but is no failure, as with docker rm -f)."""
    code = 0
    for name in names:
        try:
            result = await action(name)
        except EngineClientError as exc:
            print(f"Error response from daemon: {exc.message}", file=err)
            if not (missing_ok and exc.not_found):
                code = 1
            continue
        if echo:
            print(result if isinstance(result, str) else name, file=out)
    return code


async def cmd_lifecycle(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    verb = args.command
    if verb == "start":
        if args.attach and len(args.containers) == 1:
            await engine.start(args.containers[0])
            async for chunk in engine.stream_output(args.containers[0], {"stdout": True, "stderr": True,
                                                                          "follow": True, "since": "0"}):
                (err if chunk.stream == "stderr" else out).write(chunk.text)
            return await _wait(engine, args.containers[0])
        return await each(args.containers, engine.start, out, err)
    if verb in ("stop", "restart"):
        method = engine.stop if verb == "stop" else engine.restart
        return await each(args.containers, lambda n: method(n, args.time), out, err)
    if verb == "kill":
        return await each(args.containers, lambda n: engine.kill(n, args.signal), out, err)
    if verb == "pause":
        return await each(args.containers, engine.pause, out, err)
    if verb == "unpause":
        return await each(args.containers, engine.unpause, out, err)
    if verb == "rm":
        params = {"force": args.force, "v": args.volumes, "link": args.link}
        return await each(args.containers, lambda n: engine.request("DELETE", f"containers/{n}", params=params),
                          out, err, missing_ok=args.force)
    if verb == "wait":
        async def wait(name: str) -> str:
            result = await engine.request("POST", f"containers/{name}/wait", long=True)
            return str(result.get("StatusCode", 0))

        return await each(args.containers, wait, out, err)
    raise AssertionError(verb)


async def cmd_attach(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`docker attach`: this terminal joined to a running container's stdio; its exit code after."""
    from app.cli_tty import pump

    inspected = await engine.inspect_container(args.container)
    state = inspected.get("State") or {}
    if not state.get("Running"):
        print("You cannot attach to a stopped container, start it first", file=err)
        return 1
    tty = bool((inspected.get("Config") or {}).get("Tty"))
    stdin = not args.no_stdin and bool((inspected.get("Config") or {}).get("OpenStdin"))
    id = str(inspected.get("Id", args.container))
    stream = await engine.attach(id, tty=tty, stdin=stdin)
    if await pump(engine, stream, stdin, tty, f"containers/{id}/resize", args.detach_keys):
        return 0
    return await _wait(engine, id)


async def cmd_rename(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    await engine.request("POST", f"containers/{args.container}/rename", params={"name": args.new_name})
    return 0


async def cmd_update(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    body: dict[str, Any] = {}
    if args.restart:
        body["RestartPolicy"] = _restart(args.restart)
    if args.memory:
        body["Memory"] = _bytes(args.memory)
    if args.cpus:
        body["NanoCpus"] = int(float(args.cpus) * 1e9)
    return await each(args.containers, lambda n: engine.request("POST", f"containers/{n}/update", body=body),
                      out, err)


# -- output and inspection ----------------------------------------------------------------------

async def cmd_logs(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    params: dict[str, Any] = {"stdout": True, "stderr": True, "follow": args.follow, "timestamps": args.timestamps,
                              "tail": args.tail}
    if args.since:
        params["since"] = _timestamp(args.since)
    if args.until:
        params["until"] = _timestamp(args.until)
    async for chunk in engine.stream_output(args.container, params):
        stream = err if chunk.stream == "stderr" else out
        stream.write(chunk.text)
        stream.flush()
    return 0


def _timestamp(text: str) -> str:
    """docker's --since/--until: a Unix time, an RFC 3339 date, or a duration before now (10m)."""
    import time
    from datetime import datetime

    try:
        float(text)
        return text
    except ValueError:
        pass
    if text[-1] in "smh" and text[:-1].replace(".", "").isdigit():
        return str(int(time.time() - _nanos(text) / 1e9))
    return str(int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()))


async def cmd_exec(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    env = list(args.env)
    body: dict[str, Any] = {"Cmd": [args.cmd, *args.args], "Tty": args.tty, "AttachStdin": args.interactive,
                            "AttachStdout": not args.detach, "AttachStderr": not args.detach, "Env": env or None,
                            "User": args.user or "", "WorkingDir": args.workdir or "", "Privileged": args.privileged}
    exec_id = str((await engine.request("POST", f"containers/{args.container}/exec", body=body))["Id"])
    if args.detach:
        await engine.request("POST", f"exec/{exec_id}/start", body={"Detach": True, "Tty": args.tty})
        return 0
    from app.cli_tty import pump

    stream = await engine.exec_start(exec_id, tty=args.tty)
    if await pump(engine, stream, args.interactive, args.tty, f"exec/{exec_id}/resize", args.detach_keys):
        return 0
    inspected = await engine.exec_inspect(exec_id)
    code = inspected.get("ExitCode")
    return int(code) if isinstance(code, int) else 0


async def cmd_inspect(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`docker inspect`: containers, then images, volumes, networks, by name (or --type)."""
    from app.cli_format import render

    kinds = [args.type] if args.type else ["container", "image", "volume", "network"]
    paths = {"container": "containers/{}/json", "image": "images/{}/json", "volume": "volumes/{}",
             "network": "networks/{}"}
    found: list[Any] = []
    code = 0
    for name in args.names:
        for kind in kinds:
            try:
                params = {"size": "1"} if kind == "container" and args.size else None
                found.append(await engine.request("GET", paths[kind].format(name), params=params))
                break
            except EngineClientError as exc:
                if not exc.not_found:
                    raise
        else:
            print(f"Error: No such object: {name}", file=err)
            code = 1
    if args.format:
        for item in found:
            print(render(args.format, item), file=out)
    else:
        print(json.dumps(found, indent=4), file=out)
    return code


async def cmd_top(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    params = {"ps_args": " ".join(args.ps_args)} if args.ps_args else None
    result = await engine.request("GET", f"containers/{args.container}/top", params=params)
    print(table(result.get("Titles") or [], result.get("Processes") or [], minwidth=20), file=out)
    return 0


async def cmd_port(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    inspected = await engine.inspect_container(args.container)
    ports = (inspected.get("NetworkSettings") or {}).get("Ports") or {}
    wanted = args.port
    if wanted and "/" not in wanted:
        wanted += "/tcp"
    lines = []
    for key, bindings in sorted(ports.items()):
        for binding in bindings or []:
            address = f"{binding.get('HostIp') or '0.0.0.0'}:{binding.get('HostPort')}"
            if ":" in (binding.get("HostIp") or ""):
                address = f"[{binding['HostIp']}]:{binding.get('HostPort')}"
            lines.append(address if wanted else f"{key} -> {address}")
        if wanted and key == wanted:
            break
    if wanted and not ports.get(wanted):
        print(f"Error: No public port '{args.port}' published for {args.container}", file=err)
        return 1
    if wanted:
        lines = [f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}" for b in ports.get(wanted) or []]
    if lines:
        print("\n".join(lines), file=out)
    return 0


async def cmd_diff(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    changes = await engine.request("GET", f"containers/{args.container}/changes")
    for change in changes or []:
        print(f"{'CAD'[int(change.get('Kind', 0))]} {change.get('Path', '')}", file=out)
    return 0


def binary_out(path: str | None) -> BinaryIO:
    if path and path != "-":
        return open(path, "wb")
    if sys.stdout.isatty():
        raise ValueError("cowardly refusing to write a tar to the terminal: use -o FILE or redirect the output")
    return sys.stdout.buffer


async def cmd_export(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    sink = binary_out(args.output)
    try:
        async for chunk in engine.request_bytes("GET", f"containers/{args.container}/export"):
            sink.write(chunk)
    finally:
        sink.flush()
        if sink is not sys.stdout.buffer:
            sink.close()
    return 0


async def cmd_cp(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import io
    import tarfile

    source, dest = args.source, args.dest
    if ":" in source and not source.startswith(("/", ".")):
        container, _, path = source.partition(":")
        data = b"".join([c async for c in engine.request_bytes("GET", f"containers/{container}/archive",
                                                                  params={"path": path})])
        if dest == "-":
            sys.stdout.buffer.write(data)
            return 0
        target = Path(dest)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = tar.getmembers()
            root = members[0].name.split("/")[0] if members else ""
            if target.is_dir():
                tar.extractall(target, filter="tar")
            else:
                # Copy to a new name: the archive's top entry becomes `dest`.
                for member in members:
                    member.name = str(Path(target.name, *Path(member.name).parts[1:])) if root else member.name
                tar.extractall(target.parent, members=members, filter="tar")
        return 0
    if ":" in dest:
        container, _, path = dest.partition(":")
        buffer = io.BytesIO()
        if source == "-":
            buffer.write(sys.stdin.buffer.read())
            target_dir = path
        else:
            local = Path(source)
            if not local.exists():
                print(f'lstat {local.absolute()}: no such file or directory', file=err)
                return 1
            target_dir, name = path, local.name
            try:
                stat = await engine.path_stat(container, path)
                is_dir = bool(int(stat.get("mode", 0)) & (1 << 31))
            except EngineClientError:
                is_dir = False
            if not is_dir and not path.endswith("/"):
                target_dir, name = os.path.dirname(path.rstrip("/")) or "/", os.path.basename(path.rstrip("/"))
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                tar.add(str(local), arcname=name)
        await engine.request("PUT", f"containers/{container}/archive", params={"path": target_dir},
                             data=buffer.getvalue(), headers={"Content-Type": "application/x-tar"})
        return 0
    print("berth: copying between containers or local paths is not supported; one side must be "
          "CONTAINER:PATH", file=err)
    return 1


STATS_HEADERS = {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
                 "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                 "PIDs": "PIDS"}
STATS_DEFAULT = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"]


def _stats_row(raw: Mapping[str, Any]) -> dict[str, str]:
    from engine.client import StatsSample

    sample = StatsSample.from_api(raw)

    def size(value: float) -> str:
        return human_size(value).replace("MB", "MiB").replace("kB", "KiB").replace("GB", "GiB")

    id = str(raw.get("id", ""))
    return {"ID": short_id(id), "Container": short_id(id), "Name": str(raw.get("name", "")).lstrip("/"),
            "CPUPerc": f"{sample.cpu_percent:.2f}%",
            "MemUsage": f"{size(sample.memory)} / {size(sample.memory_limit)}",
            "MemPerc": f"{sample.memory_percent:.2f}%",
            "NetIO": f"{human_size(sample.net_rx)} / {human_size(sample.net_tx)}",
            "BlockIO": f"{human_size(sample.block_read)} / "
                       f"{human_size(sample.block_write)}",
            "PIDs": str(sample.pids)}


async def cmd_stats(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import asyncio

    while True:
        names = args.containers or [str(c["Id"]) for c in await engine.containers(all=args.all)]
        samples = await asyncio.gather(*(engine.stats_once(n) for n in names))
        text = output(args.format, [_stats_row(s) for s in samples], STATS_DEFAULT, STATS_HEADERS)
        if not args.no_stream:
            out.write("\x1b[2J\x1b[H")
        print(text, file=out)
        out.flush()
        if args.no_stream:
            return 0
        await asyncio.sleep(1)
