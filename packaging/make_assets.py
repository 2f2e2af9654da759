"""Platform assets made from resources/: the Windows .ico and version resources, the macOS .icns.

    python packaging/make_assets.py --out build/packaging-assets

Qt renders the SVG icon at each size; the .ico and .icns containers are written here (both hold PNG
images), so no platform tool (iconutil, ImageMagick) is needed and the result is the same everywhere.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ICON = REPO / "resources" / "icons" / "berth.svg"

ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# icns element types that hold PNG data, by pixel size (the @2x types share sizes with 1x ones).
ICNS_TYPES = (
    (b"icp4", 16), (b"icp5", 32), (b"ic11", 32), (b"ic12", 64), (b"ic07", 128),
    (b"ic08", 256), (b"ic13", 256), (b"ic09", 512), (b"ic14", 512), (b"ic10", 1024),
)
# Executables that get a Windows version resource (name -> description).
WINDOWS_EXECUTABLES = {"berth-desktop": "Berth Desktop", "berth": "Berth command line"}


def render_png(svg: Path, size: int) -> bytes:
    """The SVG drawn on a transparent square of `size` pixels, as PNG bytes."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display needed to render
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"make_assets: cannot read {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; PySide6 wants str
    buffer.close()
    return bytes(data.data())


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """A Windows icon holding one PNG per size (the PNG form is valid since Windows Vista)."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, images = b"", b""
    for size in sizes:
        png = pngs[size]
        side = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset + len(images))
        images += png
    return header + entries + images


def icns_bytes(pngs: dict[int, bytes]) -> bytes:
    """A macOS icon family of PNG elements (what iconutil writes from an .iconset)."""
    body = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def version_tuple(version: str) -> tuple[int, int, int, int]:
    numbers = [int("".join(c for c in part if c.isdigit()) or 0) for part in version.split(".")[:4]]
    padded = [*numbers, 0, 0, 0, 0][:4]
    return padded[0], padded[1], padded[2], padded[3]


def windows_version_info(name: str, description: str, version: str) -> str:
    """PyInstaller's version-resource text (shown in Explorer's Details tab and by installers)."""
    numbers = version_tuple(version)
    strings = {
        "CompanyName": "Berth",
        "FileDescription": description,
        "FileVersion": version,
        "InternalName": name,
        "OriginalFilename": f"{name}.exe",
        "ProductName": "Berth",
        "ProductVersion": version,
        "LegalCopyright": "Apache-2.0",
    }
    table = ",\n          ".join(f"StringStruct({key!r}, {value!r})" for key, value in strings.items())
    return (
        "VSVersionInfo(\n"
        f"  ffi=FixedFileInfo(filevers={numbers}, prodvers={numbers}, mask=0x3F, flags=0x0, OS=0x40004,\n"
        "                    fileType=0x1, subtype=0x0, date=(0, 0)),\n"
        "  kids=[\n"
        "    StringFileInfo([StringTable('040904B0', [\n"
        f"          {table}])]),\n"
        "    VarFileInfo([VarStruct('Translation', [1033, 1200])]),\n"
        "  ],\n"
        ")\n"
    )


def make_assets(out: Path) -> list[Path]:
    sys.path.insert(0, str(REPO))
    from engine import __version__

    out.mkdir(parents=True, exist_ok=True)
    pngs = {size: render_png(ICON, size) for size in sorted({*ICO_SIZES, *(s for _, s in ICNS_TYPES)})}
    written = [out / "berth.ico", out / "berth.icns"]
    written[0].write_bytes(ico_bytes({size: pngs[size] for size in ICO_SIZES}))
    written[1].write_bytes(icns_bytes(pngs))
    for name, description in WINDOWS_EXECUTABLES.items():
        path = out / f"{name}-version.txt"
        path.write_text(windows_version_info(name, description, __version__), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "packaging-assets")
    args = parser.parse_args(argv)
    for path in make_assets(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
