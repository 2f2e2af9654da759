"""`berth` image verbs: pull, push, login/logout, images, rmi, tag, history, save, load, import."""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlencode

from app.cli_format import output
from app.display import human_ago, human_size, short_id
from engine.client.errors import EngineClientError
from engine.client.references import parse_reference, split_reference

if TYPE_CHECKING:
    from engine.client import EngineClient

IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
                 "CreatedAt": "CREATED AT", "Size": "SIZE", "Digest": "DIGEST"}
IMAGE_DEFAULT = ["Repository", "Tag", "ID", "CreatedSince", "Size"]


DOCKER_HUB = "https://index.docker.io/v1/"


def _config_path() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


def registry_of(reference: str) -> str:
    first = reference.split("/", 1)[0]
    if "/" in reference and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def auth_header(reference: str) -> str | None:
    """X-Registry-Auth for `reference` from the docker CLI's config.json (the credentials `login` saved)."""
    try:
        auths = json.loads(_config_path().read_text()).get("auths", {})
    except (OSError, ValueError):
        return None
    entry = auths.get(registry_of(reference))
    if not entry or not entry.get("auth"):
        return None
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    body = {"username": user, "password": password, "serveraddress": registry_of(reference)}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


class ProgressView:
    """docker's pull/push output: a line per layer redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.lines: dict[str, int] = {}

    def show(self, item: Mapping[str, Any]) -> None:
        status = str(item.get("status", ""))
        layer = str(item.get("id", ""))
        progress = str(item.get("progress", ""))
        if not layer:
            self.out.write(f"{status}\n")
        elif self.tty:
            text = f"{layer}: {status} {progress}".rstrip()
            if layer not in self.lines:
                self.lines[layer] = len(self.lines)
                self.out.write(f"{text}\n")
            else:
                up = len(self.lines) - self.lines[layer]
                self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        elif not item.get("progressDetail") or status not in ("Downloading", "Extracting", "Pushing"):
            self.out.write(f"{layer}: {status}\n")
        self.out.flush()


async def pull_with_progress(engine: EngineClient, reference: str, out: TextIO, platform: str | None = None,
                             quiet: bool = False) -> None:
    view = ProgressView(out)
    async for item in engine.pull(reference, auth_header(reference), platform=platform):
        if not quiet:
            view.show(item)


def canonical_reference(reference: str) -> str:
    """What `docker pull` prints last: busybox -> docker.io/library/busybox:latest."""
    ref = parse_reference(reference)
    full = reference if (ref.tag or ref.digest) else f"{ref.name}:latest"
    if registry_of(full) != DOCKER_HUB:
        return full
    return f"docker.io/{'' if '/' in ref.name else 'library/'}{full}"


async def cmd_pull(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    await pull_with_progress(engine, args.image, out, args.platform, args.quiet)
    print(canonical_reference(args.image), file=out)
    return 0


async def cmd_push(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    image, tag = split_reference(args.image)
    auth = auth_header(args.image) or base64.urlsafe_b64encode(b"{}").decode()
    view = ProgressView(out)
    async for item in engine.request_lines("POST", f"images/{image}/push", params={"tag": tag} if tag else None,
                                           headers={"X-Registry-Auth": auth}):
        if not args.quiet:
            if item.get("status") or item.get("id"):
                view.show(item)
            aux = item.get("aux")
            if isinstance(aux, Mapping) and aux.get("Digest"):
                pass
    return 0


async def cmd_login(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    server = args.server or DOCKER_HUB
    user = args.username or input("Username: ")
    if args.password_stdin:
        password = sys.stdin.read().strip()
    elif args.password:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=err)
        password = args.password
    else:
        import getpass

        password = getpass.getpass("Password: ")
    result = await engine.request("POST", "auth", body={"username": user, "password": password,
                                                        "serveraddress": server})
    path = _config_path()
    config: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        config = json.loads(path.read_text())
    config.setdefault("auths", {})[server] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent="\t"))
    path.chmod(0o600)
    print(result.get("Status") or "Login Succeeded", file=out)
    return 0


async def cmd_logout(engine: EngineClient | None, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    server = args.server or DOCKER_HUB
    path = _config_path()
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        config = {}
    if server in config.get("auths", {}):
        del config["auths"][server]
        path.write_text(json.dumps(config, indent="\t"))
        print(f"Removing login credentials for {server}", file=out)
    else:
        print(f"Not logged in to {server}", file=out)
    return 0


def image_rows(images: list[dict[str, Any]], no_trunc: bool, digests: bool) -> list[dict[str, str]]:
    import time

    rows: list[dict[str, str]] = []
    for image in sorted(images, key=lambda i: int(i.get("Created", 0)), reverse=True):
        id = str(image.get("Id", ""))
        digest = next(iter(image.get("RepoDigests") or []), "@<none>").partition("@")[2]
        for tag in image.get("RepoTags") or ["<none>:<none>"]:
            repository, _, name = str(tag).rpartition(":")
            created = float(image.get("Created", 0))
            rows.append({"Repository": repository or "<none>", "Tag": name or "<none>",
                         "ID": id if no_trunc else short_id(id), "CreatedSince": human_ago(created),
                         "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created)),
                         "Size": human_size(float(image.get("Size", 0))), "Digest": digest})
    return rows


def print_images(images: list[dict[str, Any]], args: argparse.Namespace, out: TextIO) -> int:
    # A [REPOSITORY[:TAG]] argument went to the engine as a reference filter (`images_params`), and
    # docker shows every name of the images it matched, as does this.
    rows = image_rows(images, args.no_trunc, args.digests)
    default = ["Repository", "Tag", *(["Digest"] if args.digests else []), "ID", "CreatedSince", "Size"]
    text = output(args.format, rows, default, IMAGE_HEADERS, quiet_field="ID", quiet=args.quiet)
    if text:
        print(text, file=out)
    return 0


async def cmd_rmi(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    code = 0
    for name in args.images:
        try:
            result = await engine.request("DELETE", f"images/{name}",
                                          params={"force": args.force, "noprune": args.no_prune})
        except EngineClientError as exc:
            print(f"Error response from daemon: {exc.message}", file=err)
            code = 1
            continue
        for entry in result or []:
            for key, word in (("Untagged", "Untagged"), ("Deleted", "Deleted")):
                if entry.get(key):
                    print(f"{word}: {entry[key]}", file=out)
    return code


async def cmd_tag(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    repo, tag = split_reference(args.target)
    await engine.tag(args.source, repo, tag or "latest")
    return 0


async def cmd_history(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    rows = []
    for layer in await engine.image_history(args.image):
        id = str(layer.get("Id", ""))
        created_by = str(layer.get("CreatedBy", ""))
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append({"ID": id if (args.no_trunc or id == "<missing>") else short_id(id),
                     "CreatedSince": human_ago(float(layer.get("Created", 0))), "CreatedBy": created_by,
                     "Size": human_size(float(layer.get("Size", 0))), "Comment": str(layer.get("Comment", ""))})
    headers = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedBy": "CREATED BY", "Size": "SIZE",
               "Comment": "COMMENT"}
    text = output(args.format, rows, ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"], headers,
                  quiet_field="ID", quiet=args.quiet)
    print(text, file=out)
    return 0


async def cmd_save(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from app.cli_containers import binary_out

    sink = binary_out(args.output)
    try:
        # `names` repeats once per image, which a params mapping cannot say.
        query = urlencode([("names", name) for name in args.images])
        async for chunk in engine.request_bytes("GET", f"images/get?{query}"):
            sink.write(chunk)
    finally:
        sink.flush()
        if sink is not sys.stdout.buffer:
            sink.close()
    return 0


def _read_input(path: str | None) -> bytes:
    if path and path != "-":
        return Path(path).read_bytes()
    if sys.stdin.isatty():
        raise ValueError("requested load from stdin, but stdin is empty: give -i FILE or pipe a tar in")
    return sys.stdin.buffer.read()


async def cmd_load(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    data = _read_input(args.input)
    async for item in engine.request_lines("POST", "images/load", params={"quiet": True}, data=data,
                                           headers={"Content-Type": "application/x-tar"}):
        text = item.get("stream")
        if isinstance(text, str) and not args.quiet:
            out.write(text)
    return 0


async def cmd_import(engine: EngineClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    data = _read_input(args.file)
    params: dict[str, Any] = {"fromSrc": "-"}
    if args.reference:
        params["repo"], params["tag"] = split_reference(args.reference)
        params["tag"] = params["tag"] or "latest"
    if args.change:
        params["changes"] = args.change
    if args.message:
        params["message"] = args.message
    image_id = ""
    async for item in engine.request_lines("POST", "images/create", params=params, data=data,
                                           headers={"Content-Type": "application/x-tar"}):
        if isinstance(item.get("status"), str) and item["status"].startswith("sha256:"):
            image_id = item["status"]
    print(image_id, file=out)
    return 0
