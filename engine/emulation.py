"""Running images of another architecture: QEMU user mode through binfmt_misc.

Debian's qemu-user-static ships a static emulator per architecture and, in /usr/lib/binfmt.d, the ELF
magic and mask that select it. berthd registers a handler of its own (named `berth-qemu-<arch>`) only
when the host has none for that architecture, with the fix-binary flag (F): the kernel opens the
emulator at registration, so it works inside a container's mount namespace where /usr/bin is the
image's. Handlers berthd did not register are never changed or removed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InvalidArgument, NotFound
from engine.images.manifest import platform_matches
from engine.images.platform import Platform, host_platform

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
BINFMT_CONF_DIR = Path("/usr/lib/binfmt.d")
QEMU_DIR = Path("/usr/bin")
QEMU_LIBEXEC_DIR = Path("/usr/libexec/qemu-binfmt")
HANDLER_PREFIX = "berth-qemu-"
log = logging.getLogger(__name__)
INSTALL_HINT = "install QEMU user-mode emulation (Debian/Ubuntu: apt-get install qemu-user-static)"

# QEMU's name for an architecture -> OCI's (GOARCH)
QEMU_ARCHES: dict[str, str] = {
    "aarch64": "arm64", "arm": "arm", "x86_64": "amd64", "i386": "386", "riscv64": "riscv64",
    "ppc64le": "ppc64le", "s390x": "s390x", "mips64el": "mips64le", "loongarch64": "loong64",
}
_OCI_TO_QEMU = {oci: qemu for qemu, oci in QEMU_ARCHES.items()}
# What a CPU runs natively besides its own architecture.
_NATIVE_EXTRA: dict[str, tuple[str, ...]] = {"amd64": ("386",)}


@dataclass(frozen=True)
class Handler:
    """One binfmt_misc entry: which ELF headers it claims and what runs them."""

    name: str
    enabled: bool
    interpreter: str
    flags: str
    offset: int
    magic: bytes
    mask: bytes

    def claims(self, header: bytes) -> bool:
        """Whether an ELF header with these first bytes goes to this handler."""
        end = self.offset + len(self.magic)
        if len(header) < end:
            return False
        mask = self.mask or b"\xff" * len(self.magic)
        return all((header[self.offset + i] & mask[i]) == (self.magic[i] & mask[i]) for i in range(len(self.magic)))


def _unescape(text: str) -> bytes:
    """binfmt.d's `\\x7f\\x45...` notation to bytes."""
    return text.encode().decode("unicode_escape").encode("latin-1")


def parse_conf(line: str) -> tuple[str, int, bytes, bytes] | None:
    """A binfmt.d line `:name:M:offset:magic:mask:interpreter:flags` -> (name, offset, magic, mask)."""
    line = line.strip()
    if not line or line.startswith(("#", ";")):
        return None
    sep = line[0]
    fields = line[1:].split(sep)
    if len(fields) < 6 or fields[1] != "M":
        return None
    return fields[0], int(fields[2] or "0"), _unescape(fields[3]), _unescape(fields[4])


def parse_entry(name: str, text: str) -> Handler:
    """A /proc/sys/fs/binfmt_misc/<name> file as the kernel writes it."""
    enabled, interpreter, flags, offset, magic, mask = False, "", "", 0, b"", b""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if line == "enabled":
            enabled = True
        elif key == "interpreter":
            interpreter = value
        elif key == "flags:":
            flags = value.strip()
        elif key == "offset":
            offset = int(value)
        elif key == "magic":
            magic = bytes.fromhex(value)
        elif key == "mask":
            mask = bytes.fromhex(value)
    return Handler(name, enabled, interpreter, flags, offset, magic, mask)


@dataclass(frozen=True)
class Binfmt:
    """The host's binfmt_misc and the emulators installed; paths are parameters so tests can fake them."""

    binfmt_dir: Path = BINFMT_DIR
    conf_dir: Path = BINFMT_CONF_DIR
    qemu_dir: Path = QEMU_DIR
    libexec_dir: Path = QEMU_LIBEXEC_DIR

    def mounted(self) -> bool:
        return (self.binfmt_dir / "register").exists()

    def mount(self) -> None:
        """Mount binfmt_misc where the kernel offers it and nothing has yet (as systemd does at boot)."""
        if self.mounted():
            return
        result = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(self.binfmt_dir)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise OSError(f"cannot mount binfmt_misc on {self.binfmt_dir}: {result.stderr.strip()}")

    def handlers(self) -> list[Handler]:
        if not self.mounted() or self._status() != "enabled":
            return []
        out = []
        for entry in sorted(self.binfmt_dir.iterdir()):
            if entry.name in ("register", "status"):
                continue
            try:
                out.append(parse_entry(entry.name, entry.read_text()))
            except (OSError, ValueError):
                continue
        return out

    def _status(self) -> str:
        try:
            return (self.binfmt_dir / "status").read_text().strip()
        except OSError:
            return ""

    def emulator(self, qemu_arch: str) -> Path | None:
        path = self.qemu_dir / f"qemu-{qemu_arch}-static"
        return path if os.access(path, os.X_OK) else None

    def magic(self, qemu_arch: str) -> tuple[int, bytes, bytes] | None:
        """The ELF magic that selects `qemu_arch`, from the package's binfmt.d file."""
        try:
            text = (self.conf_dir / f"qemu-{qemu_arch}.conf").read_text()
        except OSError:
            return None
        for line in text.splitlines():
            parsed = parse_conf(line)
            if parsed is not None:
                return parsed[1], parsed[2], parsed[3]
        return None

    def handled(self, qemu_arch: str, handlers: Iterable[Handler] | None = None) -> Handler | None:
        """The enabled handler that takes this architecture's binaries, if any."""
        magic = self.magic(qemu_arch)
        if magic is None:
            return None
        offset, header, _ = magic
        for h in self.handlers() if handlers is None else handlers:
            if h.enabled and h.claims(b"\0" * offset + header):
                return h
        return None

    def interpreter(self, qemu_arch: str) -> tuple[str, str] | None:
        """What berthd registers for `qemu_arch`: (interpreter, flags). Debian's `<arch>-binfmt-P` link
        makes QEMU keep the argv[0] the program was started with (P), which multi-call binaries such as
        busybox choose their applet by (`exec -a`); F opens it at registration, so it works inside a
        container's mount namespace."""
        emulator = self.emulator(qemu_arch)
        if emulator is None:
            return None
        wrapper = self.libexec_dir / f"{qemu_arch}-binfmt-P"
        if os.access(wrapper, os.X_OK):
            return str(wrapper), "PF"
        return str(emulator), "F"

    def register(self, qemu_arch: str) -> str | None:
        """Register `berth-qemu-<arch>` when the host has no handler for it; the name, or None when
        nothing was registered (already handled, or no emulator installed). A handler of berthd's own
        made by an older berthd (another interpreter or flags) is made anew."""
        magic, interpreter = self.magic(qemu_arch), self.interpreter(qemu_arch)
        if magic is None or interpreter is None:
            return None
        path, flags = interpreter
        name = HANDLER_PREFIX + qemu_arch
        current = self.handled(qemu_arch)
        if current is not None:
            if current.name != name or (current.interpreter, current.flags) == (path, flags):
                return None
            self.unregister(name)
        offset, header, mask = magic
        line = f":{name}:M:{offset}:{_escape(header)}:{_escape(mask)}:{path}:{flags}"
        with open(self.binfmt_dir / "register", "w") as f:
            f.write(line)
        return name

    def register_all(self) -> list[str]:
        """Register what the host lacks for every architecture an emulator is installed for."""
        if not self.mounted():
            try:
                self.mount()
            except OSError:
                return []
        native = host_platform().architecture
        names = []
        for qemu, oci in QEMU_ARCHES.items():
            # binfmt_misc is asked before the kernel's own ELF loader: a handler for what the CPU runs
            # (i386 on x86_64) would put those binaries under QEMU
            if oci in (native, *_NATIVE_EXTRA.get(native, ())):
                continue
            try:
                name = self.register(qemu)
            except OSError as e:  # not root, or the kernel refused the line: that architecture stays unrunnable
                log.warning("cannot register qemu-%s-static with binfmt_misc: %s", qemu, e)
                continue
            if name is not None:
                names.append(name)
        return names

    def unregister(self, name: str) -> None:
        """Remove a handler berthd registered; refuses any other."""
        if not name.startswith(HANDLER_PREFIX):
            raise ValueError(f"{name} was not registered by berthd")
        path = self.binfmt_dir / name
        if path.exists():
            path.write_text("-1")

    def architectures(self) -> list[str]:
        """OCI architectures this host runs: its own, what its CPU runs natively, and emulated ones."""
        native = host_platform().architecture
        out = [native, *_NATIVE_EXTRA.get(native, ())]
        handlers = self.handlers()
        for qemu, oci in QEMU_ARCHES.items():
            if oci not in out and self.handled(qemu, handlers) is not None:
                out.append(oci)
        return out

    def emulated(self, platform: Platform) -> bool:
        native = host_platform().architecture
        return platform.architecture not in (native, *_NATIVE_EXTRA.get(native, ()))


_ENSURE_LOCK = threading.Lock()
_ENSURED: set[Binfmt] = set()


def ensure_handlers(binfmt: Binfmt | None = None) -> list[str]:
    """Register what the host lacks, once per process: berthd calls it in the background after it serves,
    and a foreign container's check calls it too, so one created before that finished waits for it
    instead of being refused. The handlers outlive berthd (live-restored containers may need them)."""
    binfmt = binfmt or Binfmt()
    with _ENSURE_LOCK:
        if binfmt in _ENSURED:
            return []
        _ENSURED.add(binfmt)
        return binfmt.register_all()


def _escape(data: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in data)


def check_runnable(platform: Platform, binfmt: Binfmt | None = None) -> None:
    """Refuse, before the runtime's "exec format error", a container this host cannot execute."""
    if not platform.architecture:  # an image without a recorded architecture: let the runtime try
        return
    binfmt = binfmt or Binfmt()
    if platform.os and platform.os != "linux":
        raise InvalidArgument(f"image operating system {platform.os!r} cannot be used on this platform")
    if platform.architecture in binfmt.architectures():
        return
    ensure_handlers(binfmt)  # waits for berthd's background registration if it is under way
    if platform.architecture in binfmt.architectures():
        return
    qemu = _OCI_TO_QEMU.get(platform.architecture)
    if qemu is None:
        raise InvalidArgument(f"image platform {platform} cannot run on this {host_platform()} host: "
                              "no emulator for that architecture exists")
    if binfmt.emulator(qemu) is None:
        raise InvalidArgument(f"image platform {platform} cannot run on this {host_platform()} host: "
                              f"{INSTALL_HINT}")
    raise InvalidArgument(f"image platform {platform} cannot run on this {host_platform()} host: "
                          f"/usr/bin/qemu-{qemu}-static is installed but no binfmt_misc handler uses it "
                          "(restart berthd as root to register it, or run update-binfmts --enable)")


def check_platform(requested: Platform | None, image: Platform, reference: str) -> None:
    """`platform` on POST /containers/create against the local image, refused as dockerd refuses it:
    404, so the docker CLI goes on to pull the requested platform (`docker run --platform`).
    Nothing requested, nothing checked."""
    if requested is None or not image.architecture:
        return
    if not platform_matches(image, requested):
        raise NotFound(f"image with reference {reference} was found but does not match the specified "
                       f"platform: wanted {requested}, actual: {image}")
