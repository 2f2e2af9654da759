"""The container lifecycle through the real `docker` CLI: every command of the table in
tests/README.md that is marked "lifecycle"."""

from __future__ import annotations

import json
import resource
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import docker, eventually, ok, removing_labelled
from tests.support.daemon import Berthd
from tests.support.terminal import Terminal

pytestmark = pytest.mark.e2e

TICKER = "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done"


@pytest.fixture
def env(docker_env: dict[str, str], busybox_image: str) -> Iterator[dict[str, str]]:
    yield from removing_labelled(docker_env, "berth.test=lifecycle")


def run_d(env: dict[str, str], *args: str) -> str:
    return ok(env, "run", "-d", "--label", "berth.test=lifecycle", *args)


def status(env: dict[str, str], name: str) -> str:
    return ok(env, "inspect", "-f", "{{.State.Status}}", name)


def test_run_detached_and_inspect_fields(env: dict[str, str]) -> None:
    cid = run_d(env, "--name", "insp", "-e", "GREETING=hi", "-w", "/tmp", "--hostname", "boxy",
                "--label", "tier=web", "-u", "guest", "busybox", "sh", "-c",
                "echo $GREETING $(pwd) $(hostname) $(id -un); sleep 300")
    info = json.loads(ok(env, "inspect", "insp"))[0]
    assert info["Id"] == cid and info["Name"] == "/insp"
    assert info["State"]["Running"] is True and info["State"]["Pid"] > 0
    assert info["Config"]["Labels"]["tier"] == "web"
    assert "GREETING=hi" in info["Config"]["Env"]
    assert info["Config"]["WorkingDir"] == "/tmp" and info["Config"]["User"] == "guest"
    assert info["Path"] == "sh" and info["Args"][0] == "-c"
    assert info["HostConfig"]["RestartPolicy"]["Name"] in ("no", "")
    assert eventually(lambda: "hi /tmp boxy guest" in docker(env, "logs", "insp").stdout)


def test_logs_follow_tail_since_and_streams(env: dict[str, str]) -> None:
    run_d(env, "--name", "logger", "busybox", "sh", "-c",
          "echo out-1; echo err-1 >&2; sleep 1.2; echo out-2; sleep 300")
    assert eventually(lambda: "out-1" in docker(env, "logs", "logger").stdout)
    both = docker(env, "logs", "logger")
    assert "out-1" in both.stdout and "err-1" in both.stderr and "err-1" not in both.stdout
    with subprocess.Popen(["docker", "logs", "-f", "logger"], env=env, stdout=subprocess.PIPE, text=True) as follow:
        try:
            assert follow.stdout is not None
            assert follow.stdout.readline() == "out-1\n"
            assert follow.stdout.readline() == "out-2\n"  # arrives live, after the sleep
        finally:
            follow.kill()
    assert docker(env, "logs", "--tail", "1", "logger").stdout == "out-2\n"
    cutoff = time.time()
    assert docker(env, "logs", "--since", str(cutoff), "logger").stdout == ""
    stamped = docker(env, "logs", "-t", "--tail", "1", "logger").stdout
    assert stamped.endswith(" out-2\n") and stamped[:4].isdigit()


def test_exec_interactive_through_a_pty(env: dict[str, str]) -> None:
    run_d(env, "--name", "exe", "busybox", "sleep", "300")
    term = Terminal(["docker", "exec", "-it", "exe", "sh"], env)
    assert term.expect(b"# ")
    term.send(b"echo $((6*7))\r")
    assert term.expect(b"42")
    term.send(b"exit 3\r")
    assert term.wait() == 3
    plain = docker(env, "exec", "exe", "sh", "-c", "echo o; echo e >&2; exit 7")
    assert (plain.returncode, plain.stdout, plain.stderr) == (7, "o\n", "e\n")
    assert docker(env, "exec", "-i", "exe", "cat", input="via stdin\n").stdout == "via stdin\n"
    assert ok(env, "exec", "-u", "guest", "-w", "/tmp", "exe", "sh", "-c", "id -u; pwd") == "1000\n/tmp"


def test_run_interactive_and_attach_detach(env: dict[str, str]) -> None:
    term = Terminal(["docker", "run", "-it", "--name", "tty", "--label", "berth.test=lifecycle", "busybox", "sh"], env)
    assert term.expect(b"# ")
    term.send(b"echo $((2+3))x\r")
    assert term.expect(b"5x")
    term.send(b"\x10\x11")  # ctrl-p ctrl-q detaches, the container keeps running
    assert term.wait() == 0
    assert status(env, "tty") == "running"
    again = Terminal(["docker", "attach", "tty"], env)
    again.send(b"echo back-$((1+1))\r")
    assert again.expect(b"back-2")
    again.send(b"exit 4\r")
    assert again.wait() == 4
    assert eventually(lambda: status(env, "tty") == "exited")
    assert ok(env, "inspect", "-f", "{{.State.ExitCode}}", "tty") == "4"


def test_stop_kill_restart_pause_wait(env: dict[str, str]) -> None:
    run_d(env, "--name", "cycle", "busybox", "sh", "-c", "trap 'exit 0' TERM; trap 'echo got-usr1' USR1; "
          "while true; do sleep 0.1; done")
    ok(env, "kill", "-s", "USR1", "cycle")
    assert eventually(lambda: "got-usr1" in docker(env, "logs", "cycle").stdout)
    ok(env, "pause", "cycle")
    assert status(env, "cycle") == "paused"
    assert "(Paused)" in ok(env, "ps", "--filter", "name=cycle", "--format", "{{.Status}}")
    ok(env, "unpause", "cycle")
    assert status(env, "cycle") == "running"
    first_start = ok(env, "inspect", "-f", "{{.State.StartedAt}}", "cycle")
    ok(env, "restart", "-t", "2", "cycle")
    assert status(env, "cycle") == "running"
    assert ok(env, "inspect", "-f", "{{.State.StartedAt}}", "cycle") != first_start
    ok(env, "stop", "cycle")
    assert ok(env, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "cycle") == "exited 0"
    run_d(env, "--name", "waited", "busybox", "sh", "-c", "sleep 0.5; exit 9")
    assert ok(env, "wait", "waited") == "9"
    run_d(env, "--name", "killed", "busybox", "sleep", "300")
    ok(env, "kill", "killed")
    assert ok(env, "wait", "killed") == "137"


def test_update_rename_ps_filters(env: dict[str, str]) -> None:
    cid = run_d(env, "--name", "upd", "--label", "role=db", "busybox", "sleep", "300")
    ok(env, "update", "--memory", "64m", "upd")
    assert ok(env, "inspect", "-f", "{{.HostConfig.Memory}}", "upd") == str(64 * 1024 * 1024)
    limit = ok(env, "exec", "upd", "sh", "-c",
               "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
    assert limit == str(64 * 1024 * 1024)
    ok(env, "rename", "upd", "upd2")
    assert ok(env, "inspect", "-f", "{{.Name}}", cid) == "/upd2"
    run_d(env, "--name", "quick", "busybox", "true")
    assert eventually(lambda: status(env, "quick") == "exited")
    names = ok(env, "ps", "-a", "--filter", "label=role=db", "--format", "{{.Names}}")
    assert names == "upd2"
    exited = ok(env, "ps", "-a", "--filter", "status=exited", "--filter", "label=berth.test=lifecycle",
                "--format", "{{.Names}}").split()
    assert "quick" in exited and "upd2" not in exited
    assert ok(env, "ps", "-q", "--filter", "name=upd2") == cid[:12]
    assert ok(env, "ps", "-a", "--filter", "exited=0", "--filter", "name=quick", "--format", "{{.Names}}") == "quick"


def test_events_filtered(env: dict[str, str]) -> None:
    since = str(time.time())
    run_d(env, "--name", "evented", "busybox", "true")
    assert eventually(lambda: status(env, "evented") == "exited")
    out = ok(env, "events", "--since", since, "--until", str(time.time()), "--filter", "container=evented",
             "--filter", "event=die", "--format",
             "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}")
    assert out.splitlines() == ["die evented 0"]
    everything = ok(env, "events", "--since", since, "--until", str(time.time()), "--filter", "container=evented",
                    "--format", "{{.Action}}").splitlines()
    assert everything[:3] == ["create", "start", "die"]


def test_restart_policy_on_failure(env: dict[str, str]) -> None:
    run_d(env, "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo attempt; exit 3")
    assert eventually(lambda: ok(env, "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky") == "2 exited")
    time.sleep(1)  # and no third attempt
    assert ok(env, "inspect", "-f", "{{.RestartCount}} {{.State.ExitCode}}", "flaky") == "2 3"
    assert docker(env, "logs", "flaky").stdout == "attempt\n" * 3


def test_health_check_turns_unhealthy(env: dict[str, str]) -> None:
    since = str(time.time())
    run_d(env, "--name", "sick", "--health-cmd", "test -f /tmp/ok", "--health-interval", "300ms",
          "--health-retries", "2", "busybox", "sh", "-c", "touch /tmp/ok; sleep 1.5; rm /tmp/ok; sleep 300")
    assert eventually(lambda: "(healthy)" in ok(env, "ps", "--filter", "name=sick", "--format", "{{.Status}}"))
    assert eventually(lambda: "(unhealthy)" in ok(env, "ps", "--filter", "name=sick", "--format", "{{.Status}}"))
    health = json.loads(ok(env, "inspect", "-f", "{{json .State.Health}}", "sick"))
    assert health["Status"] == "unhealthy" and health["FailingStreak"] >= 2
    assert health["Log"][-1]["ExitCode"] == 1
    actions = ok(env, "events", "--since", since, "--until", str(time.time()), "--filter", "event=health_status",
                 "--filter", "container=sick", "--format", "{{.Action}}").splitlines()
    assert actions == ["health_status: healthy", "health_status: unhealthy"]


def test_log_rotation_keeps_max_files(env: dict[str, str]) -> None:
    run_d(env, "--name", "chatty", "--log-opt", "max-size=4k", "--log-opt", "max-file=2", "busybox", "sh", "-c",
          "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); sleep 0.005; done; sleep 300")
    assert eventually(lambda: "line-299" in docker(env, "logs", "--tail", "1", "chatty").stdout)
    logs = docker(env, "logs", "chatty").stdout.splitlines()
    assert logs[-1] == "line-299"
    assert len(logs) < 300  # the oldest went with the rotated-away file
    numbers = [int(x.split("-")[1]) for x in logs]
    assert numbers == list(range(numbers[0], 300))  # no gap in what is kept


@pytest.fixture
def own_berthd(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Iterator[Berthd]:
    """A berthd of this test's own, since the test kills it."""
    daemon = Berthd(Path(tmp_path_factory.mktemp("live", numbered=True)))
    try:
        daemon.start()
        status_code, _, body = daemon.api.request("POST", "/images/create?fromSrc=-&repo=busybox&tag=latest",
                                                  busybox_tar.read_bytes())
        assert status_code == 200, body
        yield daemon
    finally:
        daemon.cleanup()


def test_live_restore_after_sigkill(own_berthd: Berthd, docker_env: dict[str, str]) -> None:
    env = dict(docker_env, DOCKER_HOST=own_berthd.url)
    ok(env, "run", "-d", "--name", "survivor", "busybox", "sh", "-c", TICKER)
    ok(env, "run", "-d", "--name", "mortal", "busybox", "sh", "-c", "sleep 1; exit 42")
    pid = int(ok(env, "inspect", "-f", "{{.State.Pid}}", "survivor"))
    own_berthd.stop(signal.SIGKILL)
    time.sleep(2)  # mortal exits while no berthd is watching
    own_berthd.start()
    assert ok(env, "inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "survivor") == f"running {pid}"
    assert eventually(lambda: ok(env, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "mortal")
                      == "exited 42")
    ticks = [int(x.split("-")[1]) for x in docker(env, "logs", "survivor").stdout.split()]
    assert ticks == list(range(len(ticks))) and len(ticks) >= 15  # no gap while berthd was down
    assert ok(env, "exec", "survivor", "echo", "exec-ok") == "exec-ok"
    with subprocess.Popen(["docker", "attach", "--no-stdin", "survivor"], env=env, stdout=subprocess.PIPE,
                          text=True) as attached:
        try:
            assert attached.stdout is not None and attached.stdout.readline().startswith("tick-")
        finally:
            attached.kill()
    ok(env, "stop", "-t", "1", "survivor")
    assert status(env, "survivor") == "exited"
    # A clean shutdown leaves containers running too.
    ok(env, "run", "-d", "--name", "stays", "busybox", "sleep", "300")
    own_berthd.stop(signal.SIGTERM)
    own_berthd.start()
    assert status(env, "stays") == "running"


def test_a_pause_cut_by_a_crash_is_settled_by_the_freezer(own_berthd: Berthd, docker_env: dict[str, str]) -> None:
    """berthd killed between the runtime's pause and the row's write: at restart the row says running
    while the processes are frozen; restore believes the freezer, so unpause works."""
    env = dict(docker_env, DOCKER_HOST=own_berthd.url)
    cid = ok(env, "run", "-d", "--name", "frozen", "busybox", "sleep", "300")
    ok(env, "pause", "frozen")
    own_berthd.stop(signal.SIGKILL)
    db = sqlite3.connect(own_berthd.root / "berth.db")
    try:
        db.execute("UPDATE containers SET state = 'running' WHERE id = ?", (cid,))
        db.commit()
    finally:
        db.close()
    own_berthd.start()
    assert status(env, "frozen") == "paused"
    ok(env, "unpause", "frozen")
    assert status(env, "frozen") == "running"
    ok(env, "rm", "-f", "frozen")


def test_force_removal_of_a_container_that_restarts_always(env: dict[str, str]) -> None:
    """As dockerd: `rm -f` kills and removes at once; the exit it causes is no reason to restart (it
    used to keep the removal waiting 30 s for an exit that never settled)."""
    run_d(env, "--name", "phoenix", "--restart", "always", "busybox", "sleep", "300")
    started = time.monotonic()
    ok(env, "rm", "-f", "phoenix")
    assert time.monotonic() - started < 10
    assert docker(env, "inspect", "phoenix").returncode != 0


def test_sandbox_options(env: dict[str, str]) -> None:
    out = ok(env, "run", "--rm", "--init", "--ulimit", "nofile=512:1024", "--security-opt", "no-new-privileges",
             "--shm-size", "32m", "--cpuset-cpus", "0", "--cap-drop", "NET_RAW", "busybox", "sh", "-c",
             "ps -o comm | sed -n 2p; ulimit -n; grep -E 'NoNewPrivs|Seccomp:|CapEff|Cpus_allowed_list' "
             "/proc/self/status; df -k /dev/shm | tail -1")
    lines = out.splitlines()
    assert lines[0] == "berth-init"  # --init runs a small init as PID 1
    assert lines[1] == "512"
    status = dict(line.split(":\t") for line in lines[2:6])
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2" and status["Cpus_allowed_list"] == "0"
    assert int(status["CapEff"], 16) == 0xA80425FB & ~(1 << 13)  # Docker's default set less NET_RAW
    assert lines[6].split()[1] == str(32 * 1024)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    ask = hard + 1 if hard != resource.RLIM_INFINITY else 1 << 20
    clamped = docker(env, "run", "--rm", "--ulimit", f"nofile={ask}:{ask}", "busybox", "sh", "-c", "ulimit -n")
    assert clamped.returncode == 0 and int(clamped.stdout) <= hard
    if hard != resource.RLIM_INFINITY:
        assert "exceeds the host's hard limit" in clamped.stderr  # said as a warning, not refused
    unconfined = ok(env, "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:",
                    "/proc/self/status")
    assert unconfined.split()[-1] == "0"
    bad = docker(env, "run", "--rm", "--ulimit", "bogus=1:2", "busybox", "true")
    assert bad.returncode != 0
