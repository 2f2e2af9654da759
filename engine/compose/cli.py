"""`berth compose ...` (and `python -m engine.compose ...`): docker compose's commands and flags."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import yaml

from engine.client.client import EngineClient
from engine.client.errors import EngineClientError, EngineUnreachable
from engine.compose import operations as ops
from engine.compose.errors import ComposeError
from engine.compose.loader import load_project
from engine.compose.model import Project
from engine.compose.results import ContainerState, Progress

# ANSI colours for service prefixes in merged logs, in the order services are met.
_COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
# Only steps that finish something are printed; the "...ing" ones would double every line.
_QUIET_ACTIONS = {"Creating", "Starting", "Stopping", "Removing", "Restarting", "Recreate"}
# Commands that can act on a project known only by its name (-p), without a compose file.
_BY_NAME = {"down", "ps", "logs", "start", "stop", "restart"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="berth compose", description="Define and run multi-container projects.")
    parser.add_argument("-f", "--file", action="append", default=[], help="compose file (repeatable)")
    parser.add_argument("-p", "--project-name", help="project name")
    parser.add_argument("--project-directory", help="working directory (default: the first file's)")
    parser.add_argument("--profile", action="append", default=[], help="enable a profile (repeatable)")
    parser.add_argument("--env-file", action="append", default=[], help="alternative .env file (repeatable)")
    parser.add_argument("-H", "--host", help="engine address (default: $DOCKER_HOST, then berthd's socket)")
    parser.add_argument("--ansi", choices=("never", "always", "auto"), default="auto")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="create and start containers")
    up.add_argument("-d", "--detach", action="store_true")
    up.add_argument("--build", action="store_true")
    up.add_argument("--no-build", action="store_true")
    up.add_argument("--pull", choices=("always", "missing", "never"), default="missing")
    up.add_argument("--force-recreate", action="store_true")
    up.add_argument("--no-recreate", action="store_true")
    up.add_argument("--no-deps", action="store_true")
    up.add_argument("--no-start", action="store_true")
    up.add_argument("--remove-orphans", action="store_true")
    up.add_argument("--scale", action="append", default=[], metavar="SERVICE=NUM")
    up.add_argument("-t", "--timeout", type=int)
    up.add_argument("--wait", action="store_true", help="wait until services are running or healthy")
    up.add_argument("--no-color", action="store_true")
    up.add_argument("--abort-on-container-exit", action="store_true",
                    help="stop every container as soon as one stops (attached only)")
    up.add_argument("--exit-code-from", metavar="SERVICE",
                    help="exit with that service's container's code (implies --abort-on-container-exit)")
    up.add_argument("services", nargs="*")

    down = sub.add_parser("down", help="stop and remove containers and networks")
    down.add_argument("-v", "--volumes", action="store_true")
    down.add_argument("--rmi", choices=("all", "local"))
    down.add_argument("--remove-orphans", action="store_true")
    down.add_argument("-t", "--timeout", type=int)

    ps = sub.add_parser("ps", help="list containers")
    ps.add_argument("-a", "--all", action="store_true")
    ps.add_argument("-q", "--quiet", action="store_true")
    ps.add_argument("--services", dest="list_services", action="store_true")
    ps.add_argument("--format", choices=("table", "json"), default="table")
    ps.add_argument("services", nargs="*")

    logs = sub.add_parser("logs", help="view output from containers")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--tail", default="all")
    logs.add_argument("-t", "--timestamps", action="store_true")
    logs.add_argument("--no-color", action="store_true")
    logs.add_argument("--no-log-prefix", action="store_true")
    logs.add_argument("services", nargs="*")

    for name, text in (("start", "start services"), ("stop", "stop services"), ("restart", "restart services")):
        cmd = sub.add_parser(name, help=text)
        if name != "start":
            cmd.add_argument("-t", "--timeout", type=int)
        cmd.add_argument("services", nargs="*")

    pull = sub.add_parser("pull", help="pull service images")
    pull.add_argument("--ignore-pull-failures", action="store_true")
    pull.add_argument("-q", "--quiet", action="store_true")
    pull.add_argument("services", nargs="*")

    build = sub.add_parser("build", help="build service images")
    build.add_argument("--no-cache", action="store_true")
    build.add_argument("--pull", action="store_true")
    build.add_argument("-q", "--quiet", action="store_true")
    build.add_argument("services", nargs="*")

    config = sub.add_parser("config", help="validate and show the resolved project")
    config.add_argument("-q", "--quiet", action="store_true")
    config.add_argument("--services", dest="list_services", action="store_true")
    config.add_argument("--volumes", dest="list_volumes", action="store_true")
    config.add_argument("--profiles", action="store_true")
    config.add_argument("--images", action="store_true")
    config.add_argument("--format", choices=("yaml", "json"), default="yaml")

    exe = sub.add_parser("exec", help="run a command in a running container")
    exe.add_argument("-d", "--detach", action="store_true")
    exe.add_argument("-e", "--env", action="append", default=[])
    exe.add_argument("-u", "--user")
    exe.add_argument("-w", "--workdir")
    exe.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    exe.add_argument("--index", type=int, default=1)
    exe.add_argument("--privileged", action="store_true")
    exe.add_argument("service")
    exe.add_argument("cmd", nargs=argparse.REMAINDER)

    run = sub.add_parser("run", help="run a one-off command on a service")
    run.add_argument("-d", "--detach", action="store_true")
    run.add_argument("--rm", action="store_true")
    run.add_argument("--name")
    run.add_argument("-e", "--env", action="append", default=[])
    run.add_argument("-l", "--label", action="append", default=[])
    run.add_argument("-u", "--user")
    run.add_argument("-w", "--workdir")
    run.add_argument("--entrypoint")
    run.add_argument("--no-deps", action="store_true")
    run.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    run.add_argument("--service-ports", action="store_true")
    run.add_argument("service")
    run.add_argument("cmd", nargs=argparse.REMAINDER)

    ls = sub.add_parser("ls", help="list projects")
    ls.add_argument("-a", "--all", action="store_true")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def main(argv: list[str], make_client: Callable[[str | None], EngineClient] = EngineClient) -> int:
    """`berth compose ...`; `make_client` makes the engine's client (Berth's CLI passes its own, which adapts
    create bodies to where the engine runs)."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_dispatch(args, make_client))
    except (ComposeError, EngineUnreachable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except EngineClientError as exc:  # the engine's own words, as docker compose prints them
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _project(args: argparse.Namespace) -> Project:
    wanted = list(getattr(args, "services", None) or [])
    if getattr(args, "service", None):
        wanted.append(args.service)
    try:
        project = load_project(args.file or None, project_name=args.project_name,
                               project_directory=args.project_directory, env_files=args.env_file or None,
                               profiles=args.profile or None, services=wanted or None)
    except ComposeError as exc:
        if args.project_name and not args.file and args.command in _BY_NAME and "no compose file" in str(exc):
            return Project(name=args.project_name, working_dir=Path.cwd(), config_files=[], services={})
        raise
    for warning in project.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return project


def _progress(progress: Progress) -> None:
    if progress.action in _QUIET_ACTIONS:
        return
    if progress.action == "Building" and progress.detail:
        print(progress.detail, file=sys.stderr)
        return
    print(f" {progress}", file=sys.stderr, flush=True)


def _colour(args: argparse.Namespace) -> bool:
    if getattr(args, "no_color", False) or args.ansi == "never" or os.environ.get("NO_COLOR"):
        return False
    return args.ansi == "always" or sys.stdout.isatty()


def _env_pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if eq:
            out[key] = value
        elif key in os.environ:
            out[key] = os.environ[key]
    return out


async def _dispatch(args: argparse.Namespace, make_client: Callable[[str | None], EngineClient]) -> int:
    if args.command == "config":
        return _config(args, _project(args))
    async with make_client(args.host) as engine:
        if args.command == "ls":
            return await _ls(engine, args)
        project = _project(args)
        handler: Callable[[EngineClient, Project, argparse.Namespace], Coroutine[Any, Any, int]] = {
            "up": _up, "down": _down, "ps": _ps, "logs": _logs, "start": _start, "stop": _stop,
            "restart": _restart, "pull": _pull, "build": _build, "exec": _exec, "run": _run,
        }[args.command]
        return await handler(engine, project, args)


def _config(args: argparse.Namespace, project: Project) -> int:
    if args.quiet:
        return 0
    if args.list_services:
        print("\n".join(project.services))
    elif args.list_volumes:
        print("\n".join(project.volumes))
    elif args.profiles:
        print("\n".join(sorted({p for s in (*project.services.values(), *project.disabled.values())
                                for p in s.profiles})))
    elif args.images:
        print("\n".join(s.image for s in project.services.values()))
    elif args.format == "json":
        print(json.dumps(project.to_dict(), indent=2))
    else:
        print(yaml.safe_dump(project.to_dict(), sort_keys=False, default_flow_style=False), end="")
    return 0


def _scale(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, eq, count = item.partition("=")
        if not eq or not count.isdigit():
            raise ComposeError(f"--scale takes SERVICE=NUM, not {item!r}")
        out[name] = int(count)
    return out


async def _up(engine: EngineClient, project: Project, args: argparse.Namespace) -> int:
    abort = bool(args.abort_on_container_exit or args.exit_code_from)
    if abort and (args.detach or args.no_start):
        raise ComposeError("--abort-on-container-exit and --exit-code-from watch the containers: "
                           "they cannot be combined with -d or --no-start")
    if args.exit_code_from:
        project.service(args.exit_code_from)  # an unknown service is refused before anything starts
    started = await ops.up(engine, project, args.services or None, build=args.build, no_build=args.no_build,
                           pull=args.pull, force_recreate=args.force_recreate, no_recreate=args.no_recreate,
                           no_deps=args.no_deps, remove_orphans=args.remove_orphans, scale=_scale(args.scale),
                           no_start=args.no_start, timeout=args.timeout, progress=_progress)
    if args.wait:
        for service in {c.service for c in started}:
            condition = ("service_healthy" if project.service(service).config.get("healthcheck")
                         else "service_started")
            await ops.wait_for_condition(engine, project, service, condition, _progress)
    if args.detach or args.no_start:
        return 0
    # Attached: follow every container's output until they all stop, or until ctrl-c stops them.
    follow = asyncio.ensure_future(_print_logs(engine, project, args.services or None, follow=True,
                                               colour=_colour(args)))
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, follow.cancel)
        loop.add_signal_handler(signal.SIGTERM, follow.cancel)
    if abort:
        return await _up_until_one_exits(engine, project, args, started, follow)
    try:
        await follow
    except asyncio.CancelledError:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await _stop_gracefully(engine, project, args)
    return 0


async def _stop_gracefully(engine: EngineClient, project: Project, args: argparse.Namespace) -> None:
    print("Gracefully stopping... (press Ctrl+C again to force)", file=sys.stderr)
    await ops.stop(engine, project, args.services or None, timeout=args.timeout, progress=_progress)


async def _up_until_one_exits(engine: EngineClient, project: Project, args: argparse.Namespace,
                              started: list[ContainerState], follow: asyncio.Future[None]) -> int:
    """`up --abort-on-container-exit`: when the first container stops, stop the rest; the exit code
    is that container's, or with --exit-code-from the chosen service's."""
    watch = asyncio.ensure_future(ops.first_exit(engine, started))
    either: list[asyncio.Future[Any]] = [watch, follow]
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if not watch.done():  # ctrl-c (the log follower was cancelled): stop, as without the flag
        watch.cancel()
        await _stop_gracefully(engine, project, args)
        return 130
    first, code = watch.result()
    await asyncio.sleep(0.3)  # the stopped container's last lines are still on their way through its log
    follow.cancel()
    await asyncio.gather(follow, return_exceptions=True)
    print(f"{first.name} exited with code {code}", file=sys.stderr)
    print("Aborting on container exit...", file=sys.stderr)
    await ops.stop(engine, project, args.services or None, timeout=args.timeout, progress=_progress)
    if not args.exit_code_from or first.service == args.exit_code_from:
        return code
    chosen = [c for c in started if c.service == args.exit_code_from]
    return await ops.wait_exit(engine, chosen[0].id) if chosen else 1


async def _print_logs(engine: EngineClient, project: Project, services: list[str] | None, *, follow: bool,
                      tail: str = "all", timestamps: bool = False, colour: bool = False, prefix: bool = True
                      ) -> None:
    members = await ops.containers(engine, project.name, services)
    width = max((len(c.name) for c in members), default=0)
    order = sorted({c.service for c in members})
    colours = {service: _COLOURS[i % len(_COLOURS)] for i, service in enumerate(order)}
    async for line in ops.logs(engine, project, services, follow=follow, tail=tail, timestamps=timestamps):
        head = ""
        if prefix:
            head = f"{line.container:<{width}} | "
            if colour:
                head = f"\x1b[{colours.get(line.service, '0')}m{head}\x1b[0m"
        sys.stdout.write(head + line.text + "\n")
        sys.stdout.flush()


async def _down(engine: EngineClient, project: Project, args: argparse.Namespace) -> int:
    await ops.down(engine, project, volumes=args.volumes, rmi=args.rmi, remove_orphans=args.remove_orphans,
                   timeout=args.timeout, progress=_progress)
    return 0


async def _ps(engine: EngineClient, project: Project, args: argparse.Namespace) -> int:
    found = await ops.ps(engine, project, args.services or None, all=args.all)
    if args.quiet:
        print("\n".join(c.id for c in found))
    elif args.list_services:
        print("\n".join(dict.fromkeys(c.service for c in found)))
    elif args.format == "json":
        print(json.dumps([{"ID": c.id, "Name": c.name, "Service": c.service, "Image": c.image, "State": c.state,
                           "Status": c.status, "Health": c.health, "Publishers": c.ports} for c in found]))
    else:
        rows = [("NAME", "IMAGE", "SERVICE", "STATUS", "PORTS")]
        rows += [(c.name, c.image, c.service, c.status, ", ".join(c.ports)) for c in found]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            print("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "   " + row[4])
    return 0


async def _logs(engine: EngineClient, project: Project, args: argparse.Namespace) -> int:
    try:
        await _print_logs(engine, project, args.services or None, follow=args.follow, tail=args.tail,
                          timestamps=args.timestamps, colour=_colour(args), prefix=not args.no_log_prefix)
    except asyncio.CancelledError:
        return 130
    return 0


async def _start(engine: EngineClient, project: Project, args: argparse.Namespace) -> int:
    await ops.start(engine, project, args.services or None, progress=_progress)
    return 0


async def _stop(engine: EngineClient, project: Project, args: argparse.Namespace) -> int:
    await ops.stop(engine, project, args.services or None, timeout=args.timeout, progress=_progress)
    return 0


async def _restart(engine: EngineClient, project: Project, args: argparse.Namespace) -> int:
    await ops.restart(engine, project, args.services or None, timeout=args.timeout, progress=_progress)
    return 0


async def _pull(engine: EngineClient, project: Project, args: argparse.Namespace) -> int:
    await ops.pull_images(engine, project, args.services or None, ignore_failures=args.ignore_pull_failures,
                          progress=None if args.quiet else _progress)
    return 0


async def _build(engine: EngineClient, project: Project, args: argparse.Namespace) -> int:
    await ops.build_images(engine, project, args.services or None, no_cache=args.no_cache, pull=args.pull,
                           progress=None if args.quiet else _progress)
    return 0


def _write(stream: str, data: bytes) -> None:
    target = sys.stderr if stream == "stderr" else sys.stdout
    target.buffer.write(data)
    target.flush()


def _command(items: list[str]) -> list[str]:
    return items[1:] if items[:1] == ["--"] else items


async def _exec(engine: EngineClient, project: Project, args: argparse.Namespace) -> int:
    cmd = _command(args.cmd)
    if not cmd:
        raise ComposeError("exec needs a command")
    return await ops.exec_command(engine, project, args.service, cmd, index=args.index, env=_env_pairs(args.env),
                                  user=args.user, workdir=args.workdir, privileged=args.privileged,
                                  detach=args.detach, output=_write)


async def _run(engine: EngineClient, project: Project, args: argparse.Namespace) -> int:
    cmd = _command(args.cmd) or None
    entrypoint = [args.entrypoint] if args.entrypoint else None
    labels = _env_pairs(args.label)
    name, code = await ops.run(engine, project, args.service, cmd, name=args.name, entrypoint=entrypoint,
                               env=_env_pairs(args.env), user=args.user, workdir=args.workdir, remove=args.rm,
                               detach=args.detach, no_deps=args.no_deps, service_ports=args.service_ports,
                               labels=labels, output=_write, progress=_progress)
    if args.detach:
        print(name)
    return code


async def _ls(engine: EngineClient, args: argparse.Namespace) -> int:
    projects = [p for p in await ops.list_projects(engine) if args.all or p.running]
    if args.format == "json":
        print(json.dumps([{"Name": p.name, "Status": f"running({p.running})" if p.running else "exited",
                           "ConfigFiles": ",".join(p.config_files)} for p in projects]))
        return 0
    print(f"{'NAME':<24} {'STATUS':<16} CONFIG FILES")
    for p in projects:
        status = f"running({p.running})" if p.running else f"exited({p.total})"
        print(f"{p.name:<24} {status:<16} {','.join(p.config_files)}")
    return 0
