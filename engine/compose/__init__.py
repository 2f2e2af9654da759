"""engine.compose: multi-container projects (the Compose Specification) over the Engine API.

A client-side library with no Qt, used by `berth compose` (`engine.compose.cli`) and by the desktop's
compose page. It talks only the Docker Engine API, so it drives berthd and a stock dockerd alike, and
labels what it makes as Docker Compose does, so projects made by either tool are recognised by both.

    project = load_project(["compose.yaml"])
    async with EngineClient(url) as engine:  # engine.client's, as every other caller's
        await up(engine, project, progress=print)
        print(await ps(engine, project))
        await down(engine, project, volumes=True)

An engine's refusal or absence is the client's `EngineClientError` or `EngineUnreachable`;
`ComposeError` is what compose itself finds wrong (a file, a dependency that never became healthy).

The names below are loaded on first use (PEP 562), as engine.client's are: the desktop reads
`ContainerState` and `ProjectSummary` before its first paint, and the operations would bring the
client's HTTP stack and the loader YAML and the Compose schema's validator (~250 ms) with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.client.lazy import attribute_loader

if TYPE_CHECKING:
    from engine.compose.errors import ComposeError, ConfigError
    from engine.compose.loader import find_compose_files, load_project, load_project_from_dict, normalize_project_name
    from engine.compose.model import Project, Service
    from engine.compose.operations import (
        build_images,
        down,
        exec_command,
        list_projects,
        logs,
        ps,
        pull_images,
        restart,
        run,
        start,
        stop,
        up,
    )
    from engine.compose.results import ContainerState, LogLine, Progress, ProgressCallback, ProjectSummary

_HOMES = {
    "ComposeError": "errors",
    "ConfigError": "errors",
    "ContainerState": "results",
    "LogLine": "results",
    "Progress": "results",
    "ProgressCallback": "results",
    "Project": "model",
    "ProjectSummary": "results",
    "Service": "model",
    "build_images": "operations",
    "down": "operations",
    "exec_command": "operations",
    "find_compose_files": "loader",
    "list_projects": "operations",
    "load_project": "loader",
    "load_project_from_dict": "loader",
    "logs": "operations",
    "normalize_project_name": "loader",
    "ps": "operations",
    "pull_images": "operations",
    "restart": "operations",
    "run": "operations",
    "start": "operations",
    "stop": "operations",
    "up": "operations",
}

__all__ = [
    "ComposeError",
    "ConfigError",
    "ContainerState",
    "LogLine",
    "Progress",
    "ProgressCallback",
    "Project",
    "ProjectSummary",
    "Service",
    "build_images",
    "down",
    "exec_command",
    "find_compose_files",
    "list_projects",
    "load_project",
    "load_project_from_dict",
    "logs",
    "normalize_project_name",
    "ps",
    "pull_images",
    "restart",
    "run",
    "start",
    "stop",
    "up",
]


__getattr__ = attribute_loader(__name__, _HOMES, globals())
