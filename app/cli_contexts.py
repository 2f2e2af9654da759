"""`berth context ls|use|create|rm|inspect`: Berth's engines are its contexts, shared with the desktop.

The desktop keeps them in its settings (Qt's INI format: `[contexts]` as `1\\name`, `1\\url`, ...,
`size`; the chosen engine as `[General] engine`). The CLI reads and writes that same file with
configparser, not Qt, so a context made here shows in the desktop's switcher and the other way round.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import sys
from pathlib import Path
from typing import TextIO

from app.cli_format import output, render
from engine.client.address import BERTH_SOCKET, DOCKER_SOCKET, default_engine_url

# As app/services/settings.py DEFAULT_CONTEXTS (which imports Qt, so is not imported here).
BUILT_IN = [("local berthd", f"unix://{BERTH_SOCKET}", "Berth's own engine on this machine"),
            ("dockerd", f"unix://{DOCKER_SOCKET}", "a stock Docker Engine"),
            ("podman", "unix:///run/podman/podman.sock", "podman's Docker-compatible socket")]
ADDED_NOTE = "added by you"
TLS_KEYS = ("tls_ca", "tls_cert", "tls_key", "tls_verify")


def settings_path() -> Path:
    """Where Qt's AppConfigLocation puts the desktop's settings for the application "Berth"."""
    if os.environ.get("BERTH_CONFIG_DIR"):
        return Path(os.environ["BERTH_CONFIG_DIR"]) / "desktop.ini"
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Preferences"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "Berth" / "desktop.ini"


class Store:
    """The settings file's contexts and chosen engine; other keys are kept as they are."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings_path()
        self.ini = configparser.RawConfigParser(delimiters=("=",), strict=False)
        self.ini.optionxform = str  # type: ignore[assignment,method-assign]  # Qt's keys are case-sensitive
        if self.path.exists():
            self.ini.read(self.path, encoding="utf-8")

    @property
    def engine(self) -> str:
        return self.ini.get("General", "engine", fallback="")

    def added(self) -> list[dict[str, str]]:
        """The user's contexts: name, url and any tls_* keys."""
        section = self.ini["contexts"] if self.ini.has_section("contexts") else {}
        size = int(section.get("size", "0") or 0)
        found = []
        for index in range(1, size + 1):
            entry = {key: section[f"{index}\\{key}"] for key in ("name", "url", *TLS_KEYS)
                     if f"{index}\\{key}" in section}
            if entry.get("name") and entry.get("url"):
                found.append(entry)
        return found

    def all(self) -> list[tuple[str, str, str]]:
        return [*BUILT_IN, *((c["name"], c["url"], ADDED_NOTE) for c in self.added())]

    def write(self, added: list[dict[str, str]] | None = None, engine: str | None = None) -> None:
        if added is not None:
            self.ini.remove_section("contexts")
            self.ini.add_section("contexts")
            for index, entry in enumerate(added, start=1):
                for key, value in entry.items():
                    self.ini.set("contexts", f"{index}\\{key}", value)
            self.ini.set("contexts", "size", str(len(added)))
        if engine is not None:
            if not self.ini.has_section("General"):
                self.ini.add_section("General")
            self.ini.set("General", "engine", engine)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", encoding="utf-8") as file:
            self.ini.write(file, space_around_delimiters=False)


def chosen_engine() -> str | None:
    """The engine `berth context use` (or the desktop's switcher) chose, if any; for the CLI's default
    after -H and $BERTH_HOST/$DOCKER_HOST, as docker's current context."""
    try:
        return Store().engine or None
    except (OSError, configparser.Error):
        return None


def cmd_context(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    store = Store()
    verb = args.verb
    known = store.all()
    current = os.environ.get("BERTH_HOST") or os.environ.get("DOCKER_HOST") or store.engine or default_engine_url()
    if verb in ("ls", "list"):
        if all(url != current for _, url, _ in known):
            known.insert(0, ("current", current, "from -H or the environment"))
        rows = [{"Name": name + (" *" if url == current else ""), "Current": url == current, "Description": note,
                 "DockerEndpoint": url} for name, url, note in known]
        text = output(args.format, rows, ["Name", "Description", "DockerEndpoint"],
                      {"Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT"},
                      quiet_field="Name", quiet=args.quiet)
        if args.quiet:
            text = text.replace(" *", "")
        print(text, file=out)
        return 0
    by_name = {name: url for name, url, _ in known}
    if verb == "use":
        if args.name not in by_name:
            print(f'context "{args.name}" does not exist', file=err)
            return 1
        store.write(engine=by_name[args.name])
        print(args.name, file=out)
        if os.environ.get("DOCKER_HOST") or os.environ.get("BERTH_HOST"):
            print("Warning: DOCKER_HOST environment variable overrides the active context.", file=err)
        return 0
    if verb == "create":
        from engine.client.address import check_engine_url

        if args.name in by_name:
            print(f'context "{args.name}" already exists', file=err)
            return 1
        url = check_engine_url(_host_of(args.docker))
        entry = {"name": args.name, "url": url}
        store.write(added=[*store.added(), entry])
        print(args.name, file=out)
        return 0
    if verb in ("rm", "remove"):
        code = 0
        added = store.added()
        for name in args.names:
            if name not in by_name:
                print(f'context "{name}" does not exist', file=err)
                code = 1
            elif all(entry["name"] != name for entry in added):
                print(f'context "{name}" is built in and cannot be removed', file=err)
                code = 1
            else:
                added = [entry for entry in added if entry["name"] != name]
                print(name, file=out)
        store.write(added=added)
        return code
    if verb == "inspect":
        names = args.names or [next((n for n, u, _ in known if u == current), "current")]
        found = [{"Name": n, "Metadata": {"Description": d}, "Endpoints": {"docker": {"Host": u}}}
                 for n, u, d in known if n in names]
        if args.format:
            print("\n".join(render(args.format, item) for item in found), file=out)
        else:
            print(json.dumps(found, indent=4), file=out)
        return 0 if len(found) == len(names) else 1
    raise AssertionError(verb)


def _host_of(docker: str) -> str:
    """docker context create's --docker "host=unix:///...,..." (or a bare address)."""
    for part in docker.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip() == "host":
            return value.strip()
    if "=" not in docker:
        return docker
    raise ValueError('--docker needs host=ADDRESS, e.g. --docker "host=tcp://10.0.0.5:2375"')
