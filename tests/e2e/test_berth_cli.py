"""The docker CLI's everyday scenarios run twice against one berthd: once with `docker`, once with
`berth` in its place. Each run records what the user sees (exit codes, stdout and stderr with ids,
times and the run's own names normalised) and what changed in the engine (read by the docker CLI
both times); the two records must be equal, so `berth` answers as docker does, column for column.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cli import docker, eventually, removing_labelled
from tests.support.registry import Registry, running_registry

pytestmark = pytest.mark.e2e

BERTH = Path(sys.executable).with_name("berth")
# Each run names its objects with its own tag; both tags have one length so tables align alike.
TAGS = {"docker": "dkr", "berth": "brt"}


def _normalise(text: str, tag: str, also: dict[str, str] | None = None) -> str:
    for word, stands_for in (also or {}).items():
        text = text.replace(word, stands_for)
    text = text.replace(tag, "CLI").replace(str(BERTH), "docker").replace("berth", "docker")
    text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:<DIGEST>", text)
    text = re.sub(r"\b[0-9a-f]{64}\b", "<ID>", text)
    text = re.sub(r"\b[0-9a-f]{12}\b", "<ID>", text)
    text = re.sub(r"(Less than a second|About an? \w+|\d+ \w+) ago", "<AGO>", text)
    text = re.sub(r"Up (Less than a second|About an? \w+|\d+ \w+)", "Up <T>", text)
    # Columns: docker pads each to its widest cell; the cells themselves are what must match.
    return "\n".join(re.sub(r" {2,}", " | ", line.rstrip()) for line in text.splitlines())


class Cli:
    """`docker` or `berth` with the session's engine; every call is recorded, normalised."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.tag = TAGS[name]
        self.env = env
        self.record: list[tuple[str, int, str, str]] = []
        self.also: dict[str, str] = {}  # more words that differ between the runs, and what they stand for

    def n(self, word: str) -> str:
        """A name of this run's own."""
        return f"{word}-{self.tag}"

    def __call__(self, *args: str, input: str | None = None, keep: bool = True, timeout: float = 60
                 ) -> subprocess.CompletedProcess[str]:
        program = ["docker"] if self.name == "docker" else [str(BERTH)]
        out = subprocess.run([*program, *args], env=self.env, capture_output=True, text=True, input=input,
                             timeout=timeout)
        if keep:
            self.record.append((self.normalise(" ".join(args)), out.returncode,
                                self.normalise(out.stdout), self.normalise(out.stderr)))
        return out

    def engine(self, *args: str) -> None:
        """What the engine holds now, as the docker CLI reports it (the same observer for both runs)."""
        out = docker(self.env, *args)
        self.record.append((f"[engine] {self.normalise(' '.join(args))}", out.returncode,
                            self.normalise(out.stdout), ""))

    def normalise(self, text: str) -> str:
        return _normalise(text, self.tag, self.also)


def compare(scenario: Callable[[Cli], None], env: dict[str, str]) -> None:
    runs = {}
    for name in ("docker", "berth"):
        cli = Cli(name, env)
        scenario(cli)
        runs[name] = cli.record
    assert len(runs["berth"]) == len(runs["docker"])
    differences = [f"`{expected[0]}`\n  docker: {expected[1:]!r}\n  berth:  {seen[1:]!r}"
                   for seen, expected in zip(runs["berth"], runs["docker"], strict=True) if seen != expected]
    assert not differences, "berth and docker differ at\n" + "\n".join(differences)


@pytest.fixture
def env(docker_env: dict[str, str], busybox_image: str, docker_cli: str) -> Iterator[dict[str, str]]:
    assert BERTH.exists(), f"{BERTH}: install the project (pip install -e .)"
    yield from removing_labelled(docker_env, "berth.test=berth-cli")


LABEL = ("--label", "berth.test=berth-cli")


def test_run_exit_codes_and_output(env: dict[str, str]) -> None:
    def scenario(cli: Cli) -> None:
        cli("run", "--rm", *LABEL, "busybox", "echo", "hello")
        cli("run", "--name", cli.n("three"), *LABEL, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
        cli.engine("ps", "-a", "--filter", f"name={cli.n('three')}", "--format", "{{.Names}} {{.Status}}")
        cli("logs", cli.n("three"))
        cli("rm", cli.n("three"))
        cli.engine("ps", "-a", "--filter", f"name={cli.n('three')}", "-q")
        cli("run", "--rm", *LABEL, "-e", "GREETING=hi", "-w", "/tmp", "-u", "1:2", "busybox",
            "sh", "-c", "echo $GREETING $(pwd) $(id -u):$(id -g)")
        cli("run", "--rm", *LABEL, "busybox", "no-such-command")
        cli("run", "--pull", "never", *LABEL, "no-such-image:1")

    compare(scenario, env)


def test_detached_lifecycle_and_listings(env: dict[str, str]) -> None:
    def scenario(cli: Cli) -> None:
        name = cli.n("life")
        cli("run", "-d", "--name", name, *LABEL, "busybox", "sleep", "300")
        cli("ps", "--filter", f"name={name}")
        cli("ps", "--filter", f"name={name}", "--format", "{{.Names}}|{{.Image}}|{{.Command}}|{{.Status}}")
        cli("ps", "--filter", f"name={name}", "--format", "table {{.ID}}\\t{{.Names}}")
        cli("ps", "--filter", f"name={name}", "-q", "--no-trunc")
        out = cli("ps", "--filter", f"name={name}", "--format", "json", keep=False)
        cli.record.append(("ps --format json keys", out.returncode, " ".join(sorted(json.loads(out.stdout))), ""))
        cli("inspect", "-f", "{{.State.Status}} {{.Name}} {{.Config.Image}} {{json .Config.Cmd}}", name)
        cli("inspect", "-f", "{{range .Config.Cmd}}[{{.}}]{{end}} {{if .State.Running}}up{{else}}down{{end}} "
            "{{range .NetworkSettings.Networks}}{{len .IPAddress}}{{end}}", name)
        cli("rm", name)  # refused: it runs
        cli("pause", name)
        cli.engine("inspect", "-f", "{{.State.Status}}", name)
        cli("unpause", name)
        cli("exec", name, "sh", "-c", "echo in; exit 4")
        cli("exec", "-i", name, "cat", input="through stdin\n")
        cli("rename", name, cli.n("renamed"))
        cli("stop", "-t", "1", cli.n("renamed"))
        cli("wait", cli.n("renamed"))
        cli("start", cli.n("renamed"))
        cli("restart", "-t", "0", cli.n("renamed"))
        cli("kill", cli.n("renamed"))
        cli.engine("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", cli.n("renamed"))
        cli("rm", "-f", cli.n("renamed"), cli.n("never-was"))
        cli.engine("ps", "-a", "-q", "--filter", f"name={cli.n('renamed')}")

    compare(scenario, env)


def test_logs_flags(env: dict[str, str]) -> None:
    def scenario(cli: Cli) -> None:
        name = cli.n("logger")
        cli("run", "--name", name, *LABEL, "busybox", "sh", "-c",
            # Apart in time: stdout and stderr are two pipes, read in either order when written at once.
            "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three")
        cli("logs", name)
        cli("logs", "--tail", "1", name)
        cli("logs", "--since", "2000000000", name)
        stamped = cli("logs", "-t", "--tail", "1", name, keep=False).stdout
        cli.record.append(("logs -t shape", 0, re.sub(r"\d", "9", stamped), ""))
        cli("logs", "no-such-container")
        cli("rm", name)

    compare(scenario, env)


def test_images_tag_history_inspect_rmi_save_load(env: dict[str, str], tmp_path: Path) -> None:
    def scenario(cli: Cli) -> None:
        ref = f"busybox:{cli.n('tagged')}"
        cli("tag", "busybox", ref)
        cli("images", "busybox")
        cli("images", "--format", "{{.Repository}}:{{.Tag}}", "busybox")
        cli("images", "-q", ref)
        cli("history", "busybox")
        cli("history", "-q", "busybox")
        cli("inspect", "--format", "{{.Os}}/{{.Architecture}} {{len .RootFS.Layers}}", ref)
        cli("inspect", "--type", "image", "--format", "{{.Os}}", ref)
        tar = tmp_path / f"{cli.tag}.tar"
        cli("save", "-o", str(tar), ref)
        cli("rmi", ref)
        cli.engine("images", "-q", ref)
        cli("load", "-i", str(tar))
        cli.engine("images", "--format", "{{.Repository}}:{{.Tag}}", ref)
        cli("rmi", ref, f"busybox:{cli.n('never-was')}")
        cli("rmi", "busybox:no-such-tag")

    compare(scenario, env)


def test_volumes_and_networks(env: dict[str, str]) -> None:
    def scenario(cli: Cli) -> None:
        volume, network = cli.n("vol"), cli.n("net")
        cli("volume", "create", volume)
        cli("volume", "ls", "-q", "--filter", f"name={volume}")
        cli("volume", "ls", "--filter", f"name={volume}")
        cli("volume", "inspect", "-f", "{{.Name}} {{.Driver}}", volume)
        cli("run", "--rm", *LABEL, "-v", f"{volume}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
        cli("run", "--rm", *LABEL, "--mount", f"type=volume,source={volume},target=/data,readonly", "busybox",
            "cat", "/data/f")
        cli("volume", "rm", volume)
        cli("volume", "rm", volume)
        cli("network", "create", "--label", "berth.test=berth-cli", network, keep=False)
        cli("network", "ls", "--filter", f"name={network}", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
        cli("network", "ls", "--filter", f"name={network}")
        cli("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Internal}}", network)
        cli("run", "-d", "--name", cli.n("member"), *LABEL, "busybox", "sleep", "300", keep=False)
        cli("network", "connect", "--alias", "web", network, cli.n("member"))
        cli.engine("inspect", "-f", f"{{{{index .NetworkSettings.Networks \"{network}\" | printf \"%v\"}}}}",
                   cli.n("member"))
        cli("network", "disconnect", network, cli.n("member"))
        cli("rm", "-f", cli.n("member"))
        cli("network", "rm", network)
        cli("network", "rm", network)

    compare(scenario, env)


def test_files_ports_and_processes(env: dict[str, str], tmp_path: Path) -> None:
    def scenario(cli: Cli) -> None:
        name = cli.n("files")
        here = tmp_path / cli.tag
        here.mkdir()
        (here / "in.txt").write_text("from the host\n")
        cli("run", "-d", "--name", name, *LABEL, "-p", "127.0.0.1::80", "--expose", "81", "busybox",
            "sh", "-c", "echo made > /made.txt; sleep 300", keep=False)
        assert eventually(lambda: "made.txt" in docker(cli.env, "diff", name).stdout)
        cli("cp", str(here / "in.txt"), f"{name}:/tmp/")
        cli("exec", name, "cat", "/tmp/in.txt")
        cli("cp", f"{name}:/made.txt", str(here / "out.txt"))
        cli.record.append(("out.txt", 0, (here / "out.txt").read_text(), ""))
        cli("diff", name)
        top = cli("top", name, keep=False)
        cli.record.append(("top header", top.returncode, top.stdout.splitlines()[0].split()[0], ""))
        port = cli("port", name, keep=False)
        cli.record.append(("port", port.returncode, re.sub(r":\d+", ":<PORT>", port.stdout), port.stderr))
        cli("port", name, "81")
        stats = cli("stats", "--no-stream", name, keep=False)
        cli.record.append(("stats --no-stream", stats.returncode, cli.normalise(stats.stdout.splitlines()[0]),
                           stats.stderr))
        stats = cli("stats", "--no-stream", "--format", "{{.Name}} {{len .CPUPerc}}", name, keep=False)
        cli.record.append(("stats --format", stats.returncode, cli.normalise(stats.stdout.split()[0]), stats.stderr))
        cli("rm", "-f", name)

    compare(scenario, env)


def test_system_verbs_and_errors(env: dict[str, str]) -> None:
    def scenario(cli: Cli) -> None:
        cli("info", "--format", "{{.Name}} {{.OSType}}")
        cli("system", "info", "--format", "{{json .Architecture}}")
        df = cli("system", "df", keep=False)
        cli.record.append(("system df", df.returncode, "\n".join(line.split("  ")[0] for line in
                                                                  df.stdout.splitlines()), ""))
        start = docker(cli.env, "version", "--format", "{{.Server.Version}}")
        assert start.returncode == 0
        name = cli.n("evented")
        import time

        since = str(int(time.time()))
        cli("run", "--rm", "--name", name, *LABEL, "busybox", "true")
        until = str(int(time.time()) + 1)
        events = cli("events", "--since", since, "--until", until, "--filter", f"container={name}",
                     "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", keep=False)
        cli.record.append(("events --since --until", events.returncode, _normalise(events.stdout, cli.tag),
                           events.stderr))
        cli("frobnicate")
        cli("ps", "--no-such-flag")
        cli("stop", "no-such-container")

    compare(scenario, env)


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Registry]]:
    # One registry per run: a layer the first run pushed would be "Mounted from" it in the second.
    with running_registry(tmp_path_factory.mktemp("docker-registry")) as first, \
            running_registry(tmp_path_factory.mktemp("berth-registry")) as second:
        yield {"docker": first, "berth": second}


def test_push_pull_and_pull_on_run(env: dict[str, str], registries: dict[str, Registry]) -> None:
    def scenario(cli: Cli) -> None:
        registry = registries[cli.name]
        cli.also[registry.host] = "REGISTRY"
        name = f"{registry.host}/berth/{cli.n('box')}:1"
        cli("tag", "busybox", name)
        pushed = cli("push", name, keep=False)
        # berthd compresses a layer once and keeps it: only the first run's push says "Compressing".
        lines = [line for line in pushed.stdout.splitlines() if not line.endswith(": Compressing")]
        cli.record.append(("push", pushed.returncode, cli.normalise("\n".join(lines)), pushed.stderr))
        cli("rmi", name)
        cli("pull", name)
        cli("rmi", name)
        # Not on a terminal: one line per layer step, on stderr, as docker run prints a pull.
        cli("run", "--rm", *LABEL, name, "echo", "pulled")
        cli("run", "--rm", *LABEL, f"{registry.host}/berth/{cli.n('none')}:1", "true")
        cli("rmi", name)

    compare(scenario, env)


def _best_of(argv: list[str], env: dict[str, str], runs: int = 7) -> tuple[float, float]:
    """Best and median wall time of `runs` runs, in ms (the best is the program's own cost; the
    median also carries the load of whatever else this shared machine runs)."""
    import statistics
    import time

    took = []
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run(argv, env=env, capture_output=True, timeout=30)
        took.append(1000 * (time.perf_counter() - started))
        assert out.returncode == 0, out.stderr
    return min(took), statistics.median(took)


def test_berth_ps_answers_in_under_150_ms(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    for index in range(10):
        docker(env, "create", "--name", f"listed-{index}", *LABEL, "busybox", "true")
    berth_best, berth_median = _best_of([str(BERTH), "ps", "-a"], env)
    docker_best, docker_median = _best_of(["docker", "ps", "-a"], env)
    run_berth = _best_of([str(BERTH), "run", "--rm", "busybox", "true"], env, runs=5)
    run_docker = _best_of(["docker", "run", "--rm", "busybox", "true"], env, runs=5)
    with capsys.disabled():
        print(f"\nps -a, 10 containers: berth best {berth_best:.0f} ms (median {berth_median:.0f}), "
              f"docker best {docker_best:.0f} ms (median {docker_median:.0f})\n"
              f"run --rm busybox true: berth best {run_berth[0]:.0f} ms (median {run_berth[1]:.0f}), "
              f"docker best {run_docker[0]:.0f} ms (median {run_docker[1]:.0f})")
    assert berth_best < 150, f"berth ps took {berth_best:.0f} ms at best (docker: {docker_best:.0f} ms)"


def test_terminals_run_it_detach_exec_it_attach(env: dict[str, str]) -> None:
    from tests.support.terminal import Terminal

    def scenario(cli: Cli) -> None:
        program = "docker" if cli.name == "docker" else str(BERTH)
        name = cli.n("tty")
        term = Terminal([program, "run", "-it", "--name", name, *LABEL, "busybox", "sh"], env)
        seen = [term.expect(b"# ")]
        term.send(b"echo $((2+3))x\r")
        seen.append(term.expect(b"5x"))
        term.send(b"\x10\x11")  # ctrl-p ctrl-q: detached, the shell runs on
        cli.record.append(("run -it, then detach", term.wait(), repr(seen), ""))
        cli.engine("inspect", "-f", "{{.State.Status}}", name)
        term = Terminal([program, "exec", "-it", name, "sh", "-c", "test -t 0 && echo a-tty; exit 3"], env)
        cli.record.append(("exec -it", term.wait(), repr(term.expect(b"a-tty")), ""))
        term = Terminal([program, "attach", name], env)
        term.send(b"echo back-$((1+1))\r")
        seen = [term.expect(b"back-2")]
        term.send(b"exit 4\r")
        cli.record.append(("attach, then exit 4", term.wait(), repr(seen), ""))
        assert eventually(lambda: docker(env, "inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "exited")
        cli.engine("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)
        cli("attach", name)  # a stopped container
        cli("rm", name)

    compare(scenario, env)
