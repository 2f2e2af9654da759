"""The engine's services wired together; the API layer reaches everything through this."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from engine.config import EnginePaths
from engine.containers.execs import ExecService
from engine.containers.service import ContainerService
from engine.events import EventBus
from engine.images.service import ImageService
from engine.networks.service import NetworkService
from engine.runtime.detect import RuntimeChoice
from engine.state.db import Database
from engine.swarm.service import SwarmService
from engine.volumes.mounts import VolumeMounts


@dataclass
class Backend:
    paths: EnginePaths
    db: Database
    events: EventBus
    images: ImageService
    containers: ContainerService
    execs: ExecService
    networks: NetworkService
    swarm: SwarmService
    volumes: VolumeMounts
    runtime: RuntimeChoice
    engine_id: str
    started: float = field(default_factory=time.time)
    hostname: str = field(default_factory=socket.gethostname)
