"""The guest image: a Debian system with berthd, built from Debian packages and this repository.

`python -m vmhost.image build` runs debootstrap (root needed), adds `resources/guest/rootfs`, installs
berthd's wheels (downloaded on the host: the guest has no network while it is built) and this
repository's engine/, prunes what a headless virtio guest never uses, and writes

    <cache>/<key>/vmlinuz, initrd.img   booted directly by QEMU (no boot loader in the image)
    <cache>/<key>/rootfs.qcow2          ext4 root file system, the backing file of every machine's disk
    <cache>/<key>/manifest.json

`key` hashes the recipe and the engine sources, so an unchanged tree reuses the cached image.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "resources" / "guest"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# berthd's units and the seed script: enabled in the image.
UNITS = ("berth-seed.service", "berthd.service", "systemd-networkd.service", "ssh.service")
# Units that only cost boot time in a machine.
MASKED = (
    "apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
    "e2scrub_reap.service", "fstrim.timer", "systemd-networkd-wait-online.service",
    "getty@tty1.service", "serial-getty@ttyS0.service", "ssh.socket",
)

Progress = Callable[[str], None]


class ImageError(Exception):
    pass


@dataclass(frozen=True)
class GuestImage:
    path: Path  # the directory holding kernel, initrd and root disk

    @property
    def kernel(self) -> Path:
        return self.path / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.path / "initrd.img"

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs.qcow2"

    @property
    def manifest(self) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.path / "manifest.json").read_text())
        return data

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.kernel, self.initrd, self.rootfs, self.path / "manifest.json"))

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.kernel, self.initrd, self.rootfs))


def cache_dir() -> Path:
    """Where built images live: $BERTH_GUEST_CACHE, else /var/cache/berth/guest as root, else ~/.cache."""
    env = os.environ.get("BERTH_GUEST_CACHE")
    if env:
        return Path(env)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/cache/berth/guest")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "berth" / "guest"


def _source_files() -> Iterable[Path]:
    for base, patterns in ((RECIPE, ("**/*",)), (REPO / "engine", ("**/*.py", "**/*.json"))):
        for pattern in patterns:
            # Documentation does not change the image; a README edit should not cost a rebuild.
            yield from (p for p in base.glob(pattern)
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".md")
    yield Path(__file__)


def recipe_key() -> str:
    """Hash of everything the image is made from (recipe, engine sources, this builder)."""
    digest = hashlib.sha256()
    for path in sorted(set(_source_files())):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
        digest.update(oct(path.stat().st_mode & 0o777).encode())
    return digest.hexdigest()[:16]


def find_image(cache: Path | None = None) -> GuestImage | None:
    """The image built from the current tree if present, else the newest complete one."""
    cache = cache or cache_dir()
    current = GuestImage(cache / recipe_key())
    if current.complete():
        return current
    built = [GuestImage(p) for p in cache.glob("*") if p.is_dir() and GuestImage(p).complete()]
    return max(built, key=lambda image: (image.path / "manifest.json").stat().st_mtime, default=None)


def apt_mirror() -> str:
    """The host's Debian mirror (so builds use the same archive as apt), or deb.debian.org."""
    env = os.environ.get("BERTH_DEBIAN_MIRROR")
    if env:
        return env
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                words = line.split()
                uri = ""
                if words[:1] == ["URIs:"] and len(words) > 1:
                    uri = words[1]
                elif words[:1] == ["deb"] and len(words) > 2:
                    uri = next((w for w in words[1:] if "://" in w), "")
                if uri.rstrip("/").endswith("/debian"):
                    return uri
    return DEFAULT_MIRROR


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def _run(argv: list[str], **kwargs: object) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise ImageError(f"{' '.join(argv[:3])} ... failed ({result.returncode}):\n{tail}")


def missing_tools() -> list[str]:
    needed = {"debootstrap": "debootstrap", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils"}
    return [f"{tool} (apt install {pkg})" for tool, pkg in needed.items() if not shutil.which(tool)]


def build(cache: Path | None = None, mirror: str | None = None, progress: Progress = lambda _: None,
          force: bool = False) -> GuestImage:
    """Build the image for the current tree unless the cache already has it."""
    cache = cache or cache_dir()
    image = GuestImage(cache / recipe_key())
    if image.complete() and not force:
        progress(f"guest image {image.path} is up to date")
        return image
    if os.geteuid() != 0:
        raise ImageError("building the guest image needs root (debootstrap and chroot)")
    missing = missing_tools()
    if missing:
        raise ImageError("building the guest image needs " + ", ".join(missing))
    cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache))
    try:
        root = work / "root"
        out = work / "out"
        out.mkdir()
        _bootstrap(root, cache / "debs", mirror or apt_mirror(), progress)
        _install_berthd(root, cache / "wheels", progress)
        _configure(root, progress)
        kernel_version = _finish(root, out, progress)
        progress("writing the root file system")
        _make_disk(root, out, work)
        manifest = {
            "key": image.path.name, "suite": SUITE, "kernel": kernel_version,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - started, 1),
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if image.path.exists():
            shutil.rmtree(image.path)
        out.rename(image.path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(f"guest image ready: {image.path} ({image.size_bytes() / 1e6:.0f} MB)")
    return image


def _bootstrap(root: Path, debs: Path, mirror: str, progress: Progress) -> None:
    progress(f"debootstrap {SUITE} from {mirror}")
    debs.mkdir(parents=True, exist_ok=True)
    packages = ",".join(_lines(RECIPE / "packages.txt"))
    # Keeping the .debs makes the next build download nothing.
    _run(["debootstrap", "--variant=minbase", f"--cache-dir={debs}", f"--include={packages}",
          SUITE, str(root), mirror])


def _install_berthd(root: Path, wheels: Path, progress: Progress) -> None:
    progress("installing berthd and its Python dependencies")
    requirements = RECIPE / "requirements.txt"
    wheels.mkdir(parents=True, exist_ok=True)
    # The guest runs Debian's CPython 3.11 on x86_64; download wheels for it, whatever the host runs.
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(wheels),
          "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
          "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "-r", str(requirements)])
    target = root / "opt" / "berth"
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels),
          "--no-compile", "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
          "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--only-binary=:all:",
          "--target", str(target / "lib"), "-r", str(requirements)])
    shutil.copytree(REPO / "engine", target / "engine", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _configure(root: Path, progress: Progress) -> None:
    progress("configuring the guest")
    shutil.copytree(RECIPE / "rootfs", root, dirs_exist_ok=True, symlinks=True)
    # Host keys come from each machine's seed; none may be shared by every machine built from this image.
    for key in (root / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    _run(["chroot", str(root), "groupadd", "--system", "berth"])
    _run(["chroot", str(root), "systemctl", "enable", *UNITS])
    _run(["chroot", str(root), "systemctl", "mask", *MASKED])
    (root / "etc" / "machine-id").write_text("")  # systemd makes a fresh one per machine at boot


def _finish(root: Path, out: Path, progress: Progress) -> str:
    progress("pruning and making the initramfs")
    for pattern in _lines(RECIPE / "prune.txt"):
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    versions = sorted(p.name for p in (root / "usr" / "lib" / "modules").iterdir())
    if len(versions) != 1:
        raise ImageError(f"expected one kernel in the image, found {versions}")
    version = versions[0]
    _run(["chroot", str(root), "depmod", "-a", version])
    _run(["chroot", str(root), "update-initramfs", "-u", "-k", version])
    # Compiled once here rather than on every boot: imports are slow under emulation.
    _run(["chroot", str(root), "python3", "-m", "compileall", "-q", "-j", "0", "/opt/berth", "/usr/lib/python3.11"])
    shutil.copy2(root / "boot" / f"vmlinuz-{version}", out / "vmlinuz")
    shutil.copy2(root / "boot" / f"initrd.img-{version}", out / "initrd.img")
    for path in (root / "boot").iterdir():
        path.unlink()  # QEMU boots the copies in the image directory
    return version


def _make_disk(root: Path, out: Path, work: Path) -> None:
    used = int(subprocess.run(["du", "-sxb", str(root)], capture_output=True, text=True, check=True)
               .stdout.split()[0])
    size_mib = used * 13 // 10 // 2**20 + 256  # room for metadata and a first image or two
    raw = work / "rootfs.raw"
    _run(["mkfs.ext4", "-q", "-F", "-L", "berth-root", "-d", str(root), "-m", "0", str(raw), f"{size_mib}M"])
    _run(["qemu-img", "convert", "-c", "-O", "qcow2", str(raw), str(out / "rootfs.qcow2")])
    raw.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmhost.image", description="Build Berth's guest image.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build the guest image (cached by recipe hash)")
    build_cmd.add_argument("--cache", type=Path, help=f"image cache directory (default: {cache_dir()})")
    build_cmd.add_argument("--mirror", help="Debian mirror (default: the host's apt mirror)")
    build_cmd.add_argument("--force", action="store_true", help="rebuild even if the cache has this image")
    commands.add_parser("path", help="print the directory of the current image, if built")
    args = parser.parse_args(argv)
    if args.command == "path":
        image = find_image()
        if image is None:
            print("no guest image built; run: python -m vmhost.image build", file=sys.stderr)
            return 1
        print(image.path)
        return 0
    try:
        image = build(args.cache, args.mirror, progress=lambda m: print(f"image: {m}", file=sys.stderr),
                      force=args.force)
    except ImageError as e:
        print(f"image: {e}", file=sys.stderr)
        return 1
    print(image.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
