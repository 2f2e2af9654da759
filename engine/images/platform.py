"""Platforms as OCI names them (`linux/amd64`, `linux/arm/v7`), and the host's own."""

from __future__ import annotations

import platform as _platform
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


def parse_platform(text: str | None) -> Platform:
    """Parse `os[/arch[/variant]]`; empty means the host's. Only linux images can run here."""
    if not text:
        return host_platform()
    parts = text.lower().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidArgument(f"invalid platform {text!r}: expected os[/arch[/variant]]")
    if parts[0] != "linux":
        raise InvalidArgument(f"operating system {parts[0]!r} is not supported (only linux)")
    if len(parts) == 1:
        host = host_platform()
        return Platform(os="linux", architecture=host.architecture, variant=host.variant)
    arch, default_variant = _ARCH_ALIASES.get(parts[1], (parts[1], None))
    variant = parts[2] if len(parts) == 3 else default_variant
    return Platform(os="linux", architecture=arch, variant=variant)
