"""`berth` verbs on volumes, networks, the system (df, prune, info, events) and contexts."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, TextIO

from app.cli_containers import filters_of
from app.cli_format import output, render
from app.display import human_size, short_id
from engine.client.errors import EngineClientError
from engine.formats import human_size as size4  # HumanSizeWithPrecision(4), as `system df` prints

if TYPE_CHECKING:
    from engine.client import EngineClient


def _print(text: str, out: TextIO) -> None:
    if text:
        print(text, file=out)


def _filters(args: argparse.Namespace) -> dict[str, str] | None:
    given = getattr(args, "filter", None)
    return {"filters": json.dumps(filters_of(given))} if given else None


async def _many(names: list[str], action: Any, out: TextIO, err: TextIO) -> int:
    code = 0
    for name in names:
        try:
            await action(name)
            print(name, file=out)
        except EngineClientError as exc:
            print(f"Error response from daemon: {exc.message}", file=err)
            code = 1
    return code


async def _inspect(engine: EngineClient, path: str, names: list[str], format: str | None, out: TextIO,
                   err: TextIO) -> int:
    found, code = [], 0
    for name in names:
        try:
            found.append(await engine.request("GET", path.format(name)))
        except EngineClientError as exc:
            print(f"Error response from daemon: {exc.message}", file=err)
            code = 1
    if format:
        _print("\n".join(render(format, item) for item in found), out)
    else:
        print(json.dumps(found, indent=4), file=out)
    return code


async def cmd_volume(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    verb = args.verb
    if verb == "ls":
        result = await engine.request("GET", "volumes", params=_filters(args))
        rows = [{"Driver": str(v.get("Driver", "")), "Name": str(v.get("Name", "")),
                 "Mountpoint": str(v.get("Mountpoint", "")), "Scope": str(v.get("Scope", ""))}
                for v in sorted(result.get("Volumes") or [], key=lambda v: str(v.get("Name")))]
        _print(output(args.format, rows, ["Driver", "Name"], {"Driver": "DRIVER", "Name": "VOLUME NAME"},
                      quiet_field="Name", quiet=args.quiet), out)
        return 0
    if verb == "create":
        labels = dict(item.partition("=")[::2] for item in args.label)
        options = dict(item.partition("=")[::2] for item in args.opt)
        created = await engine.request("POST", "volumes/create", body={
            "Name": args.name or "", "Driver": args.driver, "Labels": labels, "DriverOpts": options})
        print(created.get("Name", ""), file=out)
        return 0
    if verb == "rm":
        return await _many(args.names, lambda n: engine.remove_volume(n, args.force), out, err)
    if verb == "inspect":
        return await _inspect(engine, "volumes/{}", args.names, args.format, out, err)
    if verb == "prune":
        params = {"filters": json.dumps({"all": ["true"]})} if args.all else None
        result = await engine.request("POST", "volumes/prune", params=params, long=True)
        _print_pruned("Deleted Volumes:", result.get("VolumesDeleted"), result.get("SpaceReclaimed"), out)
        return 0
    raise AssertionError(verb)


def _print_pruned(title: str, names: list[str] | None, space: int | None, out: TextIO) -> None:
    if names:
        print(title, file=out)
        print("\n".join(names) + "\n", file=out)
    if space is not None:
        print(f"Total reclaimed space: {human_size(float(space))}", file=out)


async def cmd_network(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    verb = args.verb
    if verb == "ls":
        result = await engine.request("GET", "networks", params=_filters(args))
        rows = [{"ID": str(n.get("Id", "")) if args.no_trunc else short_id(str(n.get("Id", ""))),
                 "Name": str(n.get("Name", "")), "Driver": str(n.get("Driver", "")),
                 "Scope": str(n.get("Scope", "")), "Internal": str(n.get("Internal", False)).lower()}
                for n in sorted(result or [], key=lambda n: str(n.get("Name")))]
        _print(output(args.format, rows, ["ID", "Name", "Driver", "Scope"],
                      {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"},
                      quiet_field="ID", quiet=args.quiet), out)
        return 0
    if verb == "create":
        body: dict[str, Any] = {"Name": args.name, "Driver": args.driver, "Internal": args.internal,
                                "Attachable": args.attachable,
                                "Labels": dict(item.partition("=")[::2] for item in args.label)}
        if args.subnet:
            config = {"Subnet": args.subnet, **({"Gateway": args.gateway} if args.gateway else {})}
            body["IPAM"] = {"Driver": "default", "Config": [config]}
        created = await engine.request("POST", "networks/create", body=body)
        print(created.get("Id", ""), file=out)
        return 0
    if verb == "rm":
        code = await _many(args.names, engine.remove_network, out, err)
        if code:
            print(f"exit status {code}", file=err)  # docker's network rm says it too
        return code
    if verb == "inspect":
        return await _inspect(engine, "networks/{}", args.names, args.format, out, err)
    if verb in ("connect", "disconnect"):
        body = {"Container": args.container}
        if verb == "connect" and (args.alias or args.ip):
            body["EndpointConfig"] = {"Aliases": args.alias or None,
                                      **({"IPAMConfig": {"IPv4Address": args.ip}} if args.ip else {})}
        if verb == "disconnect":
            body["Force"] = args.force
        await engine.request("POST", f"networks/{args.network}/{verb}", body=body)
        return 0
    if verb == "prune":
        result = await engine.request("POST", "networks/prune", long=True)
        _print_pruned("Deleted Networks:", result.get("NetworksDeleted"), None, out)
        return 0
    raise AssertionError(verb)


async def cmd_system(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    verb = args.verb
    if verb == "info":
        info = await engine.info()
        if args.format:
            print(render(args.format, info), file=out)
            return 0
        keys = ["Name", "ServerVersion", "OperatingSystem", "KernelVersion", "Architecture", "NCPU", "MemTotal",
                "Driver", "CgroupDriver", "CgroupVersion", "DockerRootDir", "Containers", "ContainersRunning",
                "ContainersPaused", "ContainersStopped", "Images"]
        print("Server:", file=out)
        for key in keys:
            if key in info:
                value = human_size(float(info[key])) if key == "MemTotal" else info[key]
                print(f" {key}: {value}", file=out)
        return 0
    if verb == "df":
        df = await engine.request("GET", "system/df", long=True)
        images = df.get("Images") or []
        containers = df.get("Containers") or []
        volumes = df.get("Volumes") or []
        rows = [
            {"Type": "Images", "TotalCount": str(len(images)),
             "Active": str(sum(1 for i in images if int(i.get("Containers", 0) or 0) > 0)),
             "Size": size4(float(df.get("LayersSize", 0) or 0)),
             "Reclaimable": _share(sum(int(i.get("Size", 0) or 0) for i in images
                                       if int(i.get("Containers", 0) or 0) <= 0),
                                   int(df.get("LayersSize", 0) or 0))},
            {"Type": "Containers", "TotalCount": str(len(containers)),
             "Active": str(sum(1 for c in containers if c.get("State") == "running")),
             "Size": size4(float(sum(int(c.get("SizeRw", 0) or 0) for c in containers))),
             "Reclaimable": _share(sum(int(c.get("SizeRw", 0) or 0) for c in containers
                                       if c.get("State") != "running"),
                                   sum(int(c.get("SizeRw", 0) or 0) for c in containers))},
            {"Type": "Local Volumes", "TotalCount": str(len(volumes)),
             "Active": str(sum(1 for v in volumes if int((v.get("UsageData") or {}).get("RefCount", 0)) > 0)),
             "Size": size4(float(sum(max(0, int((v.get("UsageData") or {}).get("Size", 0))) for v in volumes))),
             "Reclaimable": _share(sum(max(0, int((v.get("UsageData") or {}).get("Size", 0))) for v in volumes
                                       if int((v.get("UsageData") or {}).get("RefCount", 0)) <= 0),
                                   sum(max(0, int((v.get("UsageData") or {}).get("Size", 0))) for v in volumes))},
            {"Type": "Build Cache", "TotalCount": str(len(df.get("BuildCache") or [])), "Active": "0",
             "Size": "0B", "Reclaimable": "0B"},
        ]
        _print(output(args.format, rows, ["Type", "TotalCount", "Active", "Size", "Reclaimable"],
                      {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
                       "Reclaimable": "RECLAIMABLE"}), out)
        return 0
    if verb == "prune":
        kinds = [("containers/prune", "ContainersDeleted", "Deleted Containers:"),
                 ("networks/prune", "NetworksDeleted", "Deleted Networks:"),
                 *((("volumes/prune", "VolumesDeleted", "Deleted Volumes:"),) if args.volumes else ()),
                 ("images/prune", "ImagesDeleted", "Deleted Images:")]
        warning = ("This will remove all stopped containers, unused networks, dangling images"
                   f"{' and unused volumes' if args.volumes else ''}")
        if args.only == "containers":
            kinds, warning = kinds[:1], "This will remove all stopped containers"
        elif args.only == "images":
            kinds = kinds[-1:]
            unused = "images without at least one container associated to them" if args.all else "dangling images"
            warning = f"This will remove all {unused}"
        if not args.force:
            answer = input(f"WARNING! {warning}.\nAre you sure you want to continue? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                return 0
        total = 0
        for path, key, title in kinds:
            params = {"filters": json.dumps({"dangling": ["false"]})} if path == "images/prune" and args.all else None
            result = await engine.request("POST", path, params=params, long=True)
            names = result.get(key) or []
            if key == "ImagesDeleted":
                names = [next(f"{k.lower()}: {v}" for k, v in n.items()) for n in names]
            _print_pruned(title, names, None, out)
            total += int(result.get("SpaceReclaimed", 0) or 0)
        print(f"Total reclaimed space: {human_size(float(total))}", file=out)
        return 0
    if verb == "events":
        return await cmd_events(engine, args, out, err)
    raise AssertionError(verb)


def _share(part: int, whole: int) -> str:
    return f"{size4(float(part))} ({100 * part // whole}%)" if whole and part else size4(float(part))


async def cmd_events(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from datetime import datetime

    from app.cli_containers import _timestamp

    params: dict[str, str] = {}
    if args.since:
        params["since"] = _timestamp(args.since)
    if args.until:
        params["until"] = _timestamp(args.until)
    if args.filter:
        params["filters"] = json.dumps(filters_of(args.filter))
    async for event in engine.request_lines("GET", "events", params=params):
        if args.format:
            print(render(args.format, event) if args.format != "json" else json.dumps(event), file=out)
        else:
            nanos = int(event.get("timeNano") or int(event.get("time", 0)) * 10**9)
            when = datetime.fromtimestamp(nanos / 1e9).astimezone().strftime("%Y-%m-%dT%H:%M:%S.%f")
            actor = event.get("Actor") or {}
            attributes = ", ".join(f"{k}={v}" for k, v in sorted((actor.get("Attributes") or {}).items()))
            print(f"{when}{nanos % 1000:03d}{datetime.now().astimezone().strftime('%z')[:3]}:"
                  f"{datetime.now().astimezone().strftime('%z')[3:]} {event.get('Type')} {event.get('Action')} "
                  f"{actor.get('ID', '')} ({attributes})", file=out)
        out.flush()
    return 0
