"""`berth context`: the desktop's contexts, read and written in its settings file without Qt."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import cli

pytestmark = pytest.mark.unit


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BERTH_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("BERTH_HOST", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return tmp_path


def berth(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_create_use_ls_rm(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert berth(capsys, "context", "create", "--docker", "host=tcp://10.0.0.5:2375", "lab") == (0, "lab\n", "")
    assert berth(capsys, "context", "use", "lab") == (0, "lab\n", "")
    code, out, _ = berth(capsys, "context", "ls")
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "DESCRIPTION", "DOCKER", "ENDPOINT"]
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("lab")] == [["lab", "*"]]
    assert cli.engine_url(cli.parse(["ps"])) == "tcp://10.0.0.5:2375"
    assert berth(capsys, "context", "use", "nope") == (1, "", 'context "nope" does not exist\n')
    assert berth(capsys, "context", "rm", "dockerd")[2] == 'context "dockerd" is built in and cannot be removed\n'
    assert berth(capsys, "context", "rm", "lab") == (0, "lab\n", "")
    assert "lab" not in berth(capsys, "context", "ls", "-q")[1].split()


def test_the_environment_overrides_the_chosen_context(config: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    berth(capsys, "context", "create", "--docker", "host=tcp://10.0.0.5:2375", "lab")
    berth(capsys, "context", "use", "lab")
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/other.sock")
    assert cli.engine_url(cli.parse(["ps"])) == "unix:///tmp/other.sock"
    assert cli.engine_url(cli.parse(["-H", "/tmp/given.sock", "ps"])) == "unix:///tmp/given.sock"


def test_a_context_made_here_is_the_desktops_and_back(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("PySide6")
    from app.services.settings import Settings

    berth(capsys, "context", "create", "--docker", "host=ssh://me@build-box", "build box")
    berth(capsys, "context", "use", "build box")
    settings = Settings(config / "desktop.ini")
    assert ("build box", "ssh://me@build-box") in [(c.name, c.url) for c in settings.contexts() if c.mine]
    assert settings.engine == "ssh://me@build-box"
    settings.add_context("from the desktop", "tcp://10.1.2.3:2375")
    settings.theme = "dark"
    del settings
    _, out, _ = berth(capsys, "context", "ls", "--format", "{{.Name}}|{{.DockerEndpoint}}")
    assert "from the desktop|tcp://10.1.2.3:2375" in out.splitlines()
    assert "build box *|ssh://me@build-box" in out.splitlines()
    berth(capsys, "context", "rm", "from the desktop")
    again = Settings(config / "desktop.ini")
    assert [c.name for c in again.contexts() if c.mine] == ["build box"]
    assert again.theme == "dark"  # keys the CLI does not know are kept
