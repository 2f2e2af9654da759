"""The real docker CLI's image commands against berthd, with a docker-registry on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.registry.test_registry import GREETING, umoci_image
from tests.support.cli import docker_bytes as docker
from tests.support.cli import succeeded as ok
from tests.support.daemon import Berthd
from tests.support.registry import Registry, htpasswd_file, running_registry, skopeo

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("e2e-registry")) as reg:
        yield reg


def test_push_rmi_pull_run(registry: Registry, busybox_image: str, docker_env: dict[str, str], docker_cli: str,
                           berthd: Berthd) -> None:
    name = f"{registry.host}/e2e/busybox:1"
    ok(docker(docker_env, "tag", busybox_image, name))
    pushed = ok(docker(docker_env, "push", name))
    assert f"The push refers to repository [{registry.host}/e2e/busybox]" in pushed
    assert "1: digest: sha256:" in pushed
    digest = pushed.split("digest: ")[1].split()[0]
    assert skopeo("inspect", "--tls-verify=false", f"docker://{name}").stdout.count(digest) == 1

    removed = ok(docker(docker_env, "rmi", name))
    assert f"Untagged: {name}" in removed
    pulled = ok(docker(docker_env, "pull", name))
    assert f"Digest: {digest}" in pulled
    assert "Status: Image is up to date" in pulled or "Downloaded newer image" in pulled
    assert ok(docker(docker_env, "run", "--rm", name, "echo", "pulled")) == "pulled\n"
    images = ok(docker(docker_env, "images", "--digests", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}"))
    assert f"{registry.host}/e2e/busybox:1 {digest}" in images.splitlines()
    ok(docker(docker_env, "rmi", name))


def test_umoci_image_copied_by_skopeo_is_pulled_and_run(registry: Registry, docker_env: dict[str, str],
                                                       docker_cli: str, tmp_path: Path) -> None:
    layout = umoci_image(tmp_path)
    out = skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:1", f"docker://{registry.host}/e2e/umoci:1")
    assert out.returncode == 0, out.stderr
    name = f"{registry.host}/e2e/umoci:1"
    pulled = ok(docker(docker_env, "pull", name))
    assert "Pull complete" in pulled
    assert f"Status: Downloaded newer image for {name}" in pulled
    assert ok(docker(docker_env, "run", "--rm", name)) == GREETING
    history = ok(docker(docker_env, "history", "--no-trunc", "--format", "{{.ID}}", name))
    assert history.startswith("sha256:")
    missing = docker(docker_env, "pull", f"{registry.host}/e2e/umoci:nope")
    assert missing.returncode != 0
    assert b"not found" in missing.stderr
    ok(docker(docker_env, "rmi", name))


def test_save_load_round_trip(busybox_image: str, docker_env: dict[str, str]) -> None:
    ok(docker(docker_env, "tag", busybox_image, "roundtrip/busybox:a"))
    saved = docker(docker_env, "save", "roundtrip/busybox:a", busybox_image)
    assert saved.returncode == 0, saved.stderr
    image_id = ok(docker(docker_env, "image", "inspect", "-f", "{{.Id}}", busybox_image)).strip()
    ok(docker(docker_env, "rmi", "roundtrip/busybox:a"))
    loaded = ok(docker(docker_env, "load", input=saved.stdout))
    assert "Loaded image: roundtrip/busybox:a" in loaded
    assert ok(docker(docker_env, "image", "inspect", "-f", "{{.Id}}", "roundtrip/busybox:a")).strip() == image_id
    ok(docker(docker_env, "rmi", "roundtrip/busybox:a"))


def test_rmi_refuses_an_image_in_use_and_history_and_df(busybox_image: str, docker_env: dict[str, str]) -> None:
    ok(docker(docker_env, "tag", busybox_image, "inuse/busybox:1"))
    image_id = ok(docker(docker_env, "image", "inspect", "-f", "{{.Id}}", busybox_image)).strip()
    ok(docker(docker_env, "create", "--name", "uses-image", "inuse/busybox:1", "true"))
    try:
        refused = docker(docker_env, "rmi", image_id)
        assert refused.returncode != 0
        assert b"conflict" in refused.stderr
        df = ok(docker(docker_env, "system", "df", "--format", "{{json .}}"))
        rows = {row["Type"]: row for row in map(json.loads, df.splitlines())}
        assert int(rows["Images"]["Active"]) >= 1
        assert int(rows["Containers"]["TotalCount"]) >= 1
        verbose = ok(docker(docker_env, "system", "df", "-v"))
        assert "inuse/busybox" in verbose
    finally:
        ok(docker(docker_env, "rm", "uses-image"))
    history = ok(docker(docker_env, "history", "inuse/busybox:1"))
    assert "Imported from -" in history
    ok(docker(docker_env, "rmi", "inuse/busybox:1"))


def test_login_and_pull_with_basic_auth(busybox_image: str, docker_env: dict[str, str], tmp_path: Path) -> None:
    password = "e2e-pass-123"
    with running_registry(tmp_path / "reg", htpasswd=htpasswd_file(tmp_path / "htpasswd", "e2e", password)) as reg:
        name = f"{reg.host}/private/busybox:latest"
        ok(docker(docker_env, "tag", busybox_image, name))
        denied = docker(docker_env, "push", name)
        assert denied.returncode != 0
        bad = docker(docker_env, "login", "-u", "e2e", "--password-stdin", reg.host, input=b"wrong\n")
        assert bad.returncode != 0
        login = docker(docker_env, "login", "-u", "e2e", "--password-stdin", reg.host, input=password.encode())
        assert b"Login Succeeded" in login.stdout, login.stderr
        try:
            ok(docker(docker_env, "push", name))
            ok(docker(docker_env, "rmi", name))
            pulled = ok(docker(docker_env, "pull", name))
            assert "Digest: sha256:" in pulled
        finally:
            docker(docker_env, "logout", reg.host)
            docker(docker_env, "rmi", name)
        assert password not in Path(docker_env["DOCKER_CONFIG"], "..", "berthd.log").resolve().read_text()


def test_distribution_df_prune_and_auth_over_the_api(registry: Registry, busybox_image: str, berthd: Berthd,
                                                     docker_env: dict[str, str], docker_cli: str) -> None:
    name = f"{registry.host}/e2e/dist:1"
    ok(docker(docker_env, "tag", busybox_image, name))
    ok(docker(docker_env, "push", name))
    dist = berthd.api.json("GET", f"/v1.45/distribution/{name}/json")
    assert dist["Descriptor"]["digest"].startswith("sha256:")
    assert dist["Descriptor"]["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert dist["Platforms"][0]["os"] == "linux"
    status, _, body = berthd.api.request("GET", f"/v1.45/distribution/{registry.host}/e2e/none:1/json")
    assert status == 404, body

    df = berthd.api.json("GET", "/v1.45/system/df")
    assert set(df) >= {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
    assert df["LayersSize"] > 0
    assert any(name in img["RepoTags"] for img in df["Images"])

    status, _, body = berthd.api.request("POST", "/v1.45/auth", {"username": "x", "password": "y",
                                                                  "serveraddress": registry.host})
    assert status == 200, body  # an open registry accepts anyone
    assert json.loads(body)["Status"] == "Login Succeeded"

    ok(docker(docker_env, "rmi", name))
    pruned = berthd.api.json("POST", "/v1.45/images/prune")
    assert set(pruned) == {"ImagesDeleted", "SpaceReclaimed"}


def test_load_of_a_bad_archive_is_an_error_line(berthd: Berthd, docker_env: dict[str, str]) -> None:
    """As dockerd: POST /images/load answers 200 before reading, so a bad archive is the stream's
    last line (docker-py's images.load raises ImageLoadError from it), and `docker load` fails."""
    status, _, body = berthd.api.request("POST", "/v1.45/images/load", b"abc", {"Content-Type": "application/x-tar"})
    assert status == 200, body
    last = json.loads(body.decode().strip().splitlines()[-1])
    assert last["errorDetail"]["message"] == last["error"] and "archive" in last["error"], last
    out = docker(docker_env, "load", input=b"abc")
    assert out.returncode != 0 and b"archive" in out.stderr


def test_distribution_of_an_unreachable_registry_says_why(berthd: Berthd) -> None:
    """The reason a person can act on (which host, what failed). The status is dockerd 20.10's
    own for this case, 500 (its baseline run of docker-py's test_inspect_distribution shows it)."""
    status, _, body = berthd.api.request("GET", "/v1.45/distribution/127.0.0.1:1/busybox:latest/json")
    assert status == 500, body
    assert json.loads(body)["message"] == "cannot reach registry 127.0.0.1:1: dial 127.0.0.1:1: Connection refused"


def test_pull_from_an_unreachable_registry_is_a_plain_error(berthd: Berthd) -> None:
    """As dockerd: nothing is streamed before the registry answers, so the failure is the HTTP
    status itself (docker-py's pull() raises APIError), not a 200 ending in an error line."""
    status, _, body = berthd.api.request("POST", "/v1.45/images/create?fromImage=127.0.0.1:1/busybox&tag=latest")
    assert status == 500, body
    assert json.loads(body)["message"] == "cannot reach registry 127.0.0.1:1: dial 127.0.0.1:1: Connection refused"
