from __future__ import annotations

import io
from pathlib import Path

import pytest

from app import cli
from tests.engine.client.fake_engine import FakeContainer, FakeEngine

pytestmark = pytest.mark.unit


def berth(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = cli.build_parser().parse_args(list(argv))
    import asyncio

    code = asyncio.run(cli.dispatch(args, out, err))
    return code, out.getvalue(), err.getvalue()


def test_ps_table(fake_engine: FakeEngine) -> None:
    running = fake_engine.add_container("web", state="running")
    fake_engine.add_container("old", state="exited")
    code, out, _ = berth("--host", fake_engine.url, "ps")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert len(lines) == 2
    assert lines[1].startswith(running[:12] + '   busybox:latest   "sleep 300"   2 minutes ago   Up 2 minutes')
    assert lines[1].endswith("web")

    code, out, _ = berth("--host", fake_engine.url, "ps", "-a")
    assert len(out.splitlines()) == 3


def test_host_from_environment(fake_engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTH_HOST", fake_engine.url)
    code, out, _ = berth("ps", "-q")
    assert code == 0 and out == ""


def test_images(fake_engine: FakeEngine) -> None:
    code, out, _ = berth("--host", fake_engine.url, "images")
    assert code == 0
    assert out.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert out.splitlines()[1].split() == ["busybox", "latest", "b" * 12, "3", "days", "ago", "1.23MB"]


def test_run_prints_output_and_exits_with_the_containers_code(fake_engine: FakeEngine) -> None:
    def on_start(container: FakeContainer) -> None:
        container.output = [(1, b"hello\n"), (2, b"oops\n")]
        fake_engine.exit(container, 3)

    fake_engine.on_start = on_start
    code, out, err = berth("--host", fake_engine.url, "run", "--rm", "--name", "hi", "busybox", "echo", "hello")
    assert (code, out, err) == (3, "hello\n", "oops\n")
    assert fake_engine.containers == {}  # --rm


def test_run_detached_prints_the_id(fake_engine: FakeEngine) -> None:
    code, out, _ = berth("--host", fake_engine.url, "run", "-d", "busybox", "sleep", "300")
    (container,) = fake_engine.containers.values()
    assert code == 0 and out.strip() == container.id
    assert container.state == "running" and container.cmd == ["sleep", "300"]


def test_run_of_a_missing_image_fails_with_125(fake_engine: FakeEngine) -> None:
    code, _, err = berth("--host", fake_engine.url, "run", "--pull", "never", "missing:latest")
    assert code == cli.EXIT_RUN_FAILED
    assert err.startswith("berth: Error response from daemon: No such image: missing:latest\n")
    # As docker: without --pull never, the image is looked for in its registry first.
    code, _, err = berth("--host", fake_engine.url, "run", "missing")
    assert code == cli.EXIT_RUN_FAILED
    assert err.splitlines()[:2] == [
        "Unable to find image 'missing:latest' locally",
        "berth: Error response from daemon: pull access denied for missing, repository does not exist or may "
        "require 'docker login'",
    ]
    assert fake_engine.containers == {}


def test_run_pulls_a_missing_image_with_progress_then_runs_it(fake_engine: FakeEngine) -> None:
    fake_engine.registry.add("missing-here:1.0")
    fake_engine.on_start = lambda container: fake_engine.exit(container, 0)
    code, out, err = berth("--host", fake_engine.url, "run", "--rm", "missing-here:1.0", "true")
    assert code == 0 and out == ""
    # Not on a terminal: docker's plain lines, one per layer step, no progress bars.
    assert err.splitlines() == [
        "Unable to find image 'missing-here:1.0' locally",
        "1.0: Pulling from library/missing-here",
        "aaaaaaaaaaaa: Pulling fs layer",
        "aaaaaaaaaaaa: Download complete",
        "aaaaaaaaaaaa: Pull complete",
        "Digest: sha256:" + "c" * 64,
        "Status: Downloaded newer image for missing-here:1.0",
    ]
    assert fake_engine.requests.count("POST /v1.45/images/create") == 1


def test_pull_prints_the_canonical_reference_last(fake_engine: FakeEngine) -> None:
    fake_engine.registry.add("missing-here:latest")
    code, out, _ = berth("--host", fake_engine.url, "pull", "missing-here")
    assert code == 0
    assert out.splitlines()[0] == "latest: Pulling from library/missing-here"
    assert out.splitlines()[-1] == "docker.io/library/missing-here:latest"
    code, _, err = berth("--host", fake_engine.url, "pull", "missing-there")
    assert code == 1
    assert err.startswith("Error response from daemon: pull access denied for missing-there")


def test_version(fake_engine: FakeEngine) -> None:
    code, out, _ = berth("--host", fake_engine.url, "version")
    assert code == 0
    assert "Server: Fake Engine 9.9.9" in out and "API version: 1.45" in out


def test_unreachable_engine_is_one_clear_line(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/absent.sock"
    code, out, err = berth("--host", url, "ps")
    assert code == 1 and out == ""
    assert err.startswith(f"berth: cannot reach the engine at {url}: ") and err.count("\n") == 1
    assert "no such file or directory" in err.lower()


def test_unreachable_berthd_says_how_to_start_it(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/berth.sock"
    code, _, err = berth("--host", url, "ps")
    assert code == 1
    assert err == f"berth: cannot reach the engine at {url}: is berthd running? start it with: berthd\n"


def test_main_parses_argv_and_returns_the_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--host", f"unix://{tmp_path}/absent.sock", "images"]) == 1
    assert "cannot reach the engine" in capsys.readouterr().err


def test_cli_does_not_import_qt() -> None:
    import subprocess
    import sys

    code = "import sys, app.cli; sys.exit(any(m.startswith('PySide6') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.unit
def test_compose_and_machine_have_their_own_parsers(capsys: pytest.CaptureFixture[str]) -> None:
    from app import cli

    for family, usage in (("compose", "usage: berth compose"), ("machine", "usage: berth machine")):
        with pytest.raises(SystemExit) as done:
            cli.main([family, "--help"])
        assert done.value.code == 0
        assert usage in capsys.readouterr().out


def test_container_prune_by_its_management_name(fake_engine: FakeEngine) -> None:
    running = fake_engine.add_container("web", state="running")
    stopped = fake_engine.add_container("old", state="exited")
    code, out, _ = berth("--host", fake_engine.url, *cli.expand_management(["container", "prune", "-f"]))
    assert code == 0
    assert out == f"Deleted Containers:\n{stopped}\n\nTotal reclaimed space: 0B\n"
    assert list(fake_engine.containers) == [running]
    assert fake_engine.requests.count("POST /v1.45/containers/prune") == 1
    assert not any("images/prune" in r or "networks/prune" in r for r in fake_engine.requests)
