"""Guest images as release artifacts: packed, pinned by digest, fetched and verified on first run.

A release holds, per architecture, `berth-guest-<version>-<arch>.tar` (the image's four files; the
kernel, initrd and qcow2 inside are compressed already), `berth-wsl-<version>-<arch>.tar.gz` (the same
guest's root file system, what a WSL machine is imported from: `wsl --import` reads a gzip'd tar as it
reads a plain one) and one manifest naming each archive with its size, sha256 and berthd version
(`images`: the QEMU guests, with their kernel; `rootfs`: the WSL root file systems). The app carries that
manifest with a base URL (the pin, `packaging/guest-image.json`, baked into the bundle), so a Mac or
Windows host that cannot build a guest fetches the one for its architecture:

- from `<base URL>/<file>`; `--image-url` or `$BERTH_GUEST_URL` names another base (a mirror, a
  directory, a file:// URL), `$BERTH_GUEST_MANIFEST` another manifest;
- into `<cache>/downloads/<file>.part`, resumed with an HTTP Range request after an interruption (in the
  same run, a few times, or in the next run);
- verified (size and sha256) before anything is unpacked; an archive that does not match is deleted
  and never booted;
- unpacked file by file (only the image's regular files, by their plain names) into
  `<cache>/release-<sha256 prefix>/`, where vmhost.image.find_image finds it. A WSL root file system is
  kept as downloaded, in `<cache>/wsl-<sha256 prefix>/`: wsl.exe unpacks it into the distro's disk.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmhost.image import GuestImage

FORMAT = 2
IMAGE_FILES = ("vmlinuz", "initrd.img", "rootfs.qcow2", "manifest.json")
CHUNK = 1 << 20
REPO = Path(__file__).resolve().parents[1]


class ReleaseError(Exception):
    """A guest image could not be had; the message says why and what to do."""


class DigestMismatch(ReleaseError):
    pass


def archive_name(version: str, arch: str) -> str:
    return f"berth-guest-{version}-{arch}.tar"


def manifest_name(version: str) -> str:
    return f"berth-guest-{version}.json"


def rootfs_name(version: str, arch: str) -> str:
    return f"berth-wsl-{version}-{arch}.tar.gz"


# ---- making a release ----

def pack(image: GuestImage, out_dir: Path, version: str) -> tuple[Path, dict[str, Any]]:
    """Write the image's archive into `out_dir`; return it and its manifest entry.

    The same image makes the same bytes: members in a fixed order, owned by root, dated by the image's
    SOURCE_DATE_EPOCH."""
    missing = [name for name in IMAGE_FILES if not (image.path / name).is_file()]
    if missing:
        raise ReleaseError(f"{image.path} is not a built guest image (missing {', '.join(missing)})")
    info = image.manifest
    arch = image.arch
    epoch = int(str(info.get("source_date_epoch") or 0))
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / archive_name(version, arch)
    tmp = archive.with_name(archive.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in IMAGE_FILES:
            member = tar.gettarinfo(str(image.path / name), arcname=name)
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            member.mtime = epoch
            member.mode = 0o644
            with (image.path / name).open("rb") as f:
                tar.addfile(member, f)
    tmp.replace(archive)
    digest, size = file_digest(archive)
    entry = {"file": archive.name, "size": size, "sha256": digest, "berthd": info.get("berthd"),
             "kernel": info.get("kernel"), "key": info.get("key")}
    return archive, entry


def pack_rootfs(image: GuestImage, rootfs_tar: Path, out_dir: Path, version: str) -> tuple[Path, dict[str, Any]]:
    """Write the guest's root file system tar (vmhost.wslmachine.export_rootfs) gzip'd into `out_dir`; return
    it and its manifest entry. The same tar makes the same bytes: no name or time in the gzip header."""
    info = image.manifest
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / rootfs_name(version, image.arch)
    tmp = archive.with_name(archive.name + ".tmp")
    with rootfs_tar.open("rb") as source, tmp.open("wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as out:
        shutil.copyfileobj(source, out, CHUNK)
    tmp.replace(archive)
    digest, size = file_digest(archive)
    entry = {"file": archive.name, "arch": image.arch, "size": size, "sha256": digest, "berthd": info.get("berthd"),
             "key": info.get("key")}
    return archive, entry


def write_manifest(path: Path, version: str, entries: dict[str, dict[str, Any]], base_url: str | None = None,
                   rootfs: dict[str, dict[str, Any]] | None = None) -> None:
    """Add `entries` (arch -> guest image entry) and `rootfs` (arch -> WSL root file system entry) to the
    manifest at `path`, keeping its other architectures."""
    data = load_manifest(path) if path.is_file() else {}
    if data.get("version") != version:
        # Another release's digests would pin files this one does not have.
        data["images"] = {}
        data.pop("rootfs", None)
    data.update(format=FORMAT, version=version)
    if base_url is not None:
        data["base_url"] = base_url
    data.setdefault("base_url", None)
    images = data.setdefault("images", {})
    images.update(entries)
    data["images"] = dict(sorted(images.items()))
    if rootfs:
        data["rootfs"] = dict(sorted({**(data.get("rootfs") or {}), **rootfs}.items()))
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ReleaseError(f"cannot read the guest image manifest {path}: {e}") from e
    return data


def problems(manifest: dict[str, Any], require_base: bool = True, require_rootfs: bool = False) -> list[str]:
    """What keeps a manifest from being shipped: a https base URL and every image pinned by size and sha256;
    with `require_rootfs` (the Windows app, whose machines are WSL distros), every architecture's WSL root
    file system pinned too."""
    found: list[str] = []
    if manifest.get("format") != FORMAT:
        found.append(f"format must be {FORMAT}")
    if require_base and not str(manifest.get("base_url") or "").startswith("https://"):
        found.append("base_url must be https://")
    images = manifest.get("images")
    if not isinstance(images, dict) or not images:
        return [*found, "no images"]
    for arch, entry in images.items():
        found += entry_problems(arch, entry, GUEST_FILE)
    if require_rootfs:
        rootfs = manifest.get("rootfs")
        rootfs = rootfs if isinstance(rootfs, dict) else {}
        for arch in images:
            found += [f"rootfs {problem}" for problem in entry_problems(arch, rootfs.get(arch), ROOTFS_FILE)]
    return found


GUEST_FILE = r"berth-guest-[\w.+-]+\.tar"
ROOTFS_FILE = r"berth-wsl-[\w.+-]+\.tar(\.gz)?"


def entry_problems(arch: str, entry: object, file_pattern: str) -> list[str]:
    """What an archive's entry lacks to be fetched and verified: a file name, a sha256 and a size."""
    if arch not in ("x86_64", "aarch64"):
        return [f"{arch}: unknown architecture"]
    if entry is None:
        return [f"{arch}: no entry"]
    if not isinstance(entry, dict):
        return [f"{arch}: not an object"]
    found = []
    if not re.fullmatch(file_pattern, str(entry.get("file") or "")):
        found.append(f"{arch}: file is not named")
    if not re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256") or "")):
        found.append(f"{arch}: sha256 is not pinned")
    if not isinstance(entry.get("size"), int) or entry["size"] <= 0:
        found.append(f"{arch}: size is not pinned")
    return found


def file_digest(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# ---- first run: fetch, verify, unpack ----

def pinned_manifest_path() -> Path:
    """The pin: $BERTH_GUEST_MANIFEST, else the one bundled with the app, else the repository's."""
    env = os.environ.get("BERTH_GUEST_MANIFEST")
    if env:
        return Path(env)
    bundled = getattr(sys, "_MEIPASS", None)
    if bundled and (Path(bundled) / "guest-image.json").is_file():
        return Path(bundled) / "guest-image.json"
    return REPO / "packaging" / "guest-image.json"


@dataclass(frozen=True)
class Download:
    """How far a download is: what the CLI prints and the app's task panel shows."""

    file: str
    received: int
    total: int
    rate: float  # bytes per second, over the last few seconds
    resumed_from: int = 0

    @property
    def seconds_left(self) -> float | None:
        return (self.total - self.received) / self.rate if self.rate > 0 else None

    def describe(self) -> str:
        left = self.seconds_left
        eta = "" if left is None else f", {_duration(left)} left"
        resumed = f" (resumed at {_mb(self.resumed_from)})" if self.resumed_from else ""
        return (f"downloading {self.file}: {_mb(self.received)} of {_mb(self.total)} "
                f"({100 * self.received // max(self.total, 1)} %), {_mb(int(self.rate))}/s{eta}{resumed}")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


DownloadProgress = Callable[[Download], None]


def fetch(url: str, dest: Path, size: int, sha256: str, progress: DownloadProgress = lambda _: None,
          attempts: int = 5, timeout: float = 30) -> Path:
    """Download `url` to `dest` (resuming `dest`.part), verify it, and return `dest`.

    On a digest or size mismatch the file is deleted and DigestMismatch raised: it is never unpacked."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        dest.replace(part)  # verified again below, like any download
    last_error: Exception | None = None
    for attempt in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        if have >= size:
            break
        try:
            _get(url, part, have, size, progress, timeout)
            last_error = None
            break
        except (OSError, http.client.HTTPException) as e:
            last_error = e
            time.sleep(min(0.5 * 2**attempt, 5))
    if last_error is not None:
        kept = part.stat().st_size if part.exists() else 0
        raise ReleaseError(f"downloading {url} failed after {attempts} attempts: {last_error}; "
                           f"{_mb(kept)} kept in {part}, the next try resumes there")
    digest, got = file_digest(part)
    if got != size or digest != sha256:
        part.unlink()
        what = f"{got} bytes, the pin says {size}" if got != size else f"sha256 {digest}, the pin says {sha256}"
        raise DigestMismatch(f"the guest image {url} does not match its pinned digest ({what}); "
                             "it was deleted and will not be booted")
    part.replace(dest)
    return dest


def _get(url: str, part: Path, have: int, size: int, progress: DownloadProgress, timeout: float) -> None:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("", "file"):
        _copy_local(Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme else Path(url), part, have,
                    size, progress)
        return
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # the pinned digest vouches for the bytes
    except urllib.error.HTTPError as e:
        if e.code == 416:  # nothing left to send: the part is whole (or too long; the digest will tell)
            return
        raise
    with response:
        if have and response.status != 206:
            have = 0  # the server ignored Range: start over
        file = Path(parsed.path).name
        with part.open("r+b" if have else "wb") as out:
            out.seek(have)
            out.truncate()
            _stream(response, out, file, have, size, progress)


def _copy_local(source: Path, part: Path, have: int, size: int, progress: DownloadProgress) -> None:
    with source.open("rb") as f, part.open("r+b" if have else "wb") as out:
        f.seek(have)
        out.seek(have)
        _stream(f, out, source.name, have, size, progress)


def _stream(source: Any, out: Any, file: str, start: int, size: int, progress: DownloadProgress) -> None:
    received = start
    window: list[tuple[float, int]] = [(time.monotonic(), received)]
    last_report = 0.0
    while True:
        chunk = source.read(CHUNK // 4)
        if not chunk:
            break
        received += len(chunk)
        if received > size:
            raise ReleaseError(f"{file}: larger than the {size} bytes pinned")
        out.write(chunk)
        now = time.monotonic()
        window.append((now, received))
        while len(window) > 2 and now - window[0][0] > 5:
            window.pop(0)
        if now - last_report >= 0.5 or received == size:
            last_report = now
            elapsed = now - window[0][0]
            rate = (received - window[0][1]) / elapsed if elapsed > 0 else 0.0
            progress(Download(file, received, size, rate, start))
    if received < size:
        # The server closed early: keep what came, the caller resumes from there.
        raise ConnectionError(f"connection closed after {received} of {size} bytes")


def unpack(archive: Path, target: Path) -> GuestImage:
    """The image's regular files, by their plain names, into `target` (replaced whole); trusts no tar."""
    tmp = target.with_name(target.name + ".unpacking")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:") as tar:
            members = {member.name: member for member in tar.getmembers()}
            missing = [name for name in IMAGE_FILES if name not in members]
            if missing:
                raise ReleaseError(f"the guest archive lacks {', '.join(missing)}")
            for name in IMAGE_FILES:
                member = members[name]
                if not member.isfile():
                    raise ReleaseError(f"the guest archive's {name} is not a regular file")
                source = tar.extractfile(member)
                assert source is not None  # a regular file always has content
                with source, (tmp / name).open("wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
        shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return GuestImage(target)


def install(cache: Path, arch: str, base_url: str | None = None, manifest_path: Path | None = None,
            progress: DownloadProgress = lambda _: None, attempts: int = 5) -> GuestImage:
    """The pinned guest for `arch`, fetched from the release location (or `base_url`) unless cached."""
    manifest_path = manifest_path or pinned_manifest_path()
    manifest = load_manifest(manifest_path)
    base = base_url or os.environ.get("BERTH_GUEST_URL") or manifest.get("base_url")
    found = problems(manifest, require_base=False)
    entry = (manifest.get("images") or {}).get(arch)
    if found or not isinstance(entry, dict):
        raise ReleaseError(f"this build pins no guest image for {arch} ({manifest_path}: "
                           f"{'; '.join(found) or 'no entry'}); build one with `python -m vmhost.image build` "
                           "on Linux as root, or pass --image with a guest image directory")
    if not base:
        raise ReleaseError(f"{manifest_path} names no release location: pass --image-url or set $BERTH_GUEST_URL")
    target = cache / f"release-{entry['sha256'][:16]}"
    image = GuestImage(target)
    if image.complete():
        return image
    url = _join(str(base), str(entry["file"]))
    archive = fetch(url, cache / "downloads" / str(entry["file"]), int(entry["size"]), str(entry["sha256"]),
                    progress, attempts)
    try:
        return unpack(archive, target)
    finally:
        archive.unlink(missing_ok=True)  # unpacked: the archive's bytes would only double the disk used


def install_archive(archive: Path, cache: Path, manifest_path: Path | None = None) -> GuestImage:
    """A local archive: verified against the pin when it names that file, else against the release
    manifest written beside it by `vmhost.release build`."""
    candidates = [manifest_path or pinned_manifest_path(), *sorted(archive.parent.glob("berth-guest-*.json"))]
    for path in candidates:
        if not path.is_file():
            continue
        for entry in (load_manifest(path).get("images") or {}).values():
            if isinstance(entry, dict) and entry.get("file") == archive.name and entry.get("sha256"):
                digest, size = file_digest(archive)
                if digest != entry["sha256"] or size != entry["size"]:
                    raise DigestMismatch(f"{archive} does not match the digest pinned in {path}; not booted")
                return unpack(archive, cache / f"release-{digest[:16]}")
    raise ReleaseError(f"{archive}: no manifest pins it (looked in {', '.join(map(str, candidates))})")


def install_rootfs(cache: Path, arch: str, base_url: str | None = None, manifest_path: Path | None = None,
                   progress: DownloadProgress = lambda _: None, attempts: int = 5) -> Path:
    """The pinned WSL root file system for `arch` (what a WSL machine is imported from), fetched from the
    release location (or `base_url`) unless cached, verified as the guest image is; the file itself."""
    manifest_path = manifest_path or pinned_manifest_path()
    manifest = load_manifest(manifest_path)
    base = base_url or os.environ.get("BERTH_GUEST_URL") or manifest.get("base_url")
    entry = (manifest.get("rootfs") or {}).get(arch)
    found = ([f"format must be {FORMAT}"] if manifest.get("format") != FORMAT else []) + \
        entry_problems(arch, entry, ROOTFS_FILE)
    if found or not isinstance(entry, dict):
        raise ReleaseError(f"this build pins no WSL root file system for {arch} ({manifest_path}: "
                           f"{'; '.join(found)}); `python -m vmhost.release build` makes one on Linux as root, "
                           "or pass --image with a root file system tar")
    if not base:
        raise ReleaseError(f"{manifest_path} names no release location: pass --image-url or set $BERTH_GUEST_URL")
    file, size, sha256 = str(entry["file"]), int(entry["size"]), str(entry["sha256"])
    target = cache / f"wsl-{sha256[:16]}" / file
    if target.is_file() and target.stat().st_size == size:
        return target  # verified when it was fetched
    archive = fetch(_join(str(base), file), cache / "downloads" / file, size, sha256, progress, attempts)
    target.parent.mkdir(parents=True, exist_ok=True)
    archive.replace(target)
    return target


def _join(base: str, file: str) -> str:
    if "://" not in base:
        return str(Path(base) / file)
    return base.rstrip("/") + "/" + file


def _engine_version() -> str:
    from vmhost.image import _engine_version as version

    return version()


def release(arches: list[str], out_dir: Path, base_url: str | None = None, pin: Path | None = None,
            progress: Callable[[str], None] = lambda _: None) -> Path:
    """Build (or reuse) the guest for each architecture, pack it and its WSL root file system, and write the
    release manifest."""
    from vmhost.image import build
    from vmhost.wslmachine import export_rootfs

    version = _engine_version()
    entries, rootfs = {}, {}
    for arch in arches:
        image = build(progress=progress, guest_arch=arch)
        archive, entries[arch] = pack(image, out_dir, version)
        progress(f"{archive}: {entries[arch]['size'] / 1e6:.1f} MB, sha256 {entries[arch]['sha256']}")
        progress(f"exporting the {arch} root file system for WSL")
        wsl, rootfs[arch] = pack_rootfs(image, export_rootfs(image.path), out_dir, version)
        progress(f"{wsl}: {rootfs[arch]['size'] / 1e6:.1f} MB, sha256 {rootfs[arch]['sha256']}")
    manifest = out_dir / manifest_name(version)
    write_manifest(manifest, version, entries, base_url, rootfs)
    if pin is not None:
        write_manifest(pin, version, entries, base_url, rootfs)
    return manifest


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m vmhost.release",
                                     description="Guest images as release artifacts (build on Linux as root).")
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build, pack and pin the guest image of each architecture "
                                                  "and its root file system for WSL")
    build_cmd.add_argument("--arch", action="append", choices=["x86_64", "aarch64"],
                           help="repeatable (default: both)")
    build_cmd.add_argument("--out", type=Path, default=Path("dist/guest"), help="where archives go (dist/guest)")
    build_cmd.add_argument("--base-url", help="https:// location the archives will be served from")
    build_cmd.add_argument("--pin", type=Path, help="also write the pin the app bakes in "
                                                     "(packaging/guest-image.json)")
    fetch_cmd = commands.add_parser("fetch", help="download, verify and unpack the pinned guest for this host")
    fetch_cmd.add_argument("--arch", choices=["x86_64", "aarch64"])
    fetch_cmd.add_argument("--image-url", help="release location (default: the pin's, or $BERTH_GUEST_URL)")
    fetch_cmd.add_argument("--cache", type=Path)
    fetch_cmd.add_argument("--wsl", action="store_true", help="the root file system a WSL machine is imported "
                                                              "from, rather than the QEMU guest image")
    args = parser.parse_args(argv)
    from vmhost.arch import host_arch
    from vmhost.image import ImageError, cache_dir

    try:
        if args.command == "build":
            print(release(args.arch or ["x86_64", "aarch64"], args.out, args.base_url, args.pin,
                          progress=lambda m: print(f"release: {m}", file=sys.stderr, flush=True)))
        elif args.wsl:
            print(install_rootfs(args.cache or cache_dir(), args.arch or host_arch().name, args.image_url,
                                 progress=lambda d: print(d.describe(), file=sys.stderr, flush=True)))
        else:
            image = install(args.cache or cache_dir(), args.arch or host_arch().name, args.image_url,
                            progress=lambda d: print(d.describe(), file=sys.stderr, flush=True))
            print(image.path)
    except (ReleaseError, ImageError) as e:
        print(f"release: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
