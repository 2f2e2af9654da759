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
"""

from __future__ import annotations

from engine.compose.errors import ComposeError, ConfigError
from engine.compose.loader import find_compose_files, load_project, load_project_from_dict, normalize_project_name
from engine.compose.model import Project, Service
from engine.compose.operations import (
    ContainerState,
    LogLine,
    Progress,
    ProgressCallback,
    ProjectSummary,
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
