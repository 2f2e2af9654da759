"""The exec fast path against a real berthd and real runc containers: what a process started by
berthd's zygote sees of itself is what a process started by `runc exec` sees.

The runtime's path is reached through a terminal (`docker exec -t`), which the fast path always
leaves to conmon and runc; the fast path's output is compared with it line by line (the terminal's
CRLFs undone, TERM given to both)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import docker, eventually, ok, removing_labelled
from tests.support.daemon import Berthd

pytestmark = pytest.mark.integration

LABEL = "berth.test=fastexec"
KINDS = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")
PROBE = (
    "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Uid|Gid|Groups):' /proc/self/status; "
    "echo --; cat /proc/self/cgroup; echo --; "
    f"for k in {' '.join(KINDS)}; do readlink /proc/self/ns/$k; done; echo --; "
    "pwd; umask; cat /proc/self/oom_score_adj; env | sort; echo --; cat /proc/self/limits"
)


@pytest.fixture
def env(docker_env: dict[str, str], busybox_image: str) -> Iterator[dict[str, str]]:
    yield from removing_labelled(docker_env, LABEL)


def run_d(env: dict[str, str], *args: str) -> str:
    return ok(env, "run", "-d", "--label", LABEL, *args)


def fast(env: dict[str, str], *args: str) -> str:
    return ok(env, "exec", "-e", "TERM=xterm", *args, strip=False)


def via_runtime(env: dict[str, str], *args: str) -> str:
    return ok(env, "exec", "-t", *args, strip=False).replace("\r\n", "\n")


def sections(text: str) -> list[str]:
    return text.split("--\n")


def assert_same_process(env: dict[str, str], *args: str) -> list[str]:
    """The probe through both paths; returns the fast path's sections."""
    mine, theirs = sections(fast(env, *args, "sh", "-c", PROBE)), sections(via_runtime(env, *args, "sh", "-c", PROBE))
    assert mine == theirs
    return mine


def init_namespaces(env: dict[str, str], container: str) -> list[str]:
    pid = int(ok(env, "inspect", "-f", "{{.State.Pid}}", container))
    return [os.readlink(f"/proc/{pid}/ns/{kind}") for kind in KINDS]


def test_a_default_container_is_entered_as_runc_exec_enters_it(env: dict[str, str]) -> None:
    run_d(env, "--name", "fx-default", "busybox", "sleep", "300")
    status, cgroups, namespaces, rest = assert_same_process(env, "fx-default")[:4]
    assert "Seccomp:\t2" in status and "NoNewPrivs:\t0" in status and "Uid:\t0\t0\t0\t0" in status
    assert namespaces.split() == init_namespaces(env, "fx-default")
    cid = ok(env, "inspect", "-f", "{{.Id}}", "fx-default")
    assert all(line.endswith(f"/berth/{cid}") for line in cgroups.split())
    assert len(cgroups.split()) == len(Path("/proc/self/cgroup").read_text().split())  # every hierarchy
    assert "HOME=/root" in rest and "PATH=" in rest


def test_user_privileged_and_security_options_match_the_runtime(env: dict[str, str]) -> None:
    run_d(env, "--name", "fx-opts", "--cap-drop", "chown", "--cap-add", "sys_ptrace", "--security-opt",
          "no-new-privileges", "--ulimit", "nofile=1024:2048", "-w", "/tmp", "-e", "MINE=1",
          "busybox", "sleep", "300")
    status = assert_same_process(env, "fx-opts")[0]
    assert "NoNewPrivs:\t1" in status and "Seccomp:\t2" in status
    guest = assert_same_process(env, "-u", "guest", "-w", "/", "fx-opts")[0]
    assert "Uid:\t1000\t1000\t1000\t1000" in guest and "CapEff:\t0000000000000000" in guest
    assert_same_process(env, "-u", "1000:100", "fx-opts")
    privileged = assert_same_process(env, "--privileged", "fx-opts")[0]
    ours = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("CapBnd:"))
    assert f"CapEff:{ours.removeprefix('CapBnd:')}" in privileged  # all that berthd holds
    assert "Seccomp:\t2" in privileged


def test_the_seccomp_filter_blocks_what_the_default_profile_blocks(env: dict[str, str]) -> None:
    run_d(env, "--name", "fx-seccomp", "busybox", "sleep", "300")
    for extra in ((), ("--privileged",)):
        out = docker(env, "exec", *extra, "fx-seccomp", "unshare", "-U", "true")
        assert out.returncode != 0 and "Operation not permitted" in out.stderr, out
    # an unconfined container: the same command goes through (the filter above was the reason)
    run_d(env, "--name", "fx-unconfined", "--security-opt", "seccomp=unconfined", "--cap-add", "sys_admin",
          "busybox", "sleep", "300")
    status = fast(env, "fx-unconfined", "grep", "^Seccomp:", "/proc/self/status")
    assert status == "Seccomp:\t0\n"
    assert docker(env, "exec", "fx-unconfined", "unshare", "-U", "true").returncode == 0


def test_exit_codes_output_streams_and_stdin(env: dict[str, str]) -> None:
    run_d(env, "--name", "fx-io", "busybox", "sleep", "300")
    assert docker(env, "exec", "fx-io", "true").returncode == 0
    assert docker(env, "exec", "fx-io", "sh", "-c", "exit 3").returncode == 3
    assert docker(env, "exec", "fx-io", "sh", "-c", "kill -9 $$").returncode == 137
    split = docker(env, "exec", "fx-io", "sh", "-c", "echo o; echo e >&2; exit 7")
    assert (split.returncode, split.stdout, split.stderr) == (7, "o\n", "e\n")
    assert docker(env, "exec", "-i", "fx-io", "cat", input="via stdin\n").stdout == "via stdin\n"
    big = "x" * 1_000_000
    assert docker(env, "exec", "-i", "fx-io", "wc", "-c", input=big).stdout.strip() == "1000000"
    missing = docker(env, "exec", "fx-io", "no-such-command")
    assert missing.returncode != 0 and "executable file not found" in missing.stderr, missing


def test_the_fast_path_started_it_and_reports_its_pid(env: dict[str, str], berthd: Berthd) -> None:
    run_d(env, "--name", "fx-pid", "busybox", "sleep", "300")
    exec_id = create_exec(berthd, "fx-pid", ["sleep", "30"])
    status, _, _ = berthd.api.request("POST", f"/exec/{exec_id}/start", json.dumps({"Detach": True}).encode(),
                                      {"Content-Type": "application/json"})
    assert status == 200
    info = inspect_exec(berthd, exec_id)
    assert info["Running"] is True and info["Pid"] > 0
    parent = Path(f"/proc/{info['Pid']}/status").read_text().split("PPid:")[1].split()[0]
    assert "nsenter.py" in Path(f"/proc/{parent}/cmdline").read_bytes().decode()  # the zygote, not conmon
    assert os.readlink(f"/proc/{parent}/exe").startswith("/memfd:berth-exec-zygote")  # sealed, never written
    # a command whose interpreter is /proc/self/exe never gets a binary of the host's it could write
    ok(env, "exec", "fx-pid", "sh", "-c", "printf '#!/proc/self/exe\\n' > /x.sh; chmod +x /x.sh")
    probe = docker(env, "exec", "fx-pid", "/x.sh", "-S", "-c", "import os; os.open('/proc/self/exe', os.O_WRONLY)")
    assert probe.returncode != 0, probe
    os.kill(info["Pid"], signal.SIGTERM)
    assert eventually(lambda: inspect_exec(berthd, exec_id)["Running"] is False)
    assert inspect_exec(berthd, exec_id)["ExitCode"] == 128 + signal.SIGTERM


def test_execs_at_once_and_a_zygote_that_died(env: dict[str, str], berthd: Berthd) -> None:
    run_d(env, "--name", "fx-many", "busybox", "sleep", "300")
    procs = [subprocess.Popen(["docker", "exec", "fx-many", "sh", "-c", f"echo {i}; exit {i % 4}"], env=env,
                              stdout=subprocess.PIPE, text=True) for i in range(12)]
    results = [(p.communicate(timeout=60)[0], p.returncode) for p in procs]
    assert results == [(f"{i}\n", i % 4) for i in range(12)]
    assert berthd.proc is not None
    zygotes = [pid for pid in os.listdir("/proc") if pid.isdigit() and zygote_of(pid, berthd.proc.pid)]
    assert len(zygotes) == 1
    os.kill(int(zygotes[0]), signal.SIGKILL)  # this berthd's own, no other
    assert ok(env, "exec", "fx-many", "echo", "again") == "again"  # a new zygote


def zygote_of(pid: str, daemon: int) -> bool:
    """Whether process `pid` is the exec zygote of the berthd whose pid is `daemon`."""
    try:
        parent = int(Path(f"/proc/{pid}/status").read_text().split("PPid:")[1].split()[0])
        return parent == daemon and os.readlink(f"/proc/{pid}/exe").startswith("/memfd:berth-exec-zygote")
    except (OSError, IndexError, ValueError):
        return False


def test_paused_and_stopped_containers_are_refused(env: dict[str, str]) -> None:
    run_d(env, "--name", "fx-state", "busybox", "sleep", "300")
    ok(env, "pause", "fx-state")
    paused = docker(env, "exec", "fx-state", "true")
    assert paused.returncode != 0 and "is paused" in paused.stderr
    ok(env, "unpause", "fx-state")
    ok(env, "stop", "-t", "0", "fx-state")
    stopped = docker(env, "exec", "fx-state", "true")
    assert stopped.returncode != 0 and "is not running" in stopped.stderr


def test_the_zygote_ends_with_berthd(tmp_path: Path, busybox_tar: Path) -> None:
    daemon = Berthd(tmp_path / "own")
    try:
        daemon.start()
        status, _, _ = daemon.api.request("POST", "/images/create?fromSrc=-&repo=busybox&tag=latest",
                                          busybox_tar.read_bytes(), {"Content-Type": "application/x-tar"})
        assert status == 200
        env = {**os.environ, "DOCKER_HOST": daemon.url, "DOCKER_CONFIG": str(tmp_path / "docker-config")}
        env.pop("DOCKER_CONTEXT", None)
        ok(env, "run", "-d", "--name", "fx-own", "busybox", "sleep", "300")
        exec_id = create_exec(daemon, "fx-own", ["sleep", "30"])
        daemon.api.request("POST", f"/exec/{exec_id}/start", b'{"Detach": true}', {"Content-Type": "application/json"})
        pid = inspect_exec(daemon, exec_id)["Pid"]
        zygote = int(Path(f"/proc/{pid}/status").read_text().split("PPid:")[1].split()[0])
        assert "nsenter.py" in Path(f"/proc/{zygote}/cmdline").read_bytes().decode()
        daemon.stop()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{zygote}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{zygote}").exists()
    finally:
        daemon.cleanup()


def create_exec(daemon: Berthd, container: str, cmd: list[str]) -> str:
    status, _, body = daemon.api.request("POST", f"/containers/{container}/exec", json.dumps({"Cmd": cmd}).encode(),
                                         {"Content-Type": "application/json"})
    assert status == 201, body
    exec_id: str = json.loads(body)["Id"]
    return exec_id


def inspect_exec(daemon: Berthd, exec_id: str) -> dict[str, Any]:
    status, _, body = daemon.api.request("GET", f"/exec/{exec_id}/json")
    assert status == 200, body
    info: dict[str, Any] = json.loads(body)
    return info
