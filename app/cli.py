"""`berth`: docker-like verbs over `engine.client` (ps, images, run, build, version).

No Qt is imported here: the CLI starts fast and runs where no display exists.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from app import __version__
from app.display import short_id
from engine.client.address import default_engine_url, normalize_url
from engine.client.errors import EngineClientError, EngineUnreachable

if TYPE_CHECKING:
    from engine.client import EngineClient
    from engine.client.tls import TLSFiles

# docker's convention: 125 when the engine refused to run the container, so scripts can tell it
# apart from the container's own exit code.
EXIT_RUN_FAILED = 125


class _Parser(argparse.ArgumentParser):
    """docker exits 125 on a usage error (a wrong flag), and says where to read more."""

    def error(self, message: str) -> NoReturn:
        if "invalid choice" in message and self.prog == "berth":
            word = message.split("'")[1] if "'" in message else ""
            self.exit(1, f"berth: unknown command: berth {word}\n\nRun 'berth --help' for more information\n")
        self.exit(EXIT_RUN_FAILED, f"berth: {message}\n\nRun '{self.prog} --help' for more information\n")


# docker's usage lines, for the verbs whose arguments are more than [OPTIONS] (a wrong flag prints one).
USAGE = {
    "run": "run [OPTIONS] IMAGE [COMMAND] [ARG...]", "create": "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
    "exec": "exec [OPTIONS] CONTAINER COMMAND [ARG...]", "logs": "logs [OPTIONS] CONTAINER",
    "images": "images [OPTIONS] [REPOSITORY[:TAG]]", "pull": "pull [OPTIONS] NAME[:TAG|@DIGEST]",
    "push": "push [OPTIONS] NAME[:TAG]", "rmi": "rmi [OPTIONS] IMAGE [IMAGE...]",
    "inspect": "inspect [OPTIONS] NAME|ID [NAME|ID...]", "build": "build [OPTIONS] PATH | URL | -",
    "tag": "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "cp": "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-",
}


FORMAT_HELP = """\
--format (ps, images, inspect, volume/network/context ls, history, stats, events, info):
  json                       one JSON object per line
  table                      the verb's own table; "table {{.ID}}\\t{{.Names}}" picks the columns
  {{.Field}} {{.A.B}}        a field, nested as in {{.State.Status}} on inspect
  {{json .}} {{json .X}}     JSON of the item or of a field
  {{upper .X}} {{lower .X}} {{len .X}} {{index .X "key"}} {{join .X ","}} {{println}}
  {{range .X}}...{{end}}     over a map's values or a list ({{else}} when empty); {{if .X}}...{{else}}...{{end}}
  \\t and \\n in the format stand for a tab and a newline.
  Anything else ($variables, printf, with, ...) is refused naming the part, never printed wrong.

Completion: berth completion bash|zsh|powershell (e.g. source <(berth completion bash))
"""

_GLOBAL_WITH_VALUE = {"-H", "--host", "--tlscacert", "--tlscert", "--tlskey"}


# docker's management commands (`docker image ls`, `docker container rm`) as the verbs they stand for.
MANAGEMENT = {
    "image": {"ls": ["images"], "list": ["images"], "rm": ["rmi"], "remove": ["rmi"], "pull": ["pull"],
              "push": ["push"], "tag": ["tag"], "history": ["history"], "save": ["save"], "load": ["load"],
              "import": ["import"], "build": ["build"], "inspect": ["inspect", "--type", "image"],
              "prune": ["system", "prune", "--only", "images"]},
    "container": {"ls": ["ps"], "list": ["ps"], "ps": ["ps"], "inspect": ["inspect", "--type", "container"],
                  "prune": ["system", "prune", "--only", "containers"],
                  **{verb: [verb] for verb in ("run", "create", "start", "stop", "restart", "kill", "pause",
                                               "unpause", "rm", "rename", "wait", "update", "logs", "exec",
                                               "attach", "cp", "top", "stats", "port", "diff", "export")}},
}


def _command_index(words: Sequence[str]) -> int | None:
    """Where the verb is, past the global flags (and -H's value)."""
    skip = False
    for index, word in enumerate(words):
        if skip:
            skip = False
        elif word in _GLOBAL_WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            return index
    return None


def expand_management(words: Sequence[str]) -> list[str]:
    """`image ls -q` -> `images -q`; anything else as it is."""
    words = list(words)
    index = _command_index(words)
    if index is not None and words[index] in MANAGEMENT and index + 1 < len(words):
        verb = MANAGEMENT[words[index]].get(words[index + 1])
        if verb is not None:
            return [*words[:index], *verb, *words[index + 2:]]
    return words


def _listing_only(words: Sequence[str]) -> bool:
    """Whether the verb is `ps` or `images` (the parser then holds only those: building all ~90
    verbs' parsers costs ~17 ms of the 150 `berth ps` may take)."""
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in _GLOBAL_WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            return word in ("ps", "images")
        elif word in ("-h", "--help", "--version"):
            return False
    return False


def parse(words: Sequence[str]) -> argparse.Namespace:
    """The command line, or exit 125 as docker does on a flag the verb does not have."""
    words = expand_management(words)
    args, extra = build_parser(listings_only=_listing_only(words)).parse_known_args(words)
    if extra:
        verb = " ".join(filter(None, [args.command, getattr(args, "verb", None)]))
        word = extra[0]
        if word.startswith("--"):
            what = f"unknown flag: {word.split('=')[0]}"
        elif word.startswith("-"):
            what = f"unknown shorthand flag: '{word[1:2]}' in {word}"
        else:
            what = f'"berth {verb}" got an unexpected argument: {word}'
        usage = USAGE.get(verb, f"{verb} [OPTIONS]")
        sys.stderr.write(f"{what}\n\nUsage:  berth {usage}\n\nRun 'berth {verb} --help' for more information\n")
        sys.exit(EXIT_RUN_FAILED)
    return args


def _ps_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default: running only)")
    p.add_argument("-q", "--quiet", action="store_true", help="only show container ids")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter, e.g. name=web, status=exited")
    p.add_argument("--format", help="json, table, or a template such as {{.ID}} {{.Names}}")
    p.add_argument("-n", "--last", type=int, help="show the n last created containers")
    p.add_argument("-l", "--latest", action="store_true", help="show the latest created container")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes")


def _images_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show intermediate images too")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image ids")
    p.add_argument("--digests", action="store_true", help="show digests")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("--format", help="json, table, or a template such as {{.Repository}}:{{.Tag}}")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter, e.g. dangling=true")
    p.add_argument("repository", nargs="?", help="only this repository[:tag]")


def _create_flags(p: argparse.ArgumentParser, run: bool) -> None:
    if run:
        p.add_argument("-d", "--detach", action="store_true", help="run in the background and print its id")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("--name", help="name the container")
    p.add_argument("-p", "--publish", action="append", default=[], metavar="[IP:]HOST:CONTAINER[/PROTO]",
                   help="publish a port")
    p.add_argument("-P", "--publish-all", action="store_true", help="publish every exposed port")
    p.add_argument("--expose", action="append", default=[], help="expose a port")
    p.add_argument("-v", "--volume", action="append", default=[], metavar="SRC:DST[:ro]", help="bind or volume")
    p.add_argument("--mount", action="append", default=[], help="type=bind|volume|tmpfs,source=,target=[,readonly]")
    p.add_argument("-e", "--env", action="append", default=[], help="set an environment variable KEY=VALUE")
    p.add_argument("--env-file", action="append", default=[], help="read environment variables from a file")
    p.add_argument("-l", "--label", action="append", default=[], help="set a label KEY=VALUE")
    p.add_argument("--network", "--net", help="connect to this network")
    p.add_argument("--platform", help="os/arch of the image, e.g. linux/amd64")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("-u", "--user", help="user name or uid[:gid]")
    p.add_argument("-h", "--hostname", help="container host name")
    p.add_argument("--entrypoint", help="override the image's entrypoint")
    p.add_argument("--restart", default="no", help="no, on-failure[:N], always, unless-stopped")
    p.add_argument("--privileged", action="store_true", help="give extended privileges")
    p.add_argument("--init", action="store_true", help="run an init inside the container")
    p.add_argument("-m", "--memory", help="memory limit, e.g. 512m")
    p.add_argument("--cpus", help="number of CPUs")
    p.add_argument("--pull", default="missing", choices=["always", "missing", "never"], help="pull policy")
    p.add_argument("--health-cmd", help="command to check health")
    p.add_argument("--health-interval", help="time between checks (e.g. 30s)")
    p.add_argument("--health-retries", type=int, help="failures before unhealthy")
    p.add_argument("--health-timeout", help="longest a check may run (e.g. 5s)")
    p.add_argument("--health-start-period", help="grace time before failures count (e.g. 10s)")
    p.add_argument("--no-healthcheck", action="store_true", help="disable the image's health check")
    p.add_argument("--detach-keys", help="keys that detach from the container (default: ctrl-p,ctrl-q)")
    p.add_argument("--help", action="help", help="show this help")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("cmd", metavar="CMD", nargs=argparse.REMAINDER, help="command and its arguments")


def build_parser(listings_only: bool = False) -> argparse.ArgumentParser:
    parser = _Parser(prog="berth", description="Manage containers on a Berth or Docker engine.",
                     epilog=FORMAT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    def verb(name: str, help: str, *aliases: str, add_help: bool = True) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, aliases=list(aliases), add_help=add_help)

    _ps_flags(verb("ps", "list containers"))
    _images_flags(verb("images", "list images"))
    if listings_only:
        return parser

    build = verb("build", "build an image from a folder with a Dockerfile (classic builder)")
    build.add_argument("-t", "--tag", action="append", default=[], metavar="TAG",
                       help="name the image, e.g. myapp:1.0 (may be given more than once)")
    build.add_argument("-f", "--file", metavar="DOCKERFILE",
                       help="the Dockerfile, relative to the current directory (default: DIR/Dockerfile)")
    build.add_argument("--no-cache", action="store_true", help="run every step again, cache or not")
    build.add_argument("--pull", action="store_true", help="pull the FROM images even when present")
    build.add_argument("-q", "--quiet", action="store_true", help="print only the image id")
    build.add_argument("context", metavar="DIR", help="the build context: the folder sent to the engine")

    _create_flags(verb("run", "create and start a container", add_help=False), run=True)
    _create_flags(verb("create", "create a container", add_help=False), run=False)

    for name, help in (("start", "start containers"), ("stop", "stop containers"),
                       ("restart", "restart containers"), ("kill", "kill containers"),
                       ("pause", "pause containers"), ("unpause", "unpause containers"),
                       ("rm", "remove containers"), ("wait", "wait for containers to exit, print their codes")):
        p = verb(name, help)
        if name == "start":
            p.add_argument("-a", "--attach", action="store_true", help="attach its output")
            p.add_argument("-i", "--interactive", action="store_true", help="attach stdin")
        if name in ("stop", "restart"):
            p.add_argument("-t", "--time", "--timeout", type=int, dest="time", help="seconds before killing")
        if name == "kill":
            p.add_argument("-s", "--signal", default="SIGKILL", help="signal to send")
        if name == "rm":
            p.add_argument("-f", "--force", action="store_true", help="kill a running container first")
            p.add_argument("-v", "--volumes", action="store_true", help="remove its anonymous volumes")
            p.add_argument("-l", "--link", action="store_true", help="remove the link, not the container")
        p.add_argument("containers", metavar="CONTAINER", nargs="+")

    attach = verb("attach", "join this terminal to a running container's input and output")
    attach.add_argument("--no-stdin", action="store_true", help="do not send this terminal's input")
    attach.add_argument("--detach-keys", help="keys that detach (default: ctrl-p,ctrl-q)")
    attach.add_argument("--sig-proxy", default="true", help="accepted for docker's sake")
    attach.add_argument("container")
    rename = verb("rename", "rename a container")
    rename.add_argument("container")
    rename.add_argument("new_name")
    update = verb("update", "change a container's restart policy or limits")
    update.add_argument("--restart")
    update.add_argument("-m", "--memory")
    update.add_argument("--cpus")
    update.add_argument("containers", metavar="CONTAINER", nargs="+")

    logs = verb("logs", "show a container's output")
    logs.add_argument("-f", "--follow", action="store_true", help="follow the output")
    logs.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    logs.add_argument("--since", help="since a time (2026-01-02T13:23:37Z) or a duration ago (10m)")
    logs.add_argument("--until", help="until a time or a duration ago")
    logs.add_argument("-n", "--tail", default="all", help="lines from the end (default: all)")
    logs.add_argument("container")

    exec_ = verb("exec", "run a command in a running container")
    exec_.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    exec_.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    exec_.add_argument("-d", "--detach", action="store_true", help="run in the background")
    exec_.add_argument("-e", "--env", action="append", default=[], help="set an environment variable")
    exec_.add_argument("-u", "--user", help="user name or uid[:gid]")
    exec_.add_argument("-w", "--workdir", help="working directory")
    exec_.add_argument("--privileged", action="store_true", help="extended privileges")
    exec_.add_argument("--detach-keys", help="keys that detach from the process (default: ctrl-p,ctrl-q)")
    exec_.add_argument("container")
    exec_.add_argument("cmd")
    exec_.add_argument("args", nargs=argparse.REMAINDER)

    inspect = verb("inspect", "low-level information on containers, images, volumes, networks")
    inspect.add_argument("-f", "--format", help="a template, e.g. {{.State.Status}}")
    inspect.add_argument("--type", choices=["container", "image", "volume", "network"])
    inspect.add_argument("-s", "--size", action="store_true", help="container sizes")
    inspect.add_argument("names", metavar="NAME", nargs="+")

    for name, help in (("top", "a container's processes"), ("port", "a container's published ports"),
                       ("diff", "files changed in a container"), ("export", "a container's files as a tar")):
        p = verb(name, help)
        p.add_argument("container")
        if name == "top":
            p.add_argument("ps_args", nargs="*")
        if name == "port":
            p.add_argument("port", nargs="?", help="PORT[/PROTO]")
        if name == "export":
            p.add_argument("-o", "--output", help="write to a file, not stdout")
    cp = verb("cp", "copy files between a container and here (CONTAINER:PATH)")
    cp.add_argument("-a", "--archive", action="store_true")
    cp.add_argument("-L", "--follow-link", action="store_true")
    cp.add_argument("source")
    cp.add_argument("dest")
    stats = verb("stats", "containers' resource use")
    stats.add_argument("-a", "--all", action="store_true")
    stats.add_argument("--no-stream", action="store_true", help="one reading, then exit")
    stats.add_argument("--format")
    stats.add_argument("containers", metavar="CONTAINER", nargs="*")

    pull = verb("pull", "pull an image from a registry")
    pull.add_argument("-q", "--quiet", action="store_true")
    pull.add_argument("--platform")
    pull.add_argument("image")
    push = verb("push", "push an image to a registry")
    push.add_argument("-q", "--quiet", action="store_true")
    push.add_argument("image")
    login = verb("login", "log in to a registry")
    login.add_argument("-u", "--username")
    login.add_argument("-p", "--password")
    login.add_argument("--password-stdin", action="store_true")
    login.add_argument("server", nargs="?")
    logout = verb("logout", "log out of a registry")
    logout.add_argument("server", nargs="?")
    rmi = verb("rmi", "remove images")
    rmi.add_argument("-f", "--force", action="store_true")
    rmi.add_argument("--no-prune", action="store_true")
    rmi.add_argument("images", metavar="IMAGE", nargs="+")
    tag = verb("tag", "name an image")
    tag.add_argument("source")
    tag.add_argument("target")
    history = verb("history", "an image's layers")
    history.add_argument("-q", "--quiet", action="store_true")
    history.add_argument("--no-trunc", action="store_true")
    history.add_argument("-H", "--human", action="store_true", default=True)
    history.add_argument("--format")
    history.add_argument("image")
    save = verb("save", "images as a tar")
    save.add_argument("-o", "--output")
    save.add_argument("images", metavar="IMAGE", nargs="+")
    load = verb("load", "images from a tar")
    load.add_argument("-i", "--input")
    load.add_argument("-q", "--quiet", action="store_true")
    import_ = verb("import", "a file system tar as an image")
    import_.add_argument("-c", "--change", action="append", default=[])
    import_.add_argument("-m", "--message")
    import_.add_argument("file")
    import_.add_argument("reference", nargs="?")

    volume = verb("volume", "manage volumes").add_subparsers(dest="verb", required=True, parser_class=_Parser)
    p = volume.add_parser("ls", aliases=["list"])
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    p = volume.add_parser("create")
    p.add_argument("-d", "--driver", default="local")
    p.add_argument("-o", "--opt", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("name", nargs="?")
    p = volume.add_parser("rm", aliases=["remove"])
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("names", nargs="+")
    p = volume.add_parser("inspect")
    p.add_argument("-f", "--format")
    p.add_argument("names", nargs="+")
    p = volume.add_parser("prune")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true")

    network = verb("network", "manage networks").add_subparsers(dest="verb", required=True, parser_class=_Parser)
    p = network.add_parser("ls", aliases=["list"])
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    p.add_argument("--no-trunc", action="store_true")
    p = network.add_parser("create")
    p.add_argument("-d", "--driver", default="bridge")
    p.add_argument("--internal", action="store_true")
    p.add_argument("--attachable", action="store_true")
    p.add_argument("--subnet")
    p.add_argument("--gateway")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("name")
    p = network.add_parser("rm", aliases=["remove"])
    p.add_argument("names", nargs="+")
    p = network.add_parser("inspect")
    p.add_argument("-f", "--format")
    p.add_argument("names", nargs="+")
    for name in ("connect", "disconnect"):
        p = network.add_parser(name)
        if name == "connect":
            p.add_argument("--alias", action="append", default=[])
            p.add_argument("--ip")
        else:
            p.add_argument("-f", "--force", action="store_true")
        p.add_argument("network")
        p.add_argument("container")
    p = network.add_parser("prune")
    p.add_argument("-f", "--force", action="store_true")

    system = verb("system", "engine-wide information and cleanup").add_subparsers(dest="verb", required=True,
                                                                                   parser_class=_Parser)
    p = system.add_parser("info")
    p.add_argument("-f", "--format")
    p = system.add_parser("df")
    p.add_argument("--format")
    p = system.add_parser("prune")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--volumes", action="store_true")
    # `berth container prune` and `berth image prune` are this with one kind (see MANAGEMENT).
    p.add_argument("--only", choices=["containers", "images"], help=argparse.SUPPRESS)
    for events in (system.add_parser("events"), verb("events", "the engine's events as they happen")):
        events.add_argument("--since")
        events.add_argument("--until")
        events.add_argument("-f", "--filter", action="append", default=[])
        events.add_argument("--format")
    info = verb("info", "engine-wide information")
    info.add_argument("-f", "--format")

    context = verb("context", "the engines berth knows").add_subparsers(dest="verb", required=True,
                                                                         parser_class=_Parser)
    p = context.add_parser("ls", aliases=["list"])
    p.add_argument("--format")
    p.add_argument("-q", "--quiet", action="store_true")
    p = context.add_parser("use", help="make berth (and the desktop) talk to this engine")
    p.add_argument("name")
    p = context.add_parser("create", help="name an engine, e.g. --docker host=tcp://10.0.0.5:2375")
    p.add_argument("--docker", required=True, help="host=ADDRESS (unix://, tcp:// or ssh://)")
    p.add_argument("--description", default="")
    p.add_argument("name")
    p = context.add_parser("rm", aliases=["remove"])
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("names", nargs="+")
    p = context.add_parser("inspect")
    p.add_argument("-f", "--format")
    p.add_argument("names", nargs="*")

    completion = verb("completion", "print a shell completion script (bash, zsh, powershell)")
    completion.add_argument("shell", choices=["bash", "zsh", "powershell"])

    for family, help in (("image", "image verbs by docker's management names (berth image ls = berth images)"),
                         ("container", "container verbs by docker's management names (berth container ls = ps)")):
        p = verb(family, help)
        p.add_argument("verb", choices=sorted(MANAGEMENT[family]))
        p.add_argument("rest", nargs=argparse.REMAINDER)

    verb("version", "show the CLI's and the engine's versions")
    # Listed for --help; `main` hands these to their own parsers.
    verb("compose", "multi-container projects (berth compose --help)", add_help=False)
    verb("machine", "Linux VMs running berthd (berth machine --help)", add_help=False)
    return parser


async def cmd_build(engine: EngineClient, args: argparse.Namespace, out: TextIO) -> int:
    from engine.client import build_output, split_reference

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


async def cmd_version(engine: EngineClient, args: argparse.Namespace, out: TextIO) -> int:
    from engine.client import CLIENT_API_VERSION

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


def engine_url(args: argparse.Namespace) -> str:
    """-H, then $BERTH_HOST/$DOCKER_HOST, then the context chosen (berth context use, or the desktop's
    switcher), then berthd's socket, then dockerd's: docker's order, Berth's engines first."""
    if args.host:
        return normalize_url(args.host)
    if os.environ.get("BERTH_HOST", "").strip() or os.environ.get("DOCKER_HOST", "").strip():
        return default_engine_url()
    from app.cli_contexts import chosen_engine

    return chosen_engine() or default_engine_url()


def engine_tls(args: argparse.Namespace) -> TLSFiles | None:
    """The docker CLI's TLS flags; None leaves it to $DOCKER_TLS_VERIFY."""
    from engine.client.tls import TLSFiles

    if not (args.tlsverify or args.tlscacert or args.tlscert or args.tlskey):
        return None
    base = TLSFiles.from_dir(Path(os.environ.get("DOCKER_CERT_PATH") or Path.home() / ".docker"))

    def given(value: str | None, default: Path | None) -> Path | None:
        return Path(value) if value else default

    return TLSFiles(given(args.tlscacert, base.ca), given(args.tlscert, base.cert), given(args.tlskey, base.key))


async def dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import asyncio

    from app.client import engine_client

    url = engine_url(args)
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
        async with engine_client(url, engine_tls(args)) as engine:
            return await guarded(run_command(engine, args, out, err), err)
    finally:
        if remote is not None:
            remote.close()


async def guarded(work: Any, err: TextIO) -> int:
    """A verb's exit code; the engine's refusals printed as docker prints them, with what to do."""
    from app.cli_format import FormatError

    try:
        return int(await work)
    except EngineUnreachable as exc:
        print(unreachable_text(exc), file=err)
        return 1
    except EngineClientError as exc:
        print(f"Error response from daemon: {exc.message}", file=err)
        return 1
    except (FormatError, ValueError, OSError) as exc:
        print(f"berth: {exc}", file=err)
        return 1


def unreachable_text(exc: EngineUnreachable) -> str:
    why = "is berthd running? start it with: berthd" if exc.url.endswith("/berth.sock") else exc.reason
    return f"berth: cannot reach the engine at {exc.url}: {why}"


async def run_command(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from app import cli_containers as containers
    from app import cli_images as images
    from app import cli_objects as objects

    command = args.command
    if command == "ps":
        return containers.print_ps(
            await engine.request("GET", "containers/json", params=containers.ps_params(args)), args, out)
    if command == "images":
        return images.print_images(await engine.request("GET", "images/json", params=_images_params(args)),
                                   args, out)
    if command == "build":
        try:
            return await cmd_build(engine, args, out)
        except EngineClientError as exc:
            # A failed step is the build's own output, not a refused request: printed as docker build does.
            print(f"berth: {exc.message}", file=err)
            return 1
    if command == "version":
        return await cmd_version(engine, args, out)
    if command == "info":
        args.verb = "info"
        return await objects.cmd_system(engine, args, out, err)
    table = {
        "run": containers.cmd_run, "create": containers.cmd_create, "rename": containers.cmd_rename,
        "attach": containers.cmd_attach,
        "update": containers.cmd_update, "logs": containers.cmd_logs, "exec": containers.cmd_exec,
        "inspect": containers.cmd_inspect, "top": containers.cmd_top, "port": containers.cmd_port,
        "diff": containers.cmd_diff, "export": containers.cmd_export, "cp": containers.cmd_cp,
        "stats": containers.cmd_stats, "pull": images.cmd_pull, "push": images.cmd_push,
        "login": images.cmd_login, "logout": images.cmd_logout, "rmi": images.cmd_rmi, "tag": images.cmd_tag,
        "history": images.cmd_history, "save": images.cmd_save, "load": images.cmd_load,
        "import": images.cmd_import, "volume": objects.cmd_volume, "network": objects.cmd_network,
        "system": objects.cmd_system, "events": objects.cmd_events,
    }
    if command in table:
        return int(await table[command](engine, args, out, err))
    if command in ("start", "stop", "restart", "kill", "pause", "unpause", "rm", "wait"):
        return await containers.cmd_lifecycle(engine, args, out, err)
    raise AssertionError(f"unknown command {command}")


def _images_params(args: argparse.Namespace) -> dict[str, str]:
    import json

    from app.cli_containers import filters_of

    params = {"all": "1" if args.all else "0"}
    filters = filters_of(args.filter)
    if args.repository:
        filters.setdefault("reference", []).append(args.repository)
    if filters:
        params["filters"] = json.dumps(filters)
    return params


def quick_listing(args: argparse.Namespace, out: TextIO, err: TextIO) -> int | None:
    """`ps` and `images` on a local socket or plain TCP without asyncio or aiohttp (see engine.client.quick);
    None when this engine needs the full client."""
    from engine.client.quick import get_json, quick_supported

    if args.command not in ("ps", "images") or args.tlsverify or args.tlscacert or os.environ.get("DOCKER_TLS_VERIFY"):
        return None
    url = engine_url(args)
    if not quick_supported(url, None):
        return None
    try:
        if args.command == "ps":
            from app.cli_containers import print_ps, ps_params

            return print_ps(get_json(url, "containers/json", ps_params(args)), args, out)
        from app.cli_images import print_images

        return print_images(get_json(url, "images/json", _images_params(args)), args, out)
    except EngineUnreachable as exc:
        print(unreachable_text(exc), file=err)
        return 1
    except EngineClientError as exc:
        print(f"Error response from daemon: {exc.message}", file=err)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # Whole command families with parsers of their own: compose projects and machines.
    if words[:1] == ["compose"]:
        from app.client import engine_client
        from engine.compose.cli import main as compose_main

        return compose_main(words[1:], engine_client)
    if words[:1] == ["machine"]:
        from vmhost.cli import run as machine_run

        return machine_run(words[1:])
    args = parse(words)
    if args.command == "completion":
        from app.cli_completion import script

        print(script(build_parser(), args.shell))
        return 0
    if args.command == "context":
        from app.cli_contexts import cmd_context

        try:
            return cmd_context(args, sys.stdout, sys.stderr)
        except (ValueError, OSError) as exc:
            print(f"berth: {exc}", file=sys.stderr)
            return 1
    if args.command == "logout":
        import asyncio

        from app.cli_images import cmd_logout

        return asyncio.run(cmd_logout(None, args, sys.stdout, sys.stderr))
    quick = quick_listing(args, sys.stdout, sys.stderr)
    if quick is not None:
        return quick
    import asyncio

    try:
        return asyncio.run(dispatch(args, sys.stdout, sys.stderr))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
