"""Seccomp profiles: Docker's format in, the OCI runtime-spec `linux.seccomp` form out.

Docker's profile is conditional: a rule may apply only to some architectures, only when
the container holds (or lacks) some capabilities, or only from some kernel version on.
The OCI form is flat, so the conditions are resolved here, once per container, against
the host's architecture and kernel and the container's capability set.
"""

from __future__ import annotations

import copy
import functools
import json
import platform
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeGuard

from engine.errors import InvalidArgument

DEFAULT_PROFILE_PATH = Path(__file__).with_name("data") / "seccomp-default.json"

ACTIONS = frozenset(
    {
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    }
)
OPERATORS = frozenset(
    {
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    }
)

# platform.machine() (and Go's GOARCH spellings, which Docker profiles use in
# includes/excludes "arches") -> (profile arch name, native libseccomp arch).
_ARCHES: dict[str, tuple[str, str]] = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "amd64": ("amd64", "SCMP_ARCH_X86_64"),
    "i386": ("x86", "SCMP_ARCH_X86"),
    "i686": ("x86", "SCMP_ARCH_X86"),
    "x86": ("x86", "SCMP_ARCH_X86"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "arm64": ("arm64", "SCMP_ARCH_AARCH64"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"),
    "armv6l": ("arm", "SCMP_ARCH_ARM"),
    "arm": ("arm", "SCMP_ARCH_ARM"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "loongarch64": ("loong64", "SCMP_ARCH_LOONGARCH64"),
    "loong64": ("loong64", "SCMP_ARCH_LOONGARCH64"),
    "mips64": ("mips64", "SCMP_ARCH_MIPS64"),
    "mips64el": ("mips64le", "SCMP_ARCH_MIPSEL64"),
    "mips64le": ("mips64le", "SCMP_ARCH_MIPSEL64"),
}

_KERNEL_RE = re.compile(r"^(\d+)\.(\d+)")


@functools.cache
def _default_profile() -> dict[str, Any]:
    return parse_profile(DEFAULT_PROFILE_PATH.read_text(encoding="utf-8"))


def default_profile() -> dict[str, Any]:
    """Docker's default profile (Docker format). A copy: callers may change it freely."""
    return copy.deepcopy(_default_profile())


def parse_profile(text: str | bytes) -> dict[str, Any]:
    """Parse and check a Docker-format profile, as sent by `--security-opt seccomp=<file>`."""
    try:
        profile = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"seccomp profile is not valid JSON: {exc}") from None
    if not isinstance(profile, dict):
        raise InvalidArgument("seccomp profile must be a JSON object with 'defaultAction' and 'syscalls'")
    _check_profile(profile)
    return profile


def profile_from_security_opt(value: str) -> dict[str, Any] | None:
    """The profile a `seccomp=<value>` security option asks for; None means unconfined.

    The docker CLI reads the file itself and sends its JSON text, so `value` is either a
    keyword or the profile's text.
    """
    stripped = value.strip()
    if stripped == "unconfined":
        return None
    if stripped in ("", "builtin", "default"):
        return default_profile()
    return parse_profile(stripped)


def to_oci(
    profile: Mapping[str, Any],
    capabilities: Collection[str],
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Resolve a Docker-format profile into OCI `linux.seccomp` for one container.

    `capabilities` is the container's capability set (names with or without CAP_);
    `arch` is a platform.machine() name (default: this host's); `kernel` is
    (major, minor) (default: this host's running kernel).
    """
    _check_profile(profile)
    go_arch, native = _resolve_arch(arch if arch is not None else platform.machine())
    kernel_version = kernel if kernel is not None else host_kernel()
    caps = {_cap_name(c) for c in capabilities}

    oci: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if "defaultErrnoRet" in profile:
        oci["defaultErrnoRet"] = profile["defaultErrnoRet"]
    oci["architectures"] = _architectures(profile, native)
    for key in ("flags", "listenerPath", "listenerMetadata"):
        if profile.get(key):
            oci[key] = copy.deepcopy(profile[key])

    rules: list[dict[str, Any]] = []
    for rule in profile.get("syscalls") or ():
        if not _applies(rule, go_arch, caps, kernel_version):
            continue
        names = list(rule["names"]) if "names" in rule else [rule["name"]]
        oci_rule: dict[str, Any] = {"names": names, "action": rule["action"]}
        if rule.get("errnoRet") is not None:
            oci_rule["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            oci_rule["args"] = [_oci_arg(a) for a in rule["args"]]
        rules.append(oci_rule)
    oci["syscalls"] = rules
    return oci


def host_kernel() -> tuple[int, int]:
    """(major, minor) of the running kernel; (0, 0) if the release string is unreadable."""
    match = _KERNEL_RE.match(platform.release())
    return (int(match[1]), int(match[2])) if match else (0, 0)


def _resolve_arch(machine: str) -> tuple[str, str]:
    try:
        return _ARCHES[machine.lower()]
    except KeyError:
        known = ", ".join(sorted(_ARCHES))
        raise InvalidArgument(f"seccomp: unsupported architecture {machine!r} (known: {known})") from None


def _architectures(profile: Mapping[str, Any], native: str) -> list[str]:
    # Old-style profiles list architectures directly; new ones map native -> sub-arches.
    if profile.get("architectures"):
        return list(profile["architectures"])
    for entry in profile.get("archMap") or ():
        if entry["architecture"] == native:
            return [native, *(entry.get("subArchitectures") or ())]
    return [native]


def _applies(rule: Mapping[str, Any], go_arch: str, caps: set[str], kernel: tuple[int, int]) -> bool:
    includes = rule.get("includes") or {}
    excludes = rule.get("excludes") or {}
    if includes.get("arches") and go_arch not in includes["arches"]:
        return False
    if includes.get("caps") and not all(_cap_name(c) in caps for c in includes["caps"]):
        return False
    if includes.get("minKernel") and kernel < _parse_kernel(includes["minKernel"]):
        return False
    if excludes.get("arches") and go_arch in excludes["arches"]:
        return False
    if excludes.get("caps") and any(_cap_name(c) in caps for c in excludes["caps"]):
        return False
    return not (excludes.get("minKernel") and kernel >= _parse_kernel(excludes["minKernel"]))


def _oci_arg(arg: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"index": arg["index"], "value": arg["value"], "op": arg["op"]}
    if arg.get("valueTwo"):
        out["valueTwo"] = arg["valueTwo"]
    return out


def _cap_name(name: str) -> str:
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") else f"CAP_{upper}"


def _parse_kernel(value: Any) -> tuple[int, int]:
    match = _KERNEL_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise InvalidArgument(f'seccomp profile: minKernel must look like "4.8", got {value!r}')
    return int(match[1]), int(match[2])


def _check_profile(profile: Mapping[str, Any]) -> None:
    """Reject what a runtime would reject later with a less helpful message."""
    if not isinstance(profile, Mapping):
        raise InvalidArgument("seccomp profile must be a JSON object")
    action = profile.get("defaultAction")
    if action not in ACTIONS:
        raise InvalidArgument(
            f"seccomp profile: defaultAction must be one of {', '.join(sorted(ACTIONS))}, got {action!r}"
        )
    _check_errno(profile.get("defaultErrnoRet"), "seccomp profile: defaultErrnoRet")
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument("seccomp profile: use either 'architectures' or 'archMap', not both")
    _check_arch_map(profile.get("archMap"))
    arches = profile.get("architectures")
    if arches is not None and not _is_str_list(arches):
        raise InvalidArgument("seccomp profile: 'architectures' must be a list of SCMP_ARCH_* names")
    syscalls = profile.get("syscalls")
    if syscalls is None:
        return
    if not isinstance(syscalls, list):
        raise InvalidArgument("seccomp profile: 'syscalls' must be a list of rules")
    for i, rule in enumerate(syscalls):
        _check_rule(rule, f"seccomp profile: syscalls[{i}]")


def _check_arch_map(arch_map: Any) -> None:
    if arch_map is None:
        return
    if not isinstance(arch_map, list):
        raise InvalidArgument("seccomp profile: 'archMap' must be a list of {architecture, subArchitectures}")
    for i, entry in enumerate(arch_map):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("architecture"), str):
            raise InvalidArgument(f"seccomp profile: archMap[{i}] needs an 'architecture' string")
        subs = entry.get("subArchitectures")
        if subs is not None and not _is_str_list(subs):
            raise InvalidArgument(f"seccomp profile: archMap[{i}].subArchitectures must be a list of names")


def _check_rule(rule: Any, where: str) -> None:
    if not isinstance(rule, Mapping):
        raise InvalidArgument(f"{where} must be an object with 'names' and 'action'")
    if "name" in rule and "names" in rule:
        raise InvalidArgument(f"{where}: use either 'name' or 'names', not both")
    if "names" in rule:
        if not _is_str_list(rule["names"]) or not rule["names"]:
            raise InvalidArgument(f"{where}: 'names' must be a non-empty list of syscall names")
    elif not isinstance(rule.get("name"), str) or not rule["name"]:
        raise InvalidArgument(f"{where}: a rule needs 'names' (a list of syscall names)")
    if rule.get("action") not in ACTIONS:
        raise InvalidArgument(f"{where}: action must be one of {', '.join(sorted(ACTIONS))}")
    _check_errno(rule.get("errnoRet"), f"{where}.errnoRet")
    args = rule.get("args")
    if args is not None:
        if not isinstance(args, list):
            raise InvalidArgument(f"{where}: 'args' must be a list of {{index, value, op}}")
        for j, arg in enumerate(args):
            _check_arg(arg, f"{where}.args[{j}]")
    for key in ("includes", "excludes"):
        _check_filter(rule.get(key), f"{where}.{key}")


def _check_arg(arg: Any, where: str) -> None:
    if not isinstance(arg, Mapping):
        raise InvalidArgument(f"{where} must be an object with index, value and op")
    index = arg.get("index")
    if not _is_int(index) or not 0 <= index <= 5:
        raise InvalidArgument(f"{where}: index must be an argument number from 0 to 5")
    for key in ("value", "valueTwo"):
        value = arg.get(key, 0)
        if not _is_int(value) or not 0 <= value < 2**64:
            raise InvalidArgument(f"{where}: {key} must be an unsigned 64-bit integer")
    if arg.get("op") not in OPERATORS:
        raise InvalidArgument(f"{where}: op must be one of {', '.join(sorted(OPERATORS))}")


def _check_filter(conditions: Any, where: str) -> None:
    if conditions is None:
        return
    if not isinstance(conditions, Mapping):
        raise InvalidArgument(f"{where} must be an object with caps, arches or minKernel")
    for key in ("caps", "arches"):
        if conditions.get(key) is not None and not _is_str_list(conditions[key]):
            raise InvalidArgument(f"{where}.{key} must be a list of strings")
    if conditions.get("minKernel"):
        _parse_kernel(conditions["minKernel"])


def _check_errno(value: Any, where: str) -> None:
    if value is not None and (not _is_int(value) or value < 0):
        raise InvalidArgument(f"{where} must be a non-negative errno number")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_list(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
