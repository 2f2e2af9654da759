"""The guest image: a Debian system with berthd, built from Debian packages and this repository.

`python -m vmhost.image build [--arch x86_64|aarch64]` (root) bootstraps Debian for the guest's
architecture (debootstrap for the host's own, mmdebstrap through qemu-user-static and binfmt_misc for
another), adds `resources/guest/rootfs` (whose /sbin/berth-init replaces systemd), installs berthd's wheels
(downloaded on the host for the guest's platform: the guest has no network while it is built) and this
repository's engine/, byte-compiles all Python, prunes what a headless virtio guest never uses, and writes

    <cache>/<key>/vmlinuz, initrd.img   booted directly by QEMU (no boot loader in the image)
    <cache>/<key>/rootfs.qcow2          ext4 root file system, the backing file of every machine's disk
    <cache>/<key>/manifest.json         arch, kernel command line, berthd version, Debian packages

`key` hashes the recipe, the engine sources and the architecture, so an unchanged tree reuses the cached
image. Builds are reproducible up to Debian's archive: file times come from SOURCE_DATE_EPOCH (the
newest commit by default), the file system's UUID and hash seed from the key, bytecode is hash-checked
rather than timestamped; the manifest lists every package version, so a rebuild against a snapshot
mirror (BERTH_DEBIAN_MIRROR) makes the same files.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid as uuid_module
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from vmhost.arch import ARCHES, Arch, arch, host_arch

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "resources" / "guest"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Direct kernel boot. The root is found by label: virtio disks enumerate in PCI order, not in the order
# given to QEMU, so the seed disk may come first. eth0 matches what berth-init configures. The crypto
# self-tests cost half a second of boot under emulation (initcall_debug); Debian's packages test again.
CMDLINE = ("root=LABEL=berth-root rw console={console} init=/sbin/berth-init net.ifnames=0 quiet "
           "mitigations=off cryptomgr.notests")

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
    def pvh_kernel(self) -> Path:
        """The x86_64 kernel uncompressed (vmlinux), which QEMU boots at its PVH entry: no real-mode setup,
        no decompressing (seconds under TCG). Made on the host from vmlinuz by `prepare_kernel`."""
        return self.path / "vmlinux"

    def boot_kernel(self) -> Path:
        """What QEMU's -kernel should load: vmlinux if prepared, else vmlinuz."""
        return self.pvh_kernel if self.pvh_kernel.is_file() else self.kernel

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs.qcow2"

    @property
    def manifest(self) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.path / "manifest.json").read_text())
        return data

    @property
    def arch(self) -> str:
        # Images built before aarch64 existed say nothing: they are x86_64.
        return str(self.manifest.get("arch") or "x86_64")

    @property
    def cmdline(self) -> str | None:
        """The kernel command line the image was made for (None: an image from before it said)."""
        value = self.manifest.get("cmdline")
        return str(value) if value else None

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.kernel, self.initrd, self.rootfs, self.path / "manifest.json"))

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.kernel, self.initrd, self.rootfs))


_XZ_MAGIC = b"\xfd7zXZ\x00"


def prepare_kernel(image: GuestImage) -> None:
    """Unpack an x86_64 image's kernel for PVH boot, once (about a second, natively). Debian's bzImage holds
    vmlinux as an xz stream after its setup code; an image whose kernel is not that keeps booting vmlinuz."""
    if image.arch != "x86_64" or image.pvh_kernel.is_file():
        return
    with contextlib.suppress(OSError, lzma.LZMAError):
        data = image.kernel.read_bytes()
        start = data.find(_XZ_MAGIC)
        if start < 0:
            return
        vmlinux = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
        if not vmlinux.startswith(b"\x7fELF"):
            return
        tmp = image.pvh_kernel.with_name(f"vmlinux.{os.getpid()}.tmp")
        tmp.write_bytes(vmlinux)
        tmp.replace(image.pvh_kernel)


def cache_dir() -> Path:
    """Where guest images live (built or downloaded): $BERTH_GUEST_CACHE, else /var/cache/berth/guest as
    root, else the user's cache (~/Library/Caches on macOS, %LOCALAPPDATA% on Windows, ~/.cache)."""
    env = os.environ.get("BERTH_GUEST_CACHE")
    if env:
        return Path(env)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "Berth" / "guest"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home()) / "Berth" / "guest"
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


# What the build steps below make, as a number: bump it when a change to them changes the image. This
# file's bytes are not hashed, so comments, messages and the CLI cost no rebuild of a cached image.
BUILDER = 3


def recipe_key(guest_arch: str = "x86_64") -> str:
    """Hash of everything the image is made from (recipe, engine sources, BUILDER, architecture)."""
    digest = hashlib.sha256(f"builder={BUILDER}\0arch={guest_arch}\0".encode())
    for path in sorted(set(_source_files())):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
        digest.update(oct(path.stat().st_mode & 0o777).encode())
    return digest.hexdigest()[:16]


def find_image(cache: Path | None = None, guest_arch: str | None = None) -> GuestImage | None:
    """The image built from the current tree if present, else the newest complete one, for `guest_arch`
    (default: the host's)."""
    cache = cache or cache_dir()
    guest_arch = guest_arch or host_arch().name
    current = GuestImage(cache / recipe_key(guest_arch))
    if current.complete():
        return current
    built = [GuestImage(p) for p in cache.glob("*") if p.is_dir() and GuestImage(p).complete()]
    built = [image for image in built if image.arch == guest_arch]
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


def _run(argv: list[str], **kwargs: object) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise ImageError(f"{' '.join(argv[:3])} ... failed ({result.returncode}):\n{tail}")
    out: str = result.stdout
    return out


def _foreign(guest: Arch) -> bool:
    return guest.name != host_arch().name


def missing_tools(guest_arch: str = "x86_64") -> list[str]:
    needed = {"mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils"}
    if _foreign(arch(guest_arch)):
        needed |= {"mmdebstrap": "mmdebstrap", f"qemu-{guest_arch}-static": "qemu-user-static",
                   "arch-test": "arch-test"}
    else:
        needed["debootstrap"] = "debootstrap"
    return [f"{tool} (apt install {pkg})" for tool, pkg in needed.items() if not shutil.which(tool)]


def source_date_epoch() -> int:
    """File times in the image: $SOURCE_DATE_EPOCH, else the newest commit's time, else now."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        return int(env)
    with contextlib.suppress(OSError, ValueError, subprocess.SubprocessError):
        out = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%ct"], capture_output=True,
                             text=True, timeout=10)
        return int(out.stdout.strip())
    return int(time.time())


def build(cache: Path | None = None, mirror: str | None = None, progress: Progress = lambda _: None,
          force: bool = False, guest_arch: str | None = None) -> GuestImage:
    """Build the image for the current tree and `guest_arch` (default: the host's) unless cached."""
    guest = arch(guest_arch) if guest_arch else host_arch()
    cache = cache or cache_dir()
    key = recipe_key(guest.name)
    image = GuestImage(cache / key)
    if image.complete() and not force:
        progress(f"guest image {image.path} is up to date")
        return image
    if os.geteuid() != 0:
        raise ImageError("building the guest image needs root (debootstrap and chroot)")
    missing = missing_tools(guest.name)
    if missing:
        raise ImageError("building the guest image needs " + ", ".join(missing))
    cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    epoch = source_date_epoch()
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache))
    try:
        root = work / "root"
        out = work / "out"
        out.mkdir()
        _bootstrap_cached(root, guest, cache, mirror or apt_mirror(), progress)
        _install_berthd(root, guest, cache / "wheels", progress)
        _configure(root, progress)
        kernel_version = _finish(root, guest, out, progress)
        packages = _packages(root)
        progress("writing the root file system")
        _make_disk(root, out, work, key, epoch)
        manifest = {
            "key": key, "arch": guest.name, "suite": SUITE, "kernel": kernel_version,
            "cmdline": CMDLINE.format(console=guest.console), "berthd": _engine_version(),
            "source_date_epoch": epoch, "packages": packages,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - started, 1),
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if image.path.exists():
            shutil.rmtree(image.path)
        out.rename(image.path)
    finally:
        _unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    progress(f"guest image ready: {image.path} ({image.size_bytes() / 1e6:.0f} MB)")
    return image


def _unmount_under(path: Path) -> None:
    """Unmount what a killed bootstrap left mounted in the build tree (/proc, /sys, /dev/pts...), deepest
    first, so removing the tree never reaches into them."""
    with contextlib.suppress(OSError):
        points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for point in sorted((p for p in points if p.startswith(f"{path}/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)


def _engine_version() -> str:
    text = (REPO / "engine" / "__init__.py").read_text()
    for line in text.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return "unknown"


def _bootstrap_cached(root: Path, guest: Arch, cache: Path, mirror: str, progress: Progress) -> None:
    """The bootstrapped Debian system, kept as a tar keyed by what makes it (packages, arch, mirror,
    BUILDER): a change to engine/ or the overlay then costs a minute, not a bootstrap (several minutes
    for aarch64, whose package scripts run under qemu-user)."""
    digest = hashlib.sha256(f"builder={BUILDER}\0arch={guest.name}\0mirror={mirror}\0".encode())
    digest.update((RECIPE / "packages.txt").read_bytes())
    base = cache / f"base-{guest.name}-{digest.hexdigest()[:16]}.tar"
    if base.is_file():
        progress(f"reusing the bootstrapped {SUITE} system ({base.name})")
        root.mkdir()
        _run(["tar", "-xpf", str(base), "--numeric-owner", "-C", str(root)])
        return
    _bootstrap(root, guest, cache / f"debs-{guest.debian}", mirror, progress)
    tmp = base.with_name(base.name + ".tmp")
    _run(["tar", "-cpf", str(tmp), "--numeric-owner", "-C", str(root), "."])
    for stale in cache.glob(f"base-{guest.name}-*.tar"):
        stale.unlink()  # one base per architecture: an older package list's is of no more use
    tmp.replace(base)


def _bootstrap(root: Path, guest: Arch, debs: Path, mirror: str, progress: Progress) -> None:
    debs.mkdir(parents=True, exist_ok=True)
    packages = [line.replace("@DEBARCH@", guest.debian) for line in _lines(RECIPE / "packages.txt")]
    # The kernel package would make Debian's initramfs (minutes under qemu-user); Berth makes its own.
    env = dict(os.environ, INITRD="No")
    if not _foreign(guest):
        progress(f"debootstrap {SUITE} from {mirror}")
        # Keeping the .debs makes the next build download nothing.
        _run(["debootstrap", "--variant=minbase", f"--cache-dir={debs}", f"--include={','.join(packages)}",
              SUITE, str(root), mirror], env=env)
        return
    progress(f"mmdebstrap {SUITE} for {guest.debian} from {mirror} (through qemu-{guest.name}-static)")
    ensure_binfmt(guest)
    root.mkdir()
    # The hooks keep the .debs between builds, as debootstrap's --cache-dir does (mmdebstrap(1)'s recipe).
    _run(["mmdebstrap", "--mode=root", "--variant=minbase", f"--arch={guest.debian}",
          f"--include={','.join(packages)}", "--skip=essential/unlink",
          '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
          f"--setup-hook=sync-in {debs} /var/cache/apt/archives/",
          f"--customize-hook=sync-out /var/cache/apt/archives {debs}",
          SUITE, str(root), mirror], env=env)


BINFMT = Path("/proc/sys/fs/binfmt_misc")
# The ELF header of a 64-bit little-endian aarch64 executable, and which of its bytes to compare.
_AARCH64_MAGIC = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
_AARCH64_MASK = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"


def ensure_binfmt(guest: Arch) -> None:
    """Make the kernel run the guest's executables through qemu-user-static, so chroot works in the root.

    Containers and minimal hosts often have binfmt_misc unmounted, and nothing registered in it."""
    if not (BINFMT / "register").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
    entry = BINFMT / f"qemu-{guest.name}"
    if entry.exists() and "enabled" in entry.read_text():
        return
    if guest.name != "aarch64":
        raise ImageError(f"register qemu-{guest.name}-static with binfmt_misc first (update-binfmts)")
    interpreter = shutil.which("qemu-aarch64-static") or "/usr/bin/qemu-aarch64-static"
    # F: the kernel opens the interpreter now, so it works inside the chroot too.
    (BINFMT / "register").write_text(f":qemu-aarch64:M::{_AARCH64_MAGIC}:{_AARCH64_MASK}:{interpreter}:F")


def _install_berthd(root: Path, guest: Arch, wheels: Path, progress: Progress) -> None:
    progress("installing berthd and its Python dependencies")
    requirements = RECIPE / "requirements.txt"
    wheels = wheels / guest.name
    wheels.mkdir(parents=True, exist_ok=True)
    # The guest runs Debian's CPython 3.11; download wheels for it and its architecture, whatever the host runs.
    platform = [arg for tag in guest.wheel_platforms for arg in ("--platform", tag)]
    target_python = ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--only-binary=:all:"]
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheels), *platform, *target_python,
          "-r", str(requirements)])
    target = root / "opt" / "berth"
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels),
          "--no-compile", *platform, *target_python, "--target", str(target / "lib"), "-r", str(requirements)])
    shutil.copytree(REPO / "engine", target / "engine", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _configure(root: Path, progress: Progress) -> None:
    progress("configuring the guest")
    shutil.copytree(RECIPE / "rootfs", root, dirs_exist_ok=True, symlinks=True)
    # Host keys come from each machine's seed; none may be shared by every machine built from this image.
    for key in (root / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    _run(["chroot", str(root), "groupadd", "--system", "berth"])
    (root / "etc" / "machine-id").write_text("")


def foreign_emulators(guest: Arch) -> set[str]:
    """The qemu-user emulators a guest keeps: one for each other architecture Berth ships a guest for."""
    return {f"qemu-{other.name}-static" for other in ARCHES.values() if other != guest}


def _finish(root: Path, guest: Arch, out: Path, progress: Progress) -> str:
    progress("pruning and making the initramfs")
    for pattern in _lines(RECIPE / "prune.txt"):
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    keep = foreign_emulators(guest)
    for emulator in (root / "usr" / "bin").glob("qemu-*-static"):
        if emulator.name not in keep:
            emulator.unlink()
    versions = sorted(p.name for p in (root / "usr" / "lib" / "modules").iterdir())
    if len(versions) != 1:
        raise ImageError(f"expected one kernel in the image, found {versions}")
    version = versions[0]
    _run(["chroot", str(root), "depmod", "-a", version])
    _compile_python(root)
    shutil.copy2(root / "boot" / f"vmlinuz-{version}", out / "vmlinuz")
    (out / "initrd.img").write_bytes(initramfs(root, version))
    for path in (root / "boot").iterdir():
        path.unlink()  # QEMU boots the copies in the image directory
    return version


# What the initramfs loads before it mounts the root: the virtio PCI transport and disk, ext4 (crc32c is
# only its soft dependency), and what berth-init would otherwise wait for: network, entropy, balloon.
INITRAMFS_MODULES = ("virtio_pci", "virtio_blk", "crc32c_generic", "ext4", "virtio_net", "virtio_rng",
                     "virtio_balloon")
INITRAMFS_INIT = RECIPE / "initramfs-init"


def initramfs(root: Path, version: str) -> bytes:
    """Berth's own initramfs (gzip'd newc cpio): busybox, the modules above and resources/guest/initramfs-init.

    Debian's initramfs-tools starts udev and waits for it to settle: about ten seconds under TCG, for a
    machine whose disks are known. This one inserts a handful of modules, finds the root by label and
    switches to it. Deterministic: fixed order, owners and times."""
    modules_dir = root / "usr" / "lib" / "modules" / version
    deps: dict[str, list[str]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        name, _, rest = line.partition(":")
        deps[name] = rest.split()
    # Module names treat "-" and "_" alike (virtio-rng.ko is virtio_rng).
    by_name = {Path(path).name.removesuffix(".ko").replace("-", "_"): path for path in deps}
    builtin = {Path(line).name.removesuffix(".ko").replace("-", "_")
               for line in (modules_dir / "modules.builtin").read_text().splitlines()}
    order: list[str] = []

    def add(path: str) -> None:
        # modules.dep lists what a module needs with the last to load first.
        for dep in reversed(deps[path]):
            add(dep)
        if path not in order:
            order.append(path)

    for module in INITRAMFS_MODULES:
        if module in builtin:
            continue
        if module not in by_name:
            raise ImageError(f"the guest kernel has no {module} module")
        add(by_name[module])
    files: list[tuple[str, int, bytes]] = [
        ("init", 0o100755, INITRAMFS_INIT.read_bytes()),
        ("bin/busybox", 0o100755, (root / "bin" / "busybox").read_bytes()),
        ("modules", 0o100644, "".join(f"{Path(path).name}\n" for path in order).encode()),
    ]
    files += [(f"lib/modules/{Path(path).name}", 0o100644, (modules_dir / path).read_bytes()) for path in order]
    dirs = ["bin", "dev", "lib", "lib/modules", "proc", "root", "sys"]
    archive = io.BytesIO()
    for number, (name, mode, data) in enumerate([(d, 0o40755, b"") for d in dirs] + files, start=1):
        _cpio_entry(archive, number, name, mode, data)
    _cpio_entry(archive, 0, "TRAILER!!!", 0, b"")
    return gzip.compress(archive.getvalue(), compresslevel=9, mtime=0)


def _cpio_entry(out: io.BytesIO, inode: int, name: str, mode: int, data: bytes) -> None:
    encoded = name.encode() + b"\0"
    fields = (inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
    out.write(b"070701" + b"".join(f"{value:08X}".encode() for value in fields))
    out.write(encoded)
    out.write(b"\0" * (-(110 + len(encoded)) % 4))
    out.write(data)
    out.write(b"\0" * (-len(data) % 4))


def _compile_python(root: Path) -> None:
    """Bytecode for every module, made once here rather than on each boot (imports crawl under emulation).

    Hash-checked pycs do not depend on file times, so they stay valid and reproducible. CPython 3.11's
    bytecode is the same on every architecture, so the host compiles when it runs 3.11 (much faster than
    the guest's python under qemu-user); else the guest's own python does it in the chroot."""
    dirs = ["/opt/berth", "/usr/lib/python3.11", "/usr/lib/python3/dist-packages"]
    # -f: Debian's own pycs are timestamped, and the file times set for reproducibility would make every
    # one of them stale (recompiled, unwritably, at each import of each boot).
    options = ["-q", "-f", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    host_python: tuple[int, ...] = tuple(sys.version_info[:2])
    if host_python == (3, 11):
        for guest_dir in dirs:
            path = root / guest_dir.lstrip("/")
            if path.is_dir():
                # -s/-p: the code objects name the guest's paths, not the build directory's.
                _run([sys.executable, "-m", "compileall", *options, "-s", str(root), "-p", "/", str(path)])
        return
    _run(["chroot", str(root), "python3", "-m", "compileall", *options, *dirs])


def _packages(root: Path) -> dict[str, str]:
    out = _run(["chroot", str(root), "dpkg-query", "-W", "-f", "${Package} ${Version}\n"])
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def _make_disk(root: Path, out: Path, work: Path, key: str, epoch: int) -> None:
    used = int(subprocess.run(["du", "-sxb", str(root)], capture_output=True, text=True, check=True)
               .stdout.split()[0])
    size_mib = used * 13 // 10 // 2**20 + 256  # room for metadata and a first image or two
    # Every file's time is the recipe's, not the build's: the same tree makes the same file system.
    _run(["find", str(root), "-xdev", "-exec", "touch", "-h", "-d", f"@{epoch}", "{}", "+"])
    uuid = str(uuid_module.UUID(hashlib.sha256(f"berth-root-{key}".encode()).hexdigest()[:32]))
    raw = work / "rootfs.raw"
    env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(epoch), SOURCE_DATE_EPOCH=str(epoch))
    _run(["mkfs.ext4", "-q", "-F", "-L", "berth-root", "-U", uuid, "-E", f"hash_seed={uuid}", "-d", str(root),
          "-m", "0", str(raw), f"{size_mib}M"], env=env)
    _run(["qemu-img", "convert", "-c", "-O", "qcow2", str(raw), str(out / "rootfs.qcow2")])
    raw.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmhost.image", description="Build Berth's guest image.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build the guest image (cached by recipe hash)")
    build_cmd.add_argument("--cache", type=Path, help=f"image cache directory (default: {cache_dir()})")
    build_cmd.add_argument("--mirror", help="Debian mirror (default: the host's apt mirror)")
    build_cmd.add_argument("--force", action="store_true", help="rebuild even if the cache has this image")
    build_cmd.add_argument("--arch", choices=sorted(ARCHES), help="guest architecture (default: the host's)")
    path_cmd = commands.add_parser("path", help="print the directory of the current image, if built")
    path_cmd.add_argument("--arch", choices=sorted(ARCHES), help="guest architecture (default: the host's)")
    args = parser.parse_args(argv)
    if args.command == "path":
        image = find_image(guest_arch=args.arch)
        if image is None:
            print("no guest image built; run: python -m vmhost.image build", file=sys.stderr)
            return 1
        print(image.path)
        return 0
    try:
        image = build(args.cache, args.mirror, progress=lambda m: print(f"image: {m}", file=sys.stderr),
                      force=args.force, guest_arch=args.arch)
    except ImageError as e:
        print(f"image: {e}", file=sys.stderr)
        return 1
    print(image.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
