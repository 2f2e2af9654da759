"""`EngineClient.build_image` against the session's berthd: the engine's JSON lines as they come,
the options passed on, a Dockerfile from outside the folder, and errors with the engine's words."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from engine.client import BuildContextError, EngineClient, EngineClientError
from tests.support.daemon import Berthd

pytestmark = pytest.mark.integration


@pytest.fixture
def tag(berthd: Berthd, busybox_image: str) -> Iterator[str]:
    name = f"berth-client-build-{uuid.uuid4().hex[:8]}:test"
    yield name
    berthd.api.request("DELETE", f"/images/{quote(name, safe='')}?force=1")


def build(url: str, context: Path, tag: str | None, **options: Any) -> list[tuple[float, dict[str, Any]]]:
    """Every line of the answer, with the seconds since the build was asked for."""
    async def main() -> list[tuple[float, dict[str, Any]]]:
        start = time.monotonic()
        async with EngineClient(url) as engine:
            return [(time.monotonic() - start, item) async for item in engine.build_image(context, tag, **options)]

    return asyncio.run(main())


def test_lines_come_as_the_steps_run_and_options_reach_the_engine(berthd: Berthd, tag: str, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox:latest\nARG GREETING\nRUN echo first $GREETING && sleep 0.5 && echo second\n")
    items = build(berthd.url, tmp_path, tag, nocache=True, build_args={"GREETING": "hello"},
                  labels={"made.by": "test"})
    lines = [item for _, item in items]
    when = {str(item.get("stream", "")).strip(): at for at, item in items}
    # Live: "first" arrived before the step slept, not with the rest at the end.
    assert when["second"] - when["first hello"] >= 0.4
    image_id = next(item["aux"]["ID"] for item in lines if "aux" in item)
    inspected = berthd.api.json("GET", f"/images/{quote(tag, safe='')}/json")
    assert inspected["Id"] == image_id
    assert inspected["Config"]["Labels"] == {"made.by": "test"}
    assert lines[-1] == {"stream": f"Successfully tagged {tag}\n"}


def test_a_dockerfile_outside_the_folder(berthd: Berthd, tag: str, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "data.txt").write_text("data\n")
    dockerfile = tmp_path / "Dockerfile.outside"
    dockerfile.write_text("FROM busybox:latest\nCOPY . /ctx/\nRUN ls -A /ctx\n")
    output = "".join(str(item.get("stream", "")) for _, item in build(berthd.url, ctx, tag, dockerfile=dockerfile))
    # Sent under a random name and dropped by the engine once read: `COPY .` has only the folder.
    assert "\ndata.txt\nRemoving intermediate container " in output, output


def test_errors_carry_the_engines_message(berthd: Berthd, busybox_image: str, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN exit 3\n")
    with pytest.raises(EngineClientError) as caught:
        build(berthd.url, tmp_path, None, nocache=True)
    assert caught.value.message == "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    with pytest.raises(BuildContextError) as refused:
        build(berthd.url, tmp_path, None, dockerfile="Dockerfile.missing")
    assert refused.value.message == f"no Dockerfile.missing in {tmp_path}"
