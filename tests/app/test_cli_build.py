"""`berth build` against the session's berthd: the output as the classic builder prints it, the
image made from the folder less what `.dockerignore` excludes, and refusals as `berth: <message>`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from app import cli
from tests.support.daemon import Berthd

pytestmark = pytest.mark.integration


@pytest.fixture
def tag(berthd: Berthd, busybox_image: str) -> Iterator[str]:
    """A name of this test's own (the session's berthd is shared), removed afterwards."""
    repo = f"berth-cli-build-{uuid.uuid4().hex[:8]}"
    yield f"{repo}:test"
    for name in (f"{repo}:test", f"{repo}:second"):
        berthd.api.request("DELETE", f"/images/{quote(name, safe='')}?force=1")


def context(root: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    return root


def test_build_sends_the_folder_less_what_dockerignore_excludes(
    berthd: Berthd, tag: str, tmp_path: Path, capfd: pytest.CaptureFixture[str],
) -> None:
    token = uuid.uuid4().hex  # fresh content: the steps run, whatever the session's cache holds
    ctx = context(tmp_path / "app", "FROM busybox:latest\nCOPY . /app/\nRUN ls /app\n", {
        "kept.txt": f"kept {token}\n",
        "ignored.txt": "must not reach the engine\n",
        ".dockerignore": "ignored.txt\n",
    })
    second = tag.replace(":test", ":second")
    assert cli.main(["--host", berthd.url, "build", "-t", tag, "-t", second, str(ctx)]) == 0
    out, err = capfd.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "Step 1/3 : FROM busybox:latest" and lines[1].startswith(" ---> ")
    assert "Step 2/3 : COPY . /app/" in lines and "Step 3/3 : RUN ls /app" in lines
    # The RUN step's own output, printed as it ran: the image holds what was sent, nothing more.
    listing = lines[lines.index("Step 3/3 : RUN ls /app") + 2:][:2]
    assert listing == ["Dockerfile", "kept.txt"], out
    image_id = berthd.api.json("GET", f"/images/{quote(tag, safe='')}/json")["Id"]
    assert lines[-3:] == [f"Successfully built {image_id.removeprefix('sha256:')[:12]}", f"Successfully tagged {tag}",
                          f"Successfully tagged {second}"]
    assert berthd.api.json("GET", f"/images/{quote(second, safe='')}/json")["Id"] == image_id

    # What a container of the image sees.
    script = "cat /app/kept.txt; test -e /app/ignored.txt && echo ignored-is-there; true"
    assert cli.main(["--host", berthd.url, "run", "--rm", tag, "sh", "-c", script]) == 0
    assert capfd.readouterr().out == f"kept {token}\n"

    # -q prints the image id alone (the cache answers: same folder, same steps).
    assert cli.main(["--host", berthd.url, "build", "-q", "-t", tag, str(ctx)]) == 0
    assert capfd.readouterr().out == image_id + "\n"


@pytest.mark.parametrize(("dockerfile", "message"), [
    ("FROM busybox:latest\nRUN echo about to fail && exit 3\n",
     "berth: The command '/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3"),
    ("FROM busybox:latest\nFROBNICATE everything\n",
     "berth: Dockerfile parse error line 2: unknown instruction: FROBNICATE"),
])
def test_a_failing_build_exits_1_with_the_engines_message(
    berthd: Berthd, tag: str, tmp_path: Path, capfd: pytest.CaptureFixture[str], dockerfile: str, message: str,
) -> None:
    ctx = context(tmp_path / "bad", dockerfile)
    assert cli.main(["--host", berthd.url, "build", "--no-cache", "-t", tag, str(ctx)]) == 1
    out, err = capfd.readouterr()
    assert err.startswith(message), err
    if "RUN" in dockerfile:
        assert "about to fail\n" in out  # what ran before the failure is still shown
    status, _, _ = berthd.api.request("GET", f"/images/{quote(tag, safe='')}/json")
    assert status == 404


def test_a_folder_without_a_dockerfile_is_refused_before_the_engine_is_asked(
    berthd: Berthd, tmp_path: Path, capfd: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "main.c").write_text("")
    assert cli.main(["--host", berthd.url, "build", str(tmp_path)]) == 1
    assert capfd.readouterr() == ("", f"berth: no Dockerfile in {tmp_path}\n")
    assert cli.main(["--host", berthd.url, "build", "-f", str(tmp_path / "Dockerfile.dev"), str(tmp_path)]) == 1
    assert capfd.readouterr() == ("", f"berth: no Dockerfile at {tmp_path / 'Dockerfile.dev'}\n")


def test_a_bad_image_name_is_refused_before_any_step_runs(
    berthd: Berthd, busybox_image: str, tmp_path: Path, capfd: pytest.CaptureFixture[str],
) -> None:
    ctx = context(tmp_path / "app", "FROM busybox:latest\nRUN echo step-ran\n")
    assert cli.main(["--host", berthd.url, "build", "-t", "Not/Lowercase", str(ctx)]) == 1
    out, err = capfd.readouterr()
    assert "must be lowercase" in err and err.startswith("berth: ")
    assert "Step 1/2" not in out and "step-ran" not in out
