"""Platforms as OCI names them (`linux/amd64`, `linux/arm/v7`), and the host's own."""

from __future__ import annotations

import platform as _platform
import re
from dataclasses import dataclass

from engine.errors import InvalidArgument

# uname machine / common aliases -> (GOARCH, variant)
_ARCH_ALIASES: dict[str, tuple[str, str | None]] = {
    "x86_64": ("amd64", None),
    "x86-64": ("amd64", None),
    "amd64": ("amd64", None),
    "aarch64": ("arm64", None),
    "arm64": ("arm64", None),
    "armv7l": ("arm", "v7"),
    "armhf": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "armel": ("arm", "v6"),
    "arm": ("arm", None),
    "i386": ("386", None),
    "i686": ("386", None),
    "386": ("386", None),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
    "mips64le": ("mips64le", None),
    "loong64": ("loong64", None),
}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)


def host_platform() -> Platform:
    arch, variant = _ARCH_ALIASES.get(_platform.machine().lower(), (_platform.machine().lower(), None))
    return Platform(os="linux", architecture=arch, variant=variant)


# containerd's platforms package: the names it knows, and its pattern for each component.
_KNOWN_OS = frozenset([
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl",
    "netbsd", "openbsd", "plan9", "solaris", "windows", "zos"
])
_KNOWN_ARCH = frozenset([
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64",
    "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64",
    "s390", "s390x", "sparc", "sparc64", "wasm"
])
_COMPONENT = re.compile(r"[A-Za-z0-9_-]+")


def parse_platform(text: str | None) -> Platform:
    """`os[/arch[/variant]]`, or an architecture alone, read as containerd's platforms.Parse reads it (so
    a request dockerd refuses is refused here in its words); empty means the host's. Only linux
    images can run here."""
    if not text:
        return host_platform()
    if "*" in text:
        raise InvalidArgument(f'"{text}": wildcards not yet supported: invalid argument')
    parts = text.split("/")
    for part in parts:
        if not _COMPONENT.fullmatch(part):
            raise InvalidArgument(f'"{part}" is an invalid component of "{text}": platform specifier component '
                                  f'must match "^[A-Za-z0-9_-]+$": invalid argument')
    if len(parts) > 3:
        raise InvalidArgument(f'"{text}": cannot parse platform specifier: invalid argument')
    os_name = parts[0].lower().replace("macos", "darwin")
    if len(parts) == 1:
        if os_name in _KNOWN_OS:
            host = host_platform()
            return _linux_only(Platform(os=os_name, architecture=host.architecture, variant=host.variant))
        arch, variant = _ARCH_ALIASES.get(os_name, (os_name, None))
        if arch in _KNOWN_ARCH:  # `--platform arm64`: the architecture, on linux
            return Platform(os="linux", architecture=arch, variant=None if arch == "arm" else variant)
        raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid argument')
    arch, default_variant = _ARCH_ALIASES.get(parts[1].lower(), (parts[1].lower(), None))
    variant = parts[2].lower() if len(parts) == 3 else default_variant
    if arch == "arm64" and variant == "v8":
        variant = None  # containerd's normal form
    return _linux_only(Platform(os=os_name, architecture=arch, variant=variant))


def _linux_only(p: Platform) -> Platform:
    if p.os != "linux":
        raise InvalidArgument(f"operating system {p.os!r} is not supported (only linux)")
    return p
