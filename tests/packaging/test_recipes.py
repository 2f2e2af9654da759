"""The packaging recipes that can be checked without building: Linux files, icons, the guest manifest."""

from __future__ import annotations

import configparser
import hashlib
import http.server
import json
import shlex
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import __version__
from engine.daemon import parse_args
from tests.packaging.conftest import PACKAGING, load_packaging_module

LINUX = PACKAGING / "linux"


def unit_file(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(LINUX / name)
    return parser


@pytest.mark.unit
def test_service_runs_the_bundled_berthd_with_flags_it_knows() -> None:
    service = unit_file("berthd.service")
    argv = shlex.split(service["Service"]["ExecStart"])
    assert argv[0] == "/opt/berth/berthd"
    args = parse_args(argv[1:])  # berthd's own parser: a renamed flag fails here, not at boot
    assert str(args.host) == "unix:///run/berth/berth.sock" and args.group == "berth"
    # containers outlive a berthd restart (live restore): stopping berthd must not kill them
    assert service["Service"]["KillMode"] == "process" and service["Service"]["Delegate"] == "yes"


@pytest.mark.unit
def test_socket_is_the_one_berthd_serves_for_the_berth_group() -> None:
    socket = unit_file("berthd.socket")["Socket"]
    assert socket["ListenStream"] == "/run/berth/berth.sock"
    assert (socket["SocketMode"], socket["SocketGroup"]) == ("0660", "berth")
    assert (LINUX / "berth.sysusers").read_text().split("\n")[-2].split() == ["g", "berth", "-"]


@pytest.mark.unit
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_units_pass_systemd_analyze(tmp_path: Path) -> None:
    # verify wants the ExecStart binary to exist: point it at one that does
    service = (LINUX / "berthd.service").read_text().replace("/opt/berth/berthd", shutil.which("true") or "/bin/true")
    (tmp_path / "berthd.service").write_text(service)
    shutil.copy(LINUX / "berthd.socket", tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "berthd.service"),
                             str(tmp_path / "berthd.socket")], capture_output=True, text=True)
    complaints = [line for line in result.stderr.splitlines() if str(tmp_path) in line]
    assert result.returncode == 0 and not complaints, result.stderr


@pytest.mark.unit
def test_desktop_entry_matches_the_app() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(LINUX / "berth-desktop.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application" and desktop["Exec"] == "berth-desktop"
    # the icon is installed under this name; the window class is QGuiApplication.desktopFileName()
    assert desktop["Icon"] == "berth" and desktop["StartupWMClass"] == "berth-desktop"
    assert desktop["Categories"].endswith(";")


@pytest.mark.gui
def test_icons_for_windows_and_macos_hold_every_size(qapp: Any, tmp_path: Path) -> None:
    from PySide6.QtGui import QImageReader

    assets = load_packaging_module("make_assets")
    written = {path.name: path for path in assets.make_assets(tmp_path)}
    ico = QImageReader(str(written["berth.ico"]))
    assert ico.imageCount() == len(assets.ICO_SIZES)
    assert not ico.read().isNull()
    icns = QImageReader(str(written["berth.icns"]))
    assert icns.imageCount() == len(assets.ICNS_TYPES)
    sizes = set()
    for _ in range(icns.imageCount()):
        sizes.add(icns.read().width())
        icns.jumpToNextImage()
    assert {16, 128, 1024} <= sizes

    # the Windows version resource PyInstaller embeds: evaluate it with stand-ins for its classes
    text = written["berth-desktop-version.txt"].read_text()
    record: dict[str, Any] = {}

    def keep(name: str) -> Any:
        return lambda *args, **kwargs: record.setdefault(name, []).append((args, kwargs))

    names = ("VSVersionInfo", "FixedFileInfo", "StringFileInfo", "StringTable", "StringStruct", "VarFileInfo",
             "VarStruct")
    eval(text, {"__builtins__": {}}, {name: keep(name) for name in names})  # our own generated text
    strings = {args[0]: args[1] for args, _ in record["StringStruct"]}
    assert strings["ProductVersion"] == __version__ and strings["OriginalFilename"] == "berth-desktop.exe"


@pytest.mark.unit
def test_the_committed_guest_manifest_is_refused_until_a_release_pins_it() -> None:
    guest = load_packaging_module("guest_image")
    manifest = guest.load_manifest(PACKAGING / "guest-image.json")
    assert manifest["version"] == __version__
    assert any("sha256 is not pinned" in problem for problem in guest.problems(manifest))


def fake_image(directory: Path) -> Path:
    directory.mkdir()
    for name in ("vmlinuz", "initrd.img", "rootfs.qcow2"):
        (directory / name).write_bytes(name.encode() * 1000)
    (directory / "manifest.json").write_text("{}")
    return directory


@pytest.fixture
def loopback_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.unit
def test_guest_image_published_then_installed_only_when_its_digest_matches(
    tmp_path: Path, loopback_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    guest = load_packaging_module("guest_image")
    base, www = loopback_server
    manifest_path = tmp_path / "guest-image.json"
    archive = guest.publish(fake_image(tmp_path / "built"), "https://releases.invalid/guest.tar.xz", manifest_path,
                            www, __version__, "x86_64")
    manifest = guest.load_manifest(manifest_path)
    entry = manifest["images"]["x86_64"]
    assert guest.problems(manifest) == []
    assert entry["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()

    # First run: the pinned https address is served here from loopback.
    real_download = guest.download_verified

    def from_loopback(url: str, sha256: str, size: int, dest: Any, timeout: float = 60) -> None:
        real_download(f"{base}/{archive.name}", sha256, size, dest, timeout)

    monkeypatch.setattr(guest, "download_verified", from_loopback)
    cache = tmp_path / "cache"
    image = guest.install(manifest, cache, "x86_64")
    assert (image / "rootfs.qcow2").read_bytes() == b"rootfs.qcow2" * 1000
    assert guest.install(manifest, cache, "x86_64") == image  # already there: no second download

    # A tampered archive (same size, other bytes) is refused and leaves nothing behind.
    shutil.rmtree(cache)
    data = bytearray(archive.read_bytes())
    data[-100] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(guest.GuestImageError, match="does not match"):
        guest.install(manifest, cache, "x86_64")
    assert [p for p in cache.iterdir()] == []


@pytest.mark.unit
def test_guest_archive_with_anything_but_the_image_files_is_not_unpacked(tmp_path: Path) -> None:
    guest = load_packaging_module("guest_image")
    archive = tmp_path / "evil.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        for name in ("vmlinuz", "initrd.img", "manifest.json"):
            info = tarfile.TarInfo(name)
            tar.addfile(info)
        link = tarfile.TarInfo("rootfs.qcow2")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    (tmp_path / "out").mkdir()
    with pytest.raises(guest.GuestImageError, match="not a regular file"):
        guest._unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "rootfs.qcow2").exists()


@pytest.mark.unit
def test_spec_names_what_the_code_reads_at_run_time() -> None:
    spec = (PACKAGING / "berth.spec").read_text()
    for data in ("resources/icons", "resources/themes", "engine/runtime/data", "engine/compose/data"):
        assert f'"{data}"' in spec
        assert (PACKAGING.parent / data).is_dir()
    assert json.loads((PACKAGING / "guest-image.json").read_text())["format"] == 1
