"""`berth machine ...`: the machine verbs. app/cli.py hands `berth machine <args>` to run(args)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from vmhost import dockercontext
from vmhost.machine import Machine, MachineError, Progress
from vmhost.machines import Machines
from vmhost.release import Download

DEFAULT = "default"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="berth machine", description="Linux VMs that run berthd (macOS, Windows).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def named(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.add_argument("name", nargs="?", default=DEFAULT, help=f"machine name (default: {DEFAULT})")
        return sub

    def settings(sub: argparse.ArgumentParser, defaults: bool) -> None:
        sub.add_argument("--cpus", type=int, default=2 if defaults else None)
        sub.add_argument("--memory", type=int, default=2048 if defaults else None, metavar="MIB")
        sub.add_argument("--disk", type=int, default=20 if defaults else None, metavar="GIB")
        sub.add_argument("--port", action="append", metavar="HOST:GUEST",
                         help="forward a fixed port to the host's loopback (repeatable)")
        sub.add_argument("--share", action="append", metavar="DIR",
                         help="share DIR at the same path in the guest (repeatable; default: your home)")
        sub.add_argument("--no-share", action="store_true", help="share no folder")
        sub.add_argument("--accel", choices=["auto", "kvm", "hvf", "whpx", "tcg"],
                         default="auto" if defaults else None, help="hypervisor (default: the host's)")
        sub.add_argument("--qemu", metavar="PATH", help="qemu-system-x86_64 to run (default: from PATH)")

    init = named("init", "create a machine")
    settings(init, defaults=True)
    init.add_argument("--image", type=Path, metavar="PATH",
                      help="guest image directory or release archive (default: one built here, else the "
                           "release's image for this host, downloaded)")
    init.add_argument("--image-url", metavar="URL",
                      help="where the release's guest images are (default: $BERTH_GUEST_URL, else the pinned "
                           "release location); a directory works too")
    init.add_argument("--arch", choices=["x86_64", "aarch64"],
                      help="guest architecture (default: the host's; another is emulated, slowly)")
    init.add_argument("--backend", choices=["auto", "qemu", "wsl"], default="auto",
                      help="what runs the guest (default: WSL2 on Windows where it works, else QEMU); "
                           "for wsl, --image is the guest's root file system tar (.tar or .tar.gz), or a guest "
                           "image directory holding rootfs.tar (default: the cached guest image's, else the "
                           "release's, downloaded)")
    init.add_argument("--start", action="store_true", help="start it once created")
    init.add_argument("--use-context", action="store_true",
                      help="once started, make the `berth` docker context the docker CLI's current one")
    start = named("start", "boot a machine and tunnel its engine")
    start.add_argument("--timeout", type=float, default=600, help="seconds to wait for the engine")
    start.add_argument("--use-context", action="store_true",
                       help="make the `berth` docker context the docker CLI's current one")
    context = named("context", "point the docker CLI's `berth` context at a machine (docker --context berth)")
    context.add_argument("--use", action="store_true", help="also make it the current context")
    context.add_argument("--rm", action="store_true", help="remove the context instead")
    commands.add_parser("forget-context", help="remove the docker CLI's `berth` context if Berth made it "
                                               "(what uninstalling Berth runs)")
    named("stop", "shut a machine down")
    rm = named("rm", "remove a machine and its disk")
    rm.add_argument("-f", "--force", action="store_true", help="stop it first if running")
    ls = commands.add_parser("ls", help="list machines")
    ls.add_argument("--format", choices=["table", "json"], default="table")
    named("inspect", "show a machine's settings and state as JSON")
    named("reclaim", "give the disk space the guest freed back to the host (fstrim)")
    ssh = named("ssh", "log into a machine, or run a command in it")
    ssh.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD")
    settings(named("set", "change a stopped machine's settings"), defaults=False)
    return parser


def run(argv: Sequence[str] | None = None, out: TextIO | None = None, machines: Machines | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    machines = machines or Machines()

    def progress(message: str) -> None:
        print(f"{args.command}: {message}", file=sys.stderr, flush=True)

    try:
        return _dispatch(args, machines, out, progress)
    except MachineError as e:
        print(f"berth machine: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _shares(args: argparse.Namespace) -> list[str] | None:
    if args.no_share:
        return []
    return list(args.share) if args.share else None


def _dispatch(args: argparse.Namespace, machines: Machines, out: TextIO, report: Progress) -> int:
    if args.command == "init":
        machine = machines.init(args.name, args.image, args.cpus, args.memory, args.disk, args.port,
                                _shares(args), args.accel, args.qemu or "", report, args.image_url,
                                _download_printer(sys.stderr), args.arch, args.backend)
        print(f"created machine {machine.name} ({machine.dir})", file=out)
        if args.start:
            machines.start(machine.name, report)
            _keep_context(machines, machine, args.use_context, out)
            _print_ready(machine, out)
    elif args.command == "start":
        machine = machines.start(args.name, report, args.timeout)
        _keep_context(machines, machine, args.use_context, out)
        _print_ready(machine, out)
    elif args.command == "context":
        machine = machines.get(args.name)
        if args.rm:
            dockercontext.forget_context(machines.context_host(machine))
            print(f"removed docker context {dockercontext.CONTEXT}", file=out)
        else:
            _keep_context(machines, machine, args.use, out)
    elif args.command == "forget-context":
        removed = dockercontext.remove_ours()
        print(f"removed docker context {dockercontext.CONTEXT}" if removed
              else f"no docker context {dockercontext.CONTEXT} of Berth's to remove", file=out)
    elif args.command == "stop":
        machines.stop(args.name, report)
    elif args.command == "rm":
        machines.remove(args.name, args.force)
        print(f"removed machine {args.name}", file=out)
    elif args.command == "ls":
        _ls(machines, args.format, out)
    elif args.command == "reclaim":
        before, after = machines.reclaim(args.name, report)
        print(f"machine {args.name}: disk {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB on the host", file=out)
    elif args.command == "inspect":
        print(json.dumps(machines.inspect(args.name), indent=2), file=out)
    elif args.command == "ssh":
        return _ssh(machines, args.name, args.cmd)
    elif args.command == "set":
        machines.update(args.name, cpus=args.cpus, memory_mib=args.memory, disk_gib=args.disk, ports=args.port,
                        shares=_shares(args) if (args.share or args.no_share) else None, accel=args.accel,
                        qemu=args.qemu)
        print(f"updated machine {args.name}", file=out)
    return 0


def _download_printer(err: TextIO) -> Callable[[Download], None]:
    """Download progress on one rewritten line on a terminal; every tenth of the way in a log."""
    tty = err.isatty()
    shown = {"tenth": -1}

    def show(download: Download) -> None:
        done = download.received >= download.total
        if tty:
            print(f"\rinit: {download.describe()}\033[K", end="\n" if done else "", file=err, flush=True)
            return
        tenth = 10 * download.received // max(download.total, 1)
        if tenth != shown["tenth"]:
            shown["tenth"] = tenth
            print(f"init: {download.describe()}", file=err, flush=True)

    return show


def _keep_context(machines: Machines, machine: Machine, use: bool, out: TextIO) -> None:
    """The docker CLI's `berth` context follows the machine last started; --use makes it current."""
    host = machines.context_host(machine)
    dockercontext.ensure(host)
    if use:
        dockercontext.use()
    current = dockercontext.current() == dockercontext.CONTEXT
    print(f"docker context {dockercontext.CONTEXT} -> {host}"
          + ("" if current else f" (`docker context use {dockercontext.CONTEXT}` makes it the default)"), file=out)


def _print_ready(machine: Machine, out: TextIO) -> None:
    print(f"machine {machine.name} is running; to use it:\n  export DOCKER_HOST={machine.docker_host}", file=out)


def _ls(machines: Machines, fmt: str, out: TextIO) -> None:
    rows = []
    for machine in machines.all():
        status = machines.status(machine.name)
        rows.append({"name": machine.name, "state": status.state, "cpus": machine.cpus,
                     "memory_mib": machine.memory_mib, "disk_gib": machine.disk_gib,
                     "docker_host": machine.docker_host, "published_ports": status.published})
    if fmt == "json":
        print(json.dumps(rows, indent=2), file=out)
        return
    header = ("NAME", "STATE", "CPUS", "MEMORY", "DISK", "DOCKER_HOST")
    table: list[tuple[str, ...]] = [header]
    for r in rows:
        table.append((str(r["name"]), str(r["state"]), str(r["cpus"]), f"{r['memory_mib']} MiB",
                      f"{r['disk_gib']} GiB", str(r["docker_host"])))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip(), file=out)


def _ssh(machines: Machines, name: str, command: list[str]) -> int:
    machine = machines.get(name)
    if machines.status(name).state != "running":
        raise MachineError(f"machine {name} is not running: `berth machine start {name}`")
    if shutil.which("ssh"):
        argv = machines.ssh_argv(name, command)
        if not command and hasattr(os, "execvp"):
            os.execvp(argv[0], argv)  # an interactive shell owns the terminal
        return subprocess.run(argv).returncode
    if not command:
        raise MachineError("an interactive shell needs OpenSSH's ssh client on PATH")
    # No OpenSSH client (some Windows installs): run the command over paramiko instead.
    from vmhost.ssh import Connection

    connection = Connection(machine.endpoint())
    try:
        status, stdout, stderr = connection.run(" ".join(command), timeout=300)
    finally:
        connection.close()
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    return status


def main() -> None:
    raise SystemExit(run())


if __name__ == "__main__":
    main()
