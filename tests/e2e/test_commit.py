"""`docker commit` with the real CLI against berthd: changed, added and deleted files, --change."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.support.cli import docker, ok
from tests.support.daemon import Berthd

pytestmark = pytest.mark.e2e


@pytest.fixture
def cleanup(docker_env: dict[str, str]) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        docker(docker_env, "rm", "-f", name)
    docker(docker_env, "rmi", "-f", "committed:e2e", "committed:running")


def test_commit_changes_and_cmd(busybox_image: str, docker_env: dict[str, str], docker_cli: str,
                                cleanup: list[str]) -> None:
    cleanup.append("commit-src")
    ok(docker_env, "run", "--name", "commit-src", busybox_image, "sh", "-c",
       "echo changed > /etc/group && echo added > /added.txt && rm /etc/passwd"
       " && mkdir -p /newdir/sub && echo deep > /newdir/sub/f && rm -rf /home/guest")
    image_id = ok(docker_env, "commit", "--change", 'CMD ["cat", "/added.txt"]', "--change", "ENV COMMITTED=yes",
                  "-m", "a message", "-a", "me", "commit-src", "committed:e2e")
    assert image_id.startswith("sha256:")
    inspect = json.loads(ok(docker_env, "image", "inspect", "committed:e2e"))[0]
    assert inspect["Config"]["Cmd"] == ["cat", "/added.txt"]
    assert "COMMITTED=yes" in inspect["Config"]["Env"]
    assert inspect["Comment"] == "a message" and inspect["Author"] == "me"
    assert len(inspect["RootFS"]["Layers"]) == 2
    cleanup.append("commit-run")
    assert ok(docker_env, "run", "--name", "commit-run", "committed:e2e") == "added"
    out = ok(docker_env, "run", "--rm", "committed:e2e", "sh", "-c",
             "cat /etc/group; test -e /etc/passwd && echo passwd-present || echo passwd-gone;"
             " cat /newdir/sub/f; test -e /home/guest && echo guest-present || echo guest-gone; ls /home")
    assert out.split("\n") == ["changed", "passwd-gone", "deep", "guest-gone"]
    # Nothing the runtime mounted (/etc/hosts...) is in the new layer.
    diff = ok(docker_env, "run", "--rm", "committed:e2e", "sh", "-c", "ls -a /etc")
    assert "hosts" in diff  # the runtime's own, mounted again for this container


def test_commit_running_container_pauses(busybox_image: str, docker_env: dict[str, str], docker_cli: str,
                                         cleanup: list[str]) -> None:
    cleanup.append("commit-live")
    ok(docker_env, "run", "-d", "--name", "commit-live", busybox_image, "sh", "-c",
       "echo live > /live.txt; sleep 300")
    for _ in range(50):
        if docker(docker_env, "exec", "commit-live", "cat", "/live.txt").stdout.strip() == "live":
            break
    since = str(int(time.time()) - 1)
    ok(docker_env, "commit", "commit-live", "committed:running")
    state = json.loads(ok(docker_env, "inspect", "commit-live"))[0]["State"]
    assert state["Running"] and not state["Paused"]
    # pause=1 (the default): frozen for the snapshot, then thawed, as dockerd does it.
    events = ok(docker_env, "events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
                "container=commit-live", "--format", "{{.Action}}").split("\n")
    assert [e for e in events if e in ("pause", "commit", "unpause")] == ["pause", "unpause", "commit"], events
    inspect = json.loads(ok(docker_env, "image", "inspect", "committed:running"))[0]
    assert inspect["Config"]["Cmd"] == ["sh", "-c", "echo live > /live.txt; sleep 300"]
    assert ok(docker_env, "run", "--rm", "committed:running", "cat", "/live.txt") == "live"


def test_commit_races_the_exit_of_a_short_command(berthd: Berthd, busybox_image: str) -> None:
    """docker-py's CommitTest: start `touch /test`, commit at once with pause=1 (the default). The
    command ends around the pause: the commit must succeed, with the file, as on dockerd."""
    api = berthd.api
    images: list[str] = []
    try:
        for _ in range(5):
            cid = api.json("POST", "/containers/create", {"Image": busybox_image, "Cmd": ["touch", "/test"]})["Id"]
            try:
                api.json("POST", f"/containers/{cid}/start")
                status, _, body = api.request("POST", f"/commit?container={cid}&pause=1")
                assert status == 201, body
                images.append(json.loads(body)["Id"])
            finally:
                api.request("DELETE", f"/containers/{cid}?force=1")
        for image_id in images:
            inspect = api.json("GET", f"/images/{image_id}/json")
            assert inspect["Parent"] == api.json("GET", f"/images/{busybox_image}/json")["Id"]
        # API < 1.45 (docker-compose 1.x) also gets the container it came from and its config.
        legacy = api.json("GET", f"/v1.41/images/{images[0]}/json")
        assert len(legacy["Container"]) == 64 and legacy["ContainerConfig"]["Cmd"] == ["touch", "/test"]
        assert legacy["ContainerConfig"]["Image"] == busybox_image and legacy["DockerVersion"]
    finally:
        for image_id in images:
            api.request("DELETE", f"/images/{image_id}?force=1")
