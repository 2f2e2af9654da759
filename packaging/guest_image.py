"""The guest image that the macOS and Windows apps download on first run, pinned by its digest.

The apps cannot build the guest (debootstrap needs Linux and root), so a release publishes one built
by `python -m vmhost.image build` and ships a manifest naming it by URL, size and sha256:

    python packaging/guest_image.py publish <image dir> --url <where it will live> --manifest guest-image.json
    python packaging/guest_image.py check guest-image.json           (the app build refuses an unpinned one)
    python packaging/guest_image.py install guest-image.json [--cache DIR]   (what first run does)

`install` downloads to a temporary file, hashes while it writes, and unpacks only a complete archive
whose size and sha256 match the manifest, into the cache directory `vmhost.image.find_image` reads.
An image that does not match is deleted and never booted. This module is the reference for that
first-run step; vmhost owns it in the app (see packaging/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO

FORMAT = 1
# The files of a built guest (vmhost.image.GuestImage): nothing else is unpacked from an archive.
IMAGE_FILES = ("vmlinuz", "initrd.img", "rootfs.qcow2", "manifest.json")
ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
CHUNK = 1 << 20


class GuestImageError(Exception):
    pass


def host_arch() -> str:
    machine = platform.machine().lower()
    if machine not in ARCHES:
        raise GuestImageError(f"no guest image for this machine's architecture ({machine})")
    return ARCHES[machine]


def load_manifest(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def problems(manifest: dict[str, Any]) -> list[str]:
    """What keeps a manifest from being shipped: every image must be pinned (https URL, size, sha256)."""
    found: list[str] = []
    if manifest.get("format") != FORMAT:
        found.append(f"format must be {FORMAT}")
    images = manifest.get("images")
    if not isinstance(images, dict) or not images:
        return [*found, "no images"]
    for arch, entry in images.items():
        if arch not in ARCHES.values():
            found.append(f"{arch}: unknown architecture")
            continue
        if not isinstance(entry, dict):
            found.append(f"{arch}: not an object")
            continue
        if not str(entry.get("url") or "").startswith("https://"):
            found.append(f"{arch}: url must be https://")
        if not re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256") or "")):
            found.append(f"{arch}: sha256 is not pinned")
        if not isinstance(entry.get("size"), int) or entry["size"] <= 0:
            found.append(f"{arch}: size is not pinned")
    return found


def publish(image_dir: Path, url: str, manifest_path: Path, archive_dir: Path, version: str, arch: str) -> Path:
    """Pack a built guest as `berth-guest-<version>-<arch>.tar.xz` and pin it in the manifest."""
    missing = [name for name in IMAGE_FILES if not (image_dir / name).is_file()]
    if missing:
        raise GuestImageError(f"{image_dir} is not a built guest image (missing {', '.join(missing)})")
    archive_dir.mkdir(parents=True, exist_ok=True)
    archive = archive_dir / f"berth-guest-{version}-{arch}.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        for name in IMAGE_FILES:
            tar.add(image_dir / name, arcname=name, recursive=False)
    digest, size = _digest(archive)
    manifest = load_manifest(manifest_path) if manifest_path.is_file() else {}
    manifest.update(format=FORMAT, version=version)
    manifest.setdefault("images", {})[arch] = {"url": url, "size": size, "sha256": digest}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return archive


def _digest(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def download_verified(url: str, sha256: str, size: int, dest: BinaryIO, timeout: float = 60) -> None:
    """Stream `url` into `dest`, hashing as it goes; raise unless size and sha256 match exactly."""
    digest, received = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=timeout) as response:  # an https URL from the pinned manifest
        while chunk := response.read(CHUNK):
            received += len(chunk)
            if received > size:
                raise GuestImageError(f"{url}: larger than the {size} bytes pinned in the manifest")
            digest.update(chunk)
            dest.write(chunk)
    if received != size:
        raise GuestImageError(f"{url}: got {received} bytes, the manifest pins {size}")
    if digest.hexdigest() != sha256:
        raise GuestImageError(f"{url}: sha256 {digest.hexdigest()} does not match the pinned {sha256}")


def install(manifest: dict[str, Any], cache: Path, arch: str | None = None) -> Path:
    """Download, verify and unpack the guest for this machine; returns the image directory."""
    found = problems(manifest)
    if found:
        raise GuestImageError("the guest image manifest is not pinned: " + "; ".join(found))
    arch = arch or host_arch()
    entry = manifest["images"].get(arch)
    if entry is None:
        raise GuestImageError(f"this release has no guest image for {arch}")
    target = cache / f"release-{entry['sha256'][:16]}"
    if all((target / name).is_file() for name in IMAGE_FILES):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        archive = Path(tmp) / "guest.tar.xz"
        with archive.open("wb") as f:
            download_verified(entry["url"], entry["sha256"], entry["size"], f)
        unpacked = Path(tmp) / "image"
        unpacked.mkdir()
        _unpack(archive, unpacked)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(unpacked, target)
    return target


def _unpack(archive: Path, dest: Path) -> None:
    """Only the image's regular files, by their plain names: the archive is verified, still trust no tar."""
    with tarfile.open(archive, "r:xz") as tar:
        members = {member.name: member for member in tar.getmembers()}
        missing = [name for name in IMAGE_FILES if name not in members]
        if missing:
            raise GuestImageError(f"the guest archive lacks {', '.join(missing)}")
        for name in IMAGE_FILES:
            member = members[name]
            if not member.isfile():
                raise GuestImageError(f"the guest archive's {name} is not a regular file")
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has content
            with source, (dest / name).open("wb") as out:
                shutil.copyfileobj(source, out, CHUNK)


def default_cache() -> Path:
    """Where vmhost looks for guest images ($BERTH_GUEST_CACHE, else the per-user cache)."""
    if os.environ.get("BERTH_GUEST_CACHE"):
        return Path(os.environ["BERTH_GUEST_CACHE"])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "Berth" / "guest"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "Berth" / "guest"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "berth" / "guest"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Publish, check and install the pinned guest image.")
    commands = parser.add_subparsers(dest="command", required=True)
    pub = commands.add_parser("publish", help="pack a built guest image and pin it in a manifest")
    pub.add_argument("image_dir", type=Path)
    pub.add_argument("--url", required=True, help="https:// address the archive will be served from")
    pub.add_argument("--manifest", type=Path, required=True)
    pub.add_argument("--out", type=Path, default=Path("dist"))
    pub.add_argument("--arch", choices=sorted(set(ARCHES.values())), default=None, help="default: this machine's")
    check = commands.add_parser("check", help="fail unless every image in the manifest is pinned")
    check.add_argument("manifest", type=Path)
    inst = commands.add_parser("install", help="download, verify and unpack the guest image for this machine")
    inst.add_argument("manifest", type=Path)
    inst.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "publish":
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            from engine import __version__

            print(publish(args.image_dir, args.url, args.manifest, args.out, __version__, args.arch or host_arch()))
        elif args.command == "check":
            found = problems(load_manifest(args.manifest))
            if found:
                print(f"{args.manifest}: " + "; ".join(found), file=sys.stderr)
                return 1
        else:
            print(install(load_manifest(args.manifest), args.cache or default_cache()))
    except GuestImageError as exc:
        print(f"guest image: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
