"""`berth context ls`: the engines berth can reach, the current one starred (as `docker context ls`)."""

from __future__ import annotations

import argparse
from typing import TextIO

from app.cli_format import output
from engine.client.address import BERTH_SOCKET, DOCKER_SOCKET, default_engine_url

# The desktop's built-in contexts (app/services/settings.py DEFAULT_CONTEXTS); its added ones live
# in Qt settings, which the CLI does not import.
CONTEXTS = [("local berthd", f"unix://{BERTH_SOCKET}", "Berth's own engine on this machine"),
            ("dockerd", f"unix://{DOCKER_SOCKET}", "a stock Docker Engine"),
            ("podman", "unix:///run/podman/podman.sock", "podman's Docker-compatible socket")]


def list_contexts(args: argparse.Namespace, out: TextIO) -> int:
    current = default_engine_url()
    known = list(CONTEXTS)
    if all(url != current for _, url, _ in known):
        known.insert(0, ("current", current, "from -H or the environment"))
    rows = [{"Name": name + (" *" if url == current else ""), "Description": note, "DockerEndpoint": url}
            for name, url, note in known]
    print(output(args.format, rows, ["Name", "Description", "DockerEndpoint"],
                 {"Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT"},
                 quiet_field="Name", quiet=args.quiet), file=out)
    return 0
