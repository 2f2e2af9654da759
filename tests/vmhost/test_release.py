"""Guest images as release artifacts: packed reproducibly, fetched from a (loopback) release location,
resumed after a cut, verified before unpacking, refused when corrupted. No VM is booted."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vmhost.release_server import Served, release_server
from vmhost import cli
from vmhost.image import GuestImage
from vmhost.machines import MachineError, Machines
from vmhost.release import (
    Download,
    ReleaseError,
    archive_name,
    fetch,
    load_manifest,
    manifest_name,
    pack,
    problems,
    unpack,
    write_manifest,
)

pytestmark = pytest.mark.unit

ARCH = "x86_64"


def fake_image(directory: Path, arch: str = ARCH) -> GuestImage:
    directory.mkdir(parents=True)
    (directory / "vmlinuz").write_bytes(b"kernel" * 1000)
    (directory / "initrd.img").write_bytes(b"initrd" * 1000)
    # Big enough that a download takes several reads and a cut lands in the middle.
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(directory / "rootfs.qcow2"), "1G"], check=True)
    with (directory / "rootfs.qcow2").open("ab") as f:
        f.write(bytes(range(256)) * 12_000)
    (directory / "manifest.json").write_text(json.dumps({"arch": arch, "kernel": "6.1.0-fake", "berthd": "0.1.0",
                                                          "source_date_epoch": 1700000000, "key": "k"}))
    return GuestImage(directory)


@pytest.fixture
def release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Served, Path]]:
    """A release with one x86_64 archive, served from loopback, and the pin naming it."""
    if not shutil.which("qemu-img"):
        pytest.skip("needs qemu-img (qemu-utils)")
    www = tmp_path / "www"
    archive, entry = pack(fake_image(tmp_path / "built"), www, "0.1.0")
    pin = tmp_path / "guest-image.json"
    write_manifest(pin, "0.1.0", {ARCH: entry}, "https://releases.invalid/berth/0.1.0")
    monkeypatch.setenv("BERTH_GUEST_MANIFEST", str(pin))
    monkeypatch.setenv("BERTH_GUEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERTH_GUEST_URL", raising=False)
    monkeypatch.setattr("vmhost.machines.host_arch", lambda: __import__("vmhost.arch").arch.arch(ARCH))
    # init makes the machine's disk with the qemu-img next to QEMU: a stand-in QEMU beside the real one.
    qemu = tmp_path / "bin" / "qemu-system-x86_64"
    qemu.parent.mkdir()
    qemu.write_text("#!/bin/sh\nexit 0\n")
    qemu.chmod(0o755)
    (qemu.parent / "qemu-img").symlink_to(shutil.which("qemu-img") or "qemu-img")
    monkeypatch.setenv("BERTH_QEMU", str(qemu))
    with release_server(www) as served:
        yield served, archive


def test_pack_is_reproducible_and_the_pin_is_complete(tmp_path: Path) -> None:
    if not shutil.which("qemu-img"):
        pytest.skip("needs qemu-img (qemu-utils)")
    image = fake_image(tmp_path / "built")
    first, entry = pack(image, tmp_path / "a", "0.1.0")
    second, again = pack(image, tmp_path / "b", "0.1.0")
    assert first.name == archive_name("0.1.0", ARCH) == "berth-guest-0.1.0-x86_64.tar"
    assert first.read_bytes() == second.read_bytes() and entry == again
    assert entry["size"] == first.stat().st_size and entry["berthd"] == "0.1.0"
    manifest = tmp_path / manifest_name("0.1.0")
    write_manifest(manifest, "0.1.0", {ARCH: entry}, "https://releases.invalid/0.1.0")
    assert problems(load_manifest(manifest)) == []
    with tarfile.open(first) as tar:
        assert [(m.name, m.uid, m.mtime) for m in tar.getmembers()] == [
            (name, 0, 1700000000) for name in ("vmlinuz", "initrd.img", "rootfs.qcow2", "manifest.json")]


def test_the_committed_pin_has_two_architectures_and_a_format() -> None:
    pin = load_manifest(Path(__file__).resolve().parents[2] / "packaging" / "guest-image.json")
    assert pin["format"] == 2 and set(pin["images"]) == {"x86_64", "aarch64"}
    # Unpinned until a release fills it in: a Mac or Windows app build refuses it (packaging check).
    assert any("not pinned" in problem for problem in problems(pin)) or problems(pin) == []


def test_first_run_fetches_the_hosts_image_from_the_release_location(release: tuple[Served, Path],
                                                                     tmp_path: Path) -> None:
    served, archive = release
    seen: list[Download] = []
    machines = Machines(tmp_path / "machines")
    machine = machines.init("dev", shares=[], image_url=served.base, download=seen.append)
    guest = GuestImage(Path(machine.image))
    assert guest.complete() and guest.arch == ARCH and machine.arch == ARCH
    assert guest.rootfs.read_bytes() == (tmp_path / "built" / "rootfs.qcow2").read_bytes()
    assert seen[-1].received == seen[-1].total == archive.stat().st_size
    assert not list((tmp_path / "cache" / "downloads").iterdir())  # the archive goes once unpacked
    # A second machine reuses the unpacked image: no second download.
    machines.init("two", shares=[], image_url=served.base)
    assert served.ranges == [""]


def test_an_interrupted_download_resumes_where_it_stopped(release: tuple[Served, Path], tmp_path: Path) -> None:
    served, archive = release
    served.cut_next = 1
    seen: list[Download] = []
    machine = Machines(tmp_path / "machines").init("dev", shares=[], image_url=served.base, download=seen.append)
    assert GuestImage(Path(machine.image)).complete()
    half = (archive.stat().st_size) // 2
    assert served.ranges == ["", f"bytes={half}-"]
    assert any(d.resumed_from == half for d in seen)
    assert "resumed at" in seen[-1].describe()


def test_a_download_cut_off_is_kept_and_the_next_run_resumes(release: tuple[Served, Path], tmp_path: Path) -> None:
    served, archive = release
    entry = load_manifest(tmp_path / "guest-image.json")["images"][ARCH]
    dest = tmp_path / "dl" / archive.name
    served.cut_next = 1
    with pytest.raises(ReleaseError, match="the next try resumes there"):
        fetch(f"{served.base}/{archive.name}", dest, entry["size"], entry["sha256"], attempts=1)
    assert dest.with_name(dest.name + ".part").stat().st_size == archive.stat().st_size // 2
    fetch(f"{served.base}/{archive.name}", dest, entry["size"], entry["sha256"])
    assert dest.read_bytes() == archive.read_bytes()
    assert served.ranges[-1] == f"bytes={archive.stat().st_size // 2}-"


def test_a_corrupted_archive_is_deleted_and_no_machine_is_made(release: tuple[Served, Path],
                                                                 tmp_path: Path) -> None:
    served, _ = release
    served.corrupt = True
    machines = Machines(tmp_path / "machines")
    with pytest.raises(MachineError, match=r"does not match its pinned digest.*deleted and will not be booted"):
        machines.init("dev", shares=[], image_url=served.base)
    cache = tmp_path / "cache"
    assert list((cache / "downloads").iterdir()) == []
    assert not list(cache.glob("release-*"))
    assert machines.all() == []


def test_cli_init_shows_download_progress(release: tuple[Served, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    served, _ = release
    out = io.StringIO()
    assert cli.run(["init", "dev", "--no-share", "--image-url", served.base], out,
                   Machines(tmp_path / "machines")) == 0
    err = capsys.readouterr().err
    assert "fetching the x86_64 guest image" in err
    assert "downloading berth-guest-0.1.0-x86_64.tar:" in err and "(100 %)" in err and "MB/s" in err
    assert "guest image release-" in err
    assert "created machine dev" in out.getvalue()


def test_guest_url_from_the_environment_and_a_local_directory(release: tuple[Served, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _, archive = release
    monkeypatch.setenv("BERTH_GUEST_URL", str(archive.parent))  # a directory holding the release
    machine = Machines(tmp_path / "machines").init("dev", shares=[])
    assert GuestImage(Path(machine.image)).complete()


def test_a_local_archive_is_verified_against_its_manifest(tmp_path: Path, release: tuple[Served, Path]) -> None:
    _, archive = release
    local = tmp_path / "mine" / archive.name
    local.parent.mkdir()
    shutil.copy(archive, local)
    machines = Machines(tmp_path / "machines")
    assert GuestImage(Path(machines.init("dev", local, shares=[]).image)).complete()
    data = bytearray(local.read_bytes())
    data[-100] ^= 0xFF
    local.write_bytes(bytes(data))
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(MachineError, match="does not match the digest"):
        machines.init("bad", local, shares=[])


def test_an_unpinned_build_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pin = tmp_path / "guest-image.json"
    pin.write_text(json.dumps({"format": 2, "version": "0.1.0", "base_url": None,
                               "images": {"x86_64": {"file": None, "size": None, "sha256": None}}}))
    monkeypatch.setenv("BERTH_GUEST_MANIFEST", str(pin))
    monkeypatch.setenv("BERTH_GUEST_URL", "http://127.0.0.1:9")
    with pytest.raises(MachineError, match="pins no guest image for"):
        Machines(tmp_path / "machines").init("dev", shares=[])


def test_unpack_takes_only_the_image_files(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        for name in ("vmlinuz", "initrd.img", "manifest.json"):
            tar.addfile(tarfile.TarInfo(name))
        link = tarfile.TarInfo("rootfs.qcow2")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(ReleaseError, match="not a regular file"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_one_command_builds_packs_and_pins_both_arches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not shutil.which("qemu-img"):
        pytest.skip("needs qemu-img (qemu-utils)")
    import vmhost.image
    from vmhost.release import main

    built = {arch: fake_image(tmp_path / arch, arch) for arch in ("x86_64", "aarch64")}
    monkeypatch.setattr(vmhost.image, "build", lambda progress, guest_arch: built[guest_arch])
    pin = tmp_path / "guest-image.json"
    assert main(["build", "--out", str(tmp_path / "dist"), "--base-url", "https://r.invalid/berth/0.1.0",
                 "--pin", str(pin)]) == 0
    release = load_manifest(tmp_path / "dist" / manifest_name("0.1.0"))
    assert load_manifest(pin) == release and problems(release) == []
    for arch in ("x86_64", "aarch64"):
        entry = release["images"][arch]
        assert (tmp_path / "dist" / entry["file"]).stat().st_size == entry["size"]
        assert entry["file"] == archive_name("0.1.0", arch) and entry["berthd"] == "0.1.0"
