"""The three engines under test, each private: its own data root, run dir and socket in a temp dir.

- berthd: this repository's engine, at its default log level (debug logging would tax it unfairly).
- dockerd: Debian's docker.io with `--bridge=none --iptables=false`, so it never touches the host's
  firewall (a running dockerd otherwise sets the FORWARD policy to DROP).
- podman: its own CLI for the CLI workloads, and `podman system service` for the API ones; private
  root, runroot, containers.conf, storage.conf and registries.conf, runc (crun refuses hybrid
  cgroups here), cgroupfs, file events, and no network by default (its bridge needs host rules).

Two passes do the same work on all three: every container with `--network none` (dockerd with
`--bridge=none --iptables=false`, podman with netns "none"), then, for the workloads where networking
costs, each engine on its default bridge inside a network namespace of the benchmark's own
(bench/netns.py), where dockerd and podman make their bridge, NAT rules and DNS as they do on a host.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.api import EngineApi
from bench.netns import BenchNetns
from bench.procs import children, end_processes, output, pids_mentioning, stop_popen
from tests.support.daemon import unmount_under

REPO = Path(__file__).resolve().parents[1]
NO_NETWORK = ["--network", "none"]
# The two passes: no networking at all, and each engine's default bridge in a namespace of its own.
NETWORK_MODES = ("none", "bridge")


def docker_cli() -> str:
    """The modern docker CLI: Debian's docker.io also installs a 20.10 client at /usr/bin/docker."""
    for candidate in ("/usr/local/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("bench: no docker CLI found")


class EngineStartError(RuntimeError):
    pass


class Engine(ABC):
    name: str
    """What the table calls it."""
    version_text = "?"

    def __init__(self, base: Path, network: str = "none") -> None:
        self.base = base
        self.network = network
        self.netns: BenchNetns | None = None
        self.socket = base / "engine.sock"
        self.api = EngineApi(self.socket)
        self.log = base / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.notes: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------------

    @abstractmethod
    def _daemon_argv(self) -> list[str]: ...

    def _daemon_env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self, timeout: float = 60) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if self.network == "bridge":
            self.netns = BenchNetns.create(f"berth-bench-{self.name}")
        self._prepare()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self._in_netns(self._daemon_argv()), stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, env=self._daemon_env(), cwd=REPO,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EngineStartError(f"{self.name} exited with {self.proc.returncode}: {self._log_tail()}")
            if self.socket.exists() and self.api.answers():
                return
            time.sleep(0.05)
        raise EngineStartError(f"{self.name} did not answer within {timeout:.0f}s: {self._log_tail()}")

    def _prepare(self) -> None:  # noqa: B027  an optional hook
        """Write config files before the daemon starts."""

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-2000:]
        return ""

    def remove_all_containers(self) -> None:
        with contextlib.suppress(Exception):
            for c in self.api.json("GET", "/containers/json?all=1"):
                with contextlib.suppress(Exception):
                    self.api.request("DELETE", f"/containers/{c['Id']}?force=1&v=1", timeout=60)

    def stop(self) -> None:
        """Remove what the benchmark left, stop the daemon, and remove every trace of it."""
        if self.proc is not None and self.proc.poll() is None:
            self.remove_all_containers()
        if self.proc is not None:
            stop_popen(self.proc)
            self.proc = None
        self._after_stop()
        # Monitors and shims outlive their daemon; they all name our temp dir in their command line.
        end_processes(pids_mentioning(self.base))
        unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)
        if self.netns is not None:
            self.netns.delete()
            self.netns = None

    def _in_netns(self, argv: list[str]) -> list[str]:
        return self.netns.wrap(argv) if self.netns is not None else argv

    @property
    def network_args(self) -> list[str]:
        """What a `run` or `create` on the CLI passes: nothing on the default bridge."""
        return NO_NETWORK if self.network == "none" else []

    def describe_network(self) -> str:
        """What the engine made for its containers' networking, read from its namespace."""
        return self.netns.describe() if self.netns is not None else "no network namespace (--network none)"

    def _after_stop(self) -> None:  # noqa: B027  an optional hook
        """Undo what the daemon leaves behind."""

    # -- how workloads reach it --------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The environment of a CLI call."""
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_CONFIG": str(self.base / "cli"),
                "DOCKER_BUILDKIT": "0"}

    def cli(self, *args: str) -> list[str]:
        return [docker_cli(), *args]

    def daemon_pids(self) -> list[int]:
        """The engine's own server processes (not the per-container monitors), for CPU and memory."""
        return [self.proc.pid] if self.proc is not None else []

    def python_pid(self) -> int | None:
        """The pid to profile with py-spy, if the engine is written in Python."""
        return None

    def create_body(self, cmd: Sequence[str], **extra: Any) -> dict[str, Any]:
        host_config = {"NetworkMode": "none"} if self.network == "none" else {}
        return {"Image": "busybox:latest", "Cmd": list(cmd), "HostConfig": host_config, **extra}

    def load_busybox(self, tar: Path) -> None:
        status, data = self.api.request("POST", "/images/create?fromSrc=-&repo=busybox&tag=latest",
                                        tar.read_bytes(), timeout=120)
        if status != 200:
            raise EngineStartError(f"{self.name}: importing busybox: {status} {data[-300:]!r}")

    def version(self) -> str:
        v = self.api.json("GET", "/version")
        return f"{v.get('Version', '?')} (API {v.get('ApiVersion', '?')})"

    def supports(self, method: str, path: str) -> bool:
        return self.api.has_route(method, path)


class Berthd(Engine):
    name = "berthd"

    def _daemon_argv(self) -> list[str]:
        return [sys.executable, "-m", "engine.daemon", "--root", str(self.base / "root"), "--exec-root",
                str(self.base / "run"), "--host", f"unix://{self.socket}"]

    def _daemon_env(self) -> dict[str, str]:
        # The embedded DNS never forwards names to the host's resolvers: loopback only.
        return {**os.environ, "BERTH_DNS_FORWARDERS": ""}

    def python_pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _after_stop(self) -> None:
        state = self.base / "run" / "runtime"
        for runtime in ("runc", "crun"):
            if shutil.which(runtime) and state.exists():
                listed = subprocess.run([runtime, f"--root={state}", "list", "-q"], capture_output=True, text=True)
                for cid in listed.stdout.split():
                    subprocess.run([runtime, f"--root={state}", "delete", "--force", cid], capture_output=True)
        if self.netns is not None:
            return  # its bridge, veths and chains are in the benchmark's namespace, deleted with it
        # berthd's bridge, veths, namespaces and firewall chains outlive it.
        with contextlib.suppress(Exception):
            from engine.networks.config import config_for
            from engine.networks.service import teardown

            teardown(config_for(self.base / "run"))


class Dockerd(Engine):
    name = "dockerd"

    def _prepare(self) -> None:
        (self.base / "daemon.json").write_text("{}\n")  # not the host's /etc/docker/daemon.json
        if Path("/run/containerd/containerd.sock").exists():
            self.notes.append("a system containerd socket exists: dockerd may use that containerd")

    def _daemon_argv(self) -> list[str]:
        # On the default bridge it makes docker0, its NAT and filter rules, in the benchmark's namespace.
        networking = ["--bridge=none", "--iptables=false", "--ip6tables=false"] if self.network == "none" else []
        return ["dockerd", "--config-file", str(self.base / "daemon.json"), "--data-root", str(self.base / "data"),
                "--exec-root", str(self.base / "exec"), "-H", f"unix://{self.socket}",
                "--pidfile", str(self.base / "dockerd.pid"), *networking, "--storage-driver=overlay2",
                "--default-ulimit", "nofile=20000:20000"]

    def daemon_pids(self) -> list[int]:
        # dockerd and the containerd it supervises (the shims are per container, like conmon).
        if self.proc is None:
            return []
        return [self.proc.pid, *(p for p in children(self.proc.pid) if "containerd" in _comm(p))]


class Podman(Engine):
    name = "podman"

    def _prepare(self) -> None:
        b = self.base
        (b / "containers.conf").write_text(
            "[containers]\n"
            '# Root here lacks CAP_SYS_RESOURCE and its hard nofile limit is 20000.\n'
            'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
            f'netns = "{"none" if self.network == "none" else "bridge"}"\n'
            'log_driver = "k8s-file"\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{b / "events.log"}"\n'
            "[network]\n"
            f'network_config_dir = "{b / "networks"}"\n')
        (b / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{b / "root"}"\nrunroot = "{b / "runroot"}"\n')
        self.write_registries()

    def write_registries(self, insecure: Sequence[str] = ()) -> None:
        """No search registries (a short name never reaches the network); loopback ones as plain HTTP."""
        text = "unqualified-search-registries = []\n"
        for host in insecure:
            text += f'[[registry]]\nlocation = "{host}"\ninsecure = true\n'
        (self.base / "registries.conf").write_text(text)

    @property
    def _conf_env(self) -> dict[str, str]:
        b = self.base
        return {"CONTAINERS_CONF": str(b / "containers.conf"), "CONTAINERS_STORAGE_CONF": str(b / "storage.conf"),
                "CONTAINERS_REGISTRIES_CONF": str(b / "registries.conf")}

    @property
    def _flags(self) -> list[str]:
        b = self.base
        return ["--root", str(b / "root"), "--runroot", str(b / "runroot"), "--tmpdir", str(b / "tmp"),
                "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def _daemon_env(self) -> dict[str, str]:
        return {**os.environ, **self._conf_env}

    def _daemon_argv(self) -> list[str]:
        return ["podman", *self._flags, "system", "service", "--time=0", f"unix://{self.socket}"]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self._conf_env}

    def cli(self, *args: str) -> list[str]:
        # podman's CLI makes the containers' networking itself: inside the namespace, as its service does.
        return self._in_netns(["podman", *self._flags, *args])

    def load_busybox(self, tar: Path) -> None:
        output(self.cli("import", str(tar), "busybox:latest"), env=self.env, timeout=120)

    def version(self) -> str:
        v = json.loads(output(self.cli("version", "--format", "json"), env=self.env))
        return str(v.get("Client", {}).get("Version", "?"))

    def supports(self, method: str, path: str) -> bool:
        return True  # the CLI does everything the workloads ask

    def _after_stop(self) -> None:
        # Containers made by the CLI after the service stopped (none expected), then podman's own cleanup.
        subprocess.run(self.cli("rm", "-af", "-t", "0"), env=self.env, capture_output=True, timeout=120)


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


ENGINES: dict[str, type[Engine]] = {"berthd": Berthd, "dockerd": Dockerd, "podman": Podman}


def stop_quietly(engine: Engine) -> None:
    with contextlib.suppress(Exception):
        engine.stop()
