"""`berth`: docker-like verbs over `engine.client` (ps, images, run, build, version).

No Qt is imported here: the CLI starts fast and runs where no display exists.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from app import __version__
from app.display import (
    command_text,
    container_name,
    format_table,
    human_ago,
    human_size,
    ports_text,
    short_id,
)
from engine.client import (
    CLIENT_API_VERSION,
    EngineClient,
    EngineClientError,
    EngineUnreachable,
    build_output,
    default_engine_url,
    split_reference,
)
from engine.client.tls import TLSFiles

# docker's convention: 125 when the engine refused to run the container, so scripts can tell it
# apart from the container's own exit code.
EXIT_RUN_FAILED = 125


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="berth", description="Manage containers on a Berth or Docker engine.")
    parser.add_argument(
        "-H",
        "--host",
        help="engine address, e.g. unix:///run/berth/berth.sock (default: $BERTH_HOST, $DOCKER_HOST, "
        "then berthd's socket, then dockerd's)",
    )
    parser.add_argument("--tlsverify", action="store_true",
                        help="tcp:// engines: use TLS, verify the engine (files in $DOCKER_CERT_PATH or ~/.docker)")
    parser.add_argument("--tlscacert", metavar="FILE",
                        help="trust engines signed by this CA only (implies --tlsverify)")
    parser.add_argument("--tlscert", metavar="FILE", help="client certificate (implies --tlsverify)")
    parser.add_argument("--tlskey", metavar="FILE", help="client key (implies --tlsverify)")
    parser.add_argument("--version", action="version", version=f"berth {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ps = commands.add_parser("ps", help="list containers")
    ps.add_argument("-a", "--all", action="store_true", help="show all containers (default: running only)")
    ps.add_argument("-q", "--quiet", action="store_true", help="only show container ids")

    commands.add_parser("images", help="list images")

    build = commands.add_parser("build", help="build an image from a folder with a Dockerfile (classic builder)")
    build.add_argument("-t", "--tag", action="append", default=[], metavar="TAG",
                       help="name the image, e.g. myapp:1.0 (may be given more than once)")
    build.add_argument("-f", "--file", metavar="DOCKERFILE",
                       help="the Dockerfile, relative to the current directory (default: DIR/Dockerfile)")
    build.add_argument("--no-cache", action="store_true", help="run every step again, cache or not")
    build.add_argument("--pull", action="store_true", help="pull the FROM images even when present")
    build.add_argument("-q", "--quiet", action="store_true", help="print only the image id")
    build.add_argument("context", metavar="DIR", help="the build context: the folder sent to the engine")

    run = commands.add_parser("run", help="create and start a container")
    run.add_argument("--rm", action="store_true", help="remove the container when it exits")
    run.add_argument("-d", "--detach", action="store_true", help="run in the background and print its id")
    run.add_argument("--name", help="name the container")
    run.add_argument("image", metavar="IMAGE")
    run.add_argument("cmd", metavar="CMD", nargs=argparse.REMAINDER, help="command and its arguments")

    commands.add_parser("version", help="show the CLI's and the engine's versions")
    # Listed for --help; `main` hands these to their own parsers.
    commands.add_parser("compose", help="multi-container projects (berth compose --help)", add_help=False)
    commands.add_parser("machine", help="Linux VMs running berthd (berth machine --help)", add_help=False)
    return parser


async def cmd_ps(engine: EngineClient, args: argparse.Namespace, out: TextIO) -> int:
    items = await engine.containers(all=args.all)
    items.sort(key=lambda item: int(item.get("Created", 0)), reverse=True)
    if args.quiet:
        for item in items:
            print(short_id(str(item.get("Id", ""))), file=out)
        return 0
    rows = [
        [
            short_id(str(item.get("Id", ""))),
            str(item.get("Image", "")),
            command_text(item),
            human_ago(float(item.get("Created", 0))),
            str(item.get("Status", "")),
            ports_text(item.get("Ports")),
            container_name(item),
        ]
        for item in items
    ]
    headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    print(format_table(headers, rows), file=out)
    return 0


async def cmd_images(engine: EngineClient, args: argparse.Namespace, out: TextIO) -> int:
    rows: list[list[str]] = []
    for image in sorted(await engine.images(), key=lambda i: int(i.get("Created", 0)), reverse=True):
        tags = image.get("RepoTags") or ["<none>:<none>"]
        for tag in tags:
            repository, _, name = str(tag).rpartition(":")
            rows.append(
                [
                    repository or "<none>",
                    name or "<none>",
                    short_id(str(image.get("Id", ""))),
                    human_ago(float(image.get("Created", 0))),
                    human_size(float(image.get("Size", 0))),
                ]
            )
    print(format_table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], rows), file=out)
    return 0


async def cmd_build(engine: EngineClient, args: argparse.Namespace, out: TextIO) -> int:
    # As the docker CLI: -f is relative to where berth runs, not to the folder.
    dockerfile = str(Path(args.file).absolute()) if args.file else "Dockerfile"
    tags: list[str] = args.tag
    image_id = ""
    named = False
    async for item in engine.build_image(Path(args.context), tags[0] if tags else None, dockerfile,
                                         nocache=args.no_cache, pull=args.pull, quiet=args.quiet):
        aux = item.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = str(aux["ID"])
        if args.quiet:
            continue
        text = build_output(item)
        if text:
            out.write(text)
            out.flush()
            named = named or "Successfully built " in text
    for extra in tags[1:]:
        repo, tag = split_reference(extra)
        await engine.tag(image_id or tags[0], repo, tag or "latest")
        if not args.quiet:
            print(f"Successfully tagged {extra}", file=out)
    if args.quiet and image_id:
        print(image_id, file=out)
    elif image_id and not named:
        # An engine that did not say which image it made (dockerd and berthd do).
        print(f"Successfully built {short_id(image_id)}", file=out)
    return 0


async def cmd_run(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    config = {
        "Image": args.image,
        "Cmd": list(args.cmd) or None,
        "AttachStdout": not args.detach,
        "AttachStderr": not args.detach,
        "Tty": False,
        "OpenStdin": False,
    }
    try:
        id = await engine.create_container(config, name=args.name)
    except EngineClientError as exc:
        print(f"berth: {exc.message}", file=err)
        return EXIT_RUN_FAILED
    try:
        await engine.start(id)
    except EngineClientError as exc:
        print(f"berth: {exc.message}", file=err)
        if args.rm:
            await engine.remove(id, force=True)
        return EXIT_RUN_FAILED
    if args.detach:
        print(id, file=out)
        return 0
    try:
        async for chunk in engine.stream_logs(id, follow=True):
            stream = err if chunk.stream == "stderr" else out
            stream.write(chunk.text)
            stream.flush()
        code = await engine.wait(id)
    finally:
        if args.rm:
            # Removed here rather than with HostConfig.AutoRemove, so the exit code is read first.
            await engine.remove(id, force=True)
    return code


async def cmd_version(engine: EngineClient, args: argparse.Namespace, out: TextIO) -> int:
    print(f"Client: Berth CLI\n Version:     {__version__}\n API version: {CLIENT_API_VERSION}", file=out)
    version = await engine.version()
    print(
        f"\nServer: {await engine.describe()}\n"
        f" Version:     {version.get('Version', '?')}\n"
        f" API version: {version.get('ApiVersion', '?')} (spoken: {await engine.api_version()})\n"
        f" OS/Arch:     {version.get('Os', '?')}/{version.get('Arch', '?')}\n"
        f" Address:     {engine.url}",
        file=out,
    )
    return 0


def engine_tls(args: argparse.Namespace) -> TLSFiles | None:
    """The docker CLI's TLS flags; None leaves it to $DOCKER_TLS_VERIFY."""
    if not (args.tlsverify or args.tlscacert or args.tlscert or args.tlskey):
        return None
    base = TLSFiles.from_dir(Path(os.environ.get("DOCKER_CERT_PATH") or Path.home() / ".docker"))

    def given(value: str | None, default: Path | None) -> Path | None:
        return Path(value) if value else default

    return TLSFiles(given(args.tlscacert, base.ca), given(args.tlscert, base.cert), given(args.tlskey, base.key))


async def dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    url = args.host or default_engine_url()
    remote = None
    if url.startswith("ssh://"):
        # A remote engine: a local socket forwarded over SSH stands in for it while this command runs
        # (paramiko is imported only then: it would slow every other command's start).
        from vmhost.remote import RemoteEngine, RemoteEngineError

        try:
            remote = RemoteEngine(url)
            url = await asyncio.to_thread(remote.start)
        except RemoteEngineError as exc:
            print(f"berth: {exc}", file=err)
            return 1
    try:
        async with EngineClient(url, engine_tls(args)) as engine:
            return await run_command(engine, args, out, err)
    finally:
        if remote is not None:
            remote.close()


async def run_command(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        if args.command == "ps":
            return await cmd_ps(engine, args, out)
        if args.command == "images":
            return await cmd_images(engine, args, out)
        if args.command == "build":
            return await cmd_build(engine, args, out)
        if args.command == "run":
            return await cmd_run(engine, args, out, err)
        if args.command == "version":
            return await cmd_version(engine, args, out)
    except EngineUnreachable as exc:
        why = "is berthd running? start it with: berthd" if exc.url.endswith("/berth.sock") else exc.reason
        print(f"berth: cannot reach the engine at {exc.url}: {why}", file=err)
        return 1
    except EngineClientError as exc:
        print(f"berth: {exc.message}", file=err)
        return 1
    raise AssertionError(f"unknown command {args.command}")


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # Whole command families with parsers of their own: compose projects and machines.
    if words[:1] == ["compose"]:
        from engine.compose.cli import main as compose_main

        return compose_main(words[1:])
    if words[:1] == ["machine"]:
        from vmhost.cli import run as machine_run

        return machine_run(words[1:])
    args = build_parser().parse_args(words)
    try:
        return asyncio.run(dispatch(args, sys.stdout, sys.stderr))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
