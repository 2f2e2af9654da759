"""The packaging recipes that can be checked without building: Linux files, icons, the guest manifest."""

from __future__ import annotations

import configparser
import json
import shlex
import shutil
import subprocess
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


@pytest.mark.unit
def test_guest_check_refuses_the_unpinned_manifest_and_passes_a_pinned_one(tmp_path: Path) -> None:
    """The packaging front door; fetching, resuming and verifying are tests/vmhost/test_release.py's."""
    guest = load_packaging_module("guest_image")
    assert guest.main(["check", str(PACKAGING / "guest-image.json")]) == 1
    pinned = tmp_path / "guest-image.json"
    entry = {"file": "berth-guest-0.1.0-x86_64.tar", "size": 10, "sha256": "0" * 64}
    pinned.write_text(json.dumps({"format": guest.FORMAT, "version": "0.1.0", "base_url": "https://r.invalid/0.1.0",
                                  "images": {"x86_64": entry}}))
    assert guest.main(["check", str(pinned)]) == 0


@pytest.mark.unit
def test_spec_names_what_the_code_reads_at_run_time() -> None:
    spec = (PACKAGING / "berth.spec").read_text()
    for data in ("resources/icons", "resources/themes", "engine/runtime/data", "engine/compose/data"):
        assert f'"{data}"' in spec
        assert (PACKAGING.parent / data).is_dir()
    assert json.loads((PACKAGING / "guest-image.json").read_text())["format"] == 2
