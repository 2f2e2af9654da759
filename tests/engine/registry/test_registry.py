"""ImageService against a real docker-registry on loopback, cross-checked with skopeo and umoci."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.errors import NotFound
from engine.images.manifest import DOCKER_LAYER_GZIP, DOCKER_MANIFEST
from engine.images.registry import RegistryConfig
from engine.images.service import ImageService
from engine.state.db import Database
from tests.engine.registry.conftest import Progress, run
from tests.support.registry import Registry, require, skopeo

pytestmark = pytest.mark.integration

BUSYBOX = "/bin/busybox"
GREETING = "made by umoci\n".ljust(511, ".") + "\n"


def skopeo_inspect(ref: str, raw: bool = False) -> dict:
    args = ["inspect", "--tls-verify=false"] + (["--raw"] if raw else []) + [f"docker://{ref}"]
    out = skopeo(*args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_push_then_skopeo_sees_the_same_digests(registry: Registry, service: ImageService, busybox_id: str) -> None:
    service.tag(busybox_id, f"{registry.host}/pushed/busybox", "v1")
    progress = Progress()
    pushed = run(service.push(f"{registry.host}/pushed/busybox", "v1", sink=progress))
    assert [p.tag for p in pushed] == ["v1"]
    remote = skopeo_inspect(f"{registry.host}/pushed/busybox:v1")
    assert remote["Digest"] == pushed[0].digest
    manifest = skopeo_inspect(f"{registry.host}/pushed/busybox:v1", raw=True)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["digest"] == busybox_id  # the image id is the config digest
    assert [layer["mediaType"] for layer in manifest["layers"]] == [DOCKER_LAYER_GZIP]
    assert remote["Layers"] == [layer["digest"] for layer in manifest["layers"]]
    # Locally the image now carries the pushed digest, and progress said what happened.
    assert f"{registry.host}/pushed/busybox@{pushed[0].digest}" in service.inspect(busybox_id)["RepoDigests"]
    assert "Pushed" in progress.statuses()
    assert progress.messages[-1]["aux"]["Digest"] == pushed[0].digest

    # A second push finds every blob there already (HEAD), and the manifest digest is stable.
    again = Progress()
    assert run(service.push(f"{registry.host}/pushed/busybox", "v1", sink=again))[0].digest == pushed[0].digest
    assert "Layer already exists" in again.statuses()
    assert "Pushed" not in again.statuses()

    # Another repository on the same registry: the layer is mounted, not uploaded again.
    service.tag(busybox_id, f"{registry.host}/other/busybox", "v1")
    mounted = Progress()
    run(service.push(f"{registry.host}/other/busybox", "v1", sink=mounted))
    assert "Mounted from pushed/busybox" in mounted.statuses()


def test_pull_by_tag_and_by_digest_into_a_fresh_engine(
        registry: Registry, service: ImageService, busybox_id: str,
        make_service: Callable[[str], ImageService]) -> None:
    service.tag(busybox_id, f"{registry.host}/pull/busybox", "latest")
    digest = run(service.push(f"{registry.host}/pull/busybox", "latest"))[0].digest

    other = make_service("other")
    progress = Progress()
    result = run(other.pull(f"{registry.host}/pull/busybox", sink=progress))
    assert result.image_id == busybox_id
    assert result.digest == digest and result.new
    info = other.inspect(f"{registry.host}/pull/busybox:latest")
    assert info["RepoDigests"] == [f"{registry.host}/pull/busybox@{digest}"]
    assert info["RootFS"]["Layers"] == service.inspect(busybox_id)["RootFS"]["Layers"]
    layer_dir = other.layer_dirs(result.image_id)[0]
    assert (layer_dir / "bin" / "busybox").stat().st_size == Path(BUSYBOX).stat().st_size
    statuses = progress.statuses()
    for expected in ("Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete",
                     "Extracting", "Pull complete", f"Digest: {digest}"):
        assert expected in statuses, statuses
    assert statuses[-1] == f"Status: Downloaded newer image for {registry.host}/pull/busybox:latest"
    downloading = [m for m in progress.messages if m.get("status") == "Downloading"]
    assert downloading[-1]["progressDetail"]["current"] == downloading[-1]["progressDetail"]["total"]

    # Pulled again: nothing to do.
    again = Progress()
    assert not run(other.pull(f"{registry.host}/pull/busybox", "latest", sink=again)).new
    assert again.statuses()[-1].startswith("Status: Image is up to date")

    # By digest into a third engine: tagless, named by its digest.
    third = make_service("third")
    by_digest = run(third.pull(f"{registry.host}/pull/busybox@{digest}"))
    assert by_digest.image_id == busybox_id
    assert third.inspect(busybox_id)["RepoTags"] == []
    assert third.resolve(f"{registry.host}/pull/busybox@{digest}").id == busybox_id
    # The digest form the CLI sends (tag=sha256:...) works too.
    assert run(third.pull(f"{registry.host}/pull/busybox", digest)).image_id == busybox_id


def test_docker_hub_images_are_pulled_through_the_first_mirror_that_answers(
        registry: Registry, service: ImageService, busybox_id: str, tmp_path: Path) -> None:
    """--registry-mirror: a mirror that is down is passed over for the next; the image is named as Docker
    Hub's. Nothing here reaches Docker Hub: the second mirror answers."""
    service.tag(busybox_id, f"{registry.host}/library/busybox", "mirrored")
    run(service.push(f"{registry.host}/library/busybox", "mirrored"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused
        db = Database(tmp_path / "mirrored.db")
        try:
            mirrored = ImageService(tmp_path / "mirrored", db, registries=RegistryConfig.from_flags(
                mirrors=[down, f"http://{registry.host}"]))
            result = run(mirrored.pull("busybox", "mirrored"))
            assert result.image_id == busybox_id
            assert mirrored.inspect("docker.io/library/busybox:mirrored")["Id"] == busybox_id
        finally:
            db.close()


def test_pull_of_a_missing_tag_is_not_found(registry: Registry, service: ImageService) -> None:
    with pytest.raises(NotFound, match="not found"):
        run(service.pull(f"{registry.host}/nothing/here", "v9"))


def test_pull_rejects_a_tampered_digest(registry: Registry, service: ImageService, busybox_id: str,
                                        make_service: Callable[[str], ImageService]) -> None:
    service.tag(busybox_id, f"{registry.host}/tamper/busybox", "latest")
    digest = run(service.push(f"{registry.host}/tamper/busybox", "latest"))[0].digest
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(NotFound):
        run(make_service("other").pull(f"{registry.host}/tamper/busybox@{wrong}"))
    assert digest != wrong


def umoci_image(tmp_path: Path) -> Path:
    """An OCI layout with one image, `busybox-oci:1`, built by umoci from a tiny rootfs."""
    require("umoci")
    layout = tmp_path / "layout"
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in ("sh", "echo", "cat"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    # umoci 0.4.7 ends its layer tars right after the last file's data (no padding, no end
    # blocks); tarsafe refuses a truncated tar, so the last file is made a whole block long.
    (rootfs / "greeting").write_text(GREETING)

    def umoci(*args: str) -> None:
        out = subprocess.run(["umoci", *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr

    umoci("init", "--layout", str(layout))
    umoci("new", "--image", f"{layout}:1")
    umoci("insert", "--image", f"{layout}:1", str(rootfs), "/")
    umoci("config", "--image", f"{layout}:1", "--config.cmd", "/bin/cat", "--config.cmd", "/greeting",
          "--config.env", "PATH=/bin")
    return layout


def test_umoci_image_copied_by_skopeo_is_pulled(registry: Registry, service: ImageService, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    layout = umoci_image(tmp_path)
    out = skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:1", f"docker://{registry.host}/umoci/busybox:1")
    assert out.returncode == 0, out.stderr
    result = run(service.pull(f"{registry.host}/umoci/busybox:1"))
    info = service.inspect(result.image_id)
    assert info["Config"]["Cmd"] == ["/bin/cat", "/greeting"]
    assert (service.layer_dirs(result.image_id)[0] / "greeting").read_text() == GREETING
    assert result.digest == skopeo_inspect(f"{registry.host}/umoci/busybox:1")["Digest"]


def test_save_then_load_into_a_fresh_engine(service: ImageService, busybox_id: str,
                                            make_service: Callable[[str], ImageService], tmp_path: Path) -> None:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in service.save(service.plan_save(["busybox"]))])

    archive = run(collect())
    other = make_service("other")
    progress = Progress()
    loaded = run(other.load(io.BytesIO(archive), progress))
    assert loaded == [busybox_id]
    assert other.inspect("busybox:latest")["Id"] == busybox_id
    assert progress.messages == [{"stream": "Loaded image: busybox:latest\n"}]
    # A saved archive is also an OCI layout (ref.name is the tag, as Docker writes it) and a
    # docker-archive, and skopeo reads it both ways.
    path = tmp_path / "saved.tar"
    path.write_bytes(archive)
    out = skopeo("inspect", f"oci-archive:{path}:latest")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Layers"] == service.inspect(busybox_id)["RootFS"]["Layers"]
    out = skopeo("inspect", f"docker-archive:{path}")
    assert out.returncode == 0, out.stderr


def test_load_an_oci_archive_written_by_skopeo(registry: Registry, service: ImageService, busybox_id: str,
                                               make_service: Callable[[str], ImageService], tmp_path: Path) -> None:
    service.tag(busybox_id, f"{registry.host}/archive/busybox", "latest")
    run(service.push(f"{registry.host}/archive/busybox", "latest"))
    target = tmp_path / "oci.tar"
    out = skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/archive/busybox:latest",
                 f"oci-archive:{target}:example.com/archived/busybox:2")
    assert out.returncode == 0, out.stderr
    other = make_service("other")
    with open(target, "rb") as f:
        loaded = run(other.load(f))
    # skopeo rewrites the config in OCI form (a new image id); the layers are the same.
    assert len(loaded) == 1
    assert other.inspect("example.com/archived/busybox:2")["Id"] == loaded[0]
    layers = service.inspect(busybox_id)["RootFS"]["Layers"]
    assert other.inspect(loaded[0])["RootFS"]["Layers"] == layers
    # Pulled layers are kept compressed, so docker-archive output from skopeo loads too.
    docker_archive = tmp_path / "docker.tar"
    out = skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/archive/busybox:latest",
                 f"docker-archive:{docker_archive}:archived/busybox:3")
    assert out.returncode == 0, out.stderr
    third = make_service("third")
    with open(docker_archive, "rb") as f:
        loaded = run(third.load(f))
    assert third.resolve("archived/busybox:3").id == loaded[0]
    assert third.inspect(loaded[0])["RootFS"]["Layers"] == layers
