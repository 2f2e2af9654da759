"""A container's mounts, parsed from every place the API lets a client ask for one.

`-v` arrives as HostConfig.Binds ("src:dst[:mode]") or, for a bare path, Config.Volumes;
`--mount` as HostConfig.Mounts (the API's Mount objects); `--tmpfs` as HostConfig.Tmpfs;
and the image adds its own VOLUMEs. All become `MountSpec`s, checked here so that a
malformed value is refused at create with a message that names the value and the fault.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import InvalidArgument

MountType = Literal["bind", "volume", "tmpfs"]

VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_SELINUX = ("z", "Z")
# Options tmpfs(5) understands, plus the generic mount flags Docker lets through.
_TMPFS_FLAGS = {"rw", "ro", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "sync", "async", "dirsync",
                "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime", "strictatime",
                "nostrictatime"}
_TMPFS_KEYS = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", "huge", "tmpfs-size", "tmpfs-mode"}
_SIZE = re.compile(r"^[0-9]+[kKmMgG%]?$")


@dataclass
class MountSpec:
    type: MountType
    target: str  # absolute, cleaned
    source: str = ""  # bind: host path; volume: name ("" until an anonymous one is made)
    read_only: bool = False
    propagation: str = ""  # binds only; "" is rprivate
    mode: str = ""  # what the user wrote after the second colon, shown by inspect
    nocopy: bool = False  # volumes: do not fill an empty volume from the image
    labels: dict[str, str] = field(default_factory=dict)  # a volume made on first use gets these
    driver_options: dict[str, str] = field(default_factory=dict)
    tmpfs_options: list[str] = field(default_factory=list)
    create_source: bool = False  # a `-v` bind whose host dir is missing is created, as Docker does
    subpath: str = ""  # volumes: the directory inside the volume that is mounted (API 1.45)
    origin: str = ""  # where it came from: binds, mounts, tmpfs, config, image

    @property
    def anonymous(self) -> bool:
        return self.type == "volume" and not self.source


def clean_target(path: str, what: str) -> str:
    if not path:
        raise InvalidArgument(f"{what}: the container path is empty")
    if not path.startswith("/"):
        raise InvalidArgument(f"{what}: the container path {path!r} must be absolute")
    cleaned = posixpath.normpath(path)
    cleaned = "/" + cleaned.lstrip("/")
    if cleaned == "/":
        raise InvalidArgument(f"{what}: the container path cannot be '/'")
    return cleaned


def check_volume_name(name: str, what: str) -> None:
    if not VOLUME_NAME.match(name):
        raise InvalidArgument(
            f"{what}: {name!r} is not a valid volume name: use [a-zA-Z0-9][a-zA-Z0-9_.-] (two characters "
            "or more); to mount a host directory, give its absolute path")


def parse_bind(raw: str) -> MountSpec:
    """One HostConfig.Binds entry: "src:dst[:mode]" (or a bare "/path", an anonymous volume)."""
    what = f"invalid volume specification {raw!r}"
    if not isinstance(raw, str) or not raw:
        raise InvalidArgument("invalid volume specification: an empty value")
    parts = raw.split(":")
    if len(parts) > 3:
        raise InvalidArgument(f"{what}: too many colons (use source:destination[:options])")
    if len(parts) == 1:
        return MountSpec(type="volume", target=clean_target(parts[0], what), origin="binds")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    if not source:
        raise InvalidArgument(f"{what}: the source (before the first colon) is empty")
    if len(parts) == 2 and source.startswith("/") and not target.startswith("/") and _is_mode(target):
        raise InvalidArgument(f"{what}: a destination with options needs a source too (source:{source}:{target})")
    spec = MountSpec(type="bind" if source.startswith("/") else "volume", target=clean_target(target, what),
                     source=posixpath.normpath(source) if source.startswith("/") else source, mode=mode,
                     origin="binds", create_source=True)
    if spec.type == "volume":
        check_volume_name(source, what)
    _apply_mode(spec, mode, what)
    return spec


def _is_mode(text: str) -> bool:
    return all(p in ("ro", "rw", "nocopy", *_SELINUX, *PROPAGATIONS) for p in text.split(","))


def _apply_mode(spec: MountSpec, mode: str, what: str) -> None:
    seen: set[str] = set()
    for opt in filter(None, mode.split(",")):
        kind = ("rw" if opt in ("ro", "rw") else "label" if opt in _SELINUX else "copy" if opt == "nocopy"
                else "propagation" if opt in PROPAGATIONS else "")
        if not kind:
            raise InvalidArgument(
                f"{what}: unknown option {opt!r} (use ro or rw, nocopy, z or Z, or a propagation: "
                f"{', '.join(PROPAGATIONS)})")
        if kind in seen:
            raise InvalidArgument(f"{what}: more than one {kind} option in {mode!r}")
        seen.add(kind)
        if opt == "ro":
            spec.read_only = True
        elif opt == "nocopy":
            if spec.type != "volume":
                raise InvalidArgument(f"{what}: nocopy applies to volumes, not to a host directory")
            spec.nocopy = True
        elif kind == "propagation":
            if spec.type != "bind":
                raise InvalidArgument(f"{what}: propagation {opt!r} applies to bind mounts, not to volumes")
            spec.propagation = opt


def _subpath(value: Any, what: str) -> str:
    """VolumeOptions.Subpath: a relative path that stays inside the volume."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"{what}: Subpath must be a string (a directory inside the volume)")
    clean = posixpath.normpath(value)
    if value.startswith("/") or clean == ".." or clean.startswith("../"):
        raise InvalidArgument(f"{what}: subpath {value!r} must be a relative path within the volume")
    return "" if clean == "." else clean


def parse_mount(m: Any) -> MountSpec:
    """One HostConfig.Mounts entry (an API Mount object)."""
    if not isinstance(m, dict):
        raise InvalidArgument("invalid mount config: each entry of Mounts must be a JSON object")
    kind = str(m.get("Type") or "")
    what = f'invalid mount config for type "{kind}"'
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidArgument(f"invalid mount config: mount type {kind!r} is not supported (use bind, volume or tmpfs)")
    if not m.get("Target"):
        raise InvalidArgument(f"{what}: field Target must not be empty")
    target = clean_target(str(m["Target"]), what)
    source = str(m.get("Source") or "")
    for opts, owner in (("BindOptions", "bind"), ("VolumeOptions", "volume"), ("TmpfsOptions", "tmpfs")):
        if m.get(opts) and kind != owner:
            raise InvalidArgument(f"{what}: field {opts} must not be specified")
    spec = MountSpec(type="bind" if kind == "bind" else "volume" if kind == "volume" else "tmpfs",
                     target=target, read_only=bool(m.get("ReadOnly")), origin="mounts")
    if kind == "bind":
        if not source:
            raise InvalidArgument(f"{what}: field Source must not be empty")
        if not source.startswith("/"):
            raise InvalidArgument(f"{what}: invalid mount path: {source!r} mount path must be absolute")
        spec.source = posixpath.normpath(source)
        prop = str((m.get("BindOptions") or {}).get("Propagation") or "")
        if prop and prop not in PROPAGATIONS:
            raise InvalidArgument(f"{what}: unknown propagation {prop!r} (use one of {', '.join(PROPAGATIONS)})")
        spec.propagation = prop
    elif kind == "volume":
        if source:
            check_volume_name(source, what)
        spec.source = source
        vo = m.get("VolumeOptions") or {}
        spec.nocopy = bool(vo.get("NoCopy"))
        spec.subpath = _subpath(vo.get("Subpath"), what)
        spec.labels = {str(k): str(v) for k, v in (vo.get("Labels") or {}).items()}
        driver = vo.get("DriverConfig") or {}
        if driver.get("Name") not in (None, "", "local"):
            raise InvalidArgument(f"{what}: volume driver {driver['Name']!r} is not available (only local)")
        spec.driver_options = {str(k): str(v) for k, v in (driver.get("Options") or {}).items()}
    else:
        if source:
            raise InvalidArgument(f"{what}: field Source must not be specified")
        to = m.get("TmpfsOptions") or {}
        size, mode = to.get("SizeBytes"), to.get("Mode")
        if size is not None:
            if not isinstance(size, int) or size < 0:
                raise InvalidArgument(f"{what}: SizeBytes must be a non-negative number of bytes")
            if size:
                spec.tmpfs_options.append(f"size={size}")
        if mode is not None:
            if not isinstance(mode, int) or not 0 <= mode <= 0o7777:
                raise InvalidArgument(f"{what}: Mode must be a file mode (0 to 07777)")
            spec.tmpfs_options.append(f"mode={mode:o}")
    return spec


def parse_tmpfs(target: str, options: str) -> MountSpec:
    """One HostConfig.Tmpfs entry: {"/run": "rw,size=64m,mode=1777"}."""
    what = f"invalid tmpfs mount {target}:{options}" if options else f"invalid tmpfs mount {target}"
    spec = MountSpec(type="tmpfs", target=clean_target(target, what), origin="tmpfs")
    for opt in filter(None, (options or "").split(",")):
        key, eq, value = opt.partition("=")
        if not eq:
            if key not in _TMPFS_FLAGS:
                raise InvalidArgument(f"{what}: unknown option {key!r}")
            if key == "ro":
                spec.read_only = True
        elif key not in _TMPFS_KEYS:
            raise InvalidArgument(f"{what}: unknown option {key!r} (use size=, mode=, uid=, gid=, nr_inodes=)")
        elif key in ("size", "tmpfs-size") and not _SIZE.match(value):
            raise InvalidArgument(f"{what}: size {value!r} is not a size like 64m or 1g")
        elif key in ("mode", "tmpfs-mode") and not re.match(r"^[0-7]{1,4}$", value):
            raise InvalidArgument(f"{what}: mode {value!r} is not an octal file mode like 1777")
        elif key in ("uid", "gid", "nr_inodes") and not value.isdigit():
            raise InvalidArgument(f"{what}: {key} {value!r} is not a number")
        if eq and key.startswith("tmpfs-"):
            opt = f"{key[len('tmpfs-'):]}={value}"
        if key not in ("rw", "ro"):
            spec.tmpfs_options.append(opt)
    return spec


def explicit_mounts(host_config: dict[str, Any]) -> tuple[MountSpec, ...]:
    """HostConfig's Binds, Mounts and Tmpfs, checked, with no two on one destination: parsed once,
    at create (a container's HostSpec keeps them) and never changed after."""
    specs: list[MountSpec] = []
    binds = host_config.get("Binds") or []
    if not isinstance(binds, list):
        raise InvalidArgument("HostConfig.Binds must be a list of strings like /host/dir:/container/dir:ro")
    specs += [parse_bind(b) for b in binds]
    mounts = host_config.get("Mounts") or []
    if not isinstance(mounts, list):
        raise InvalidArgument("HostConfig.Mounts must be a list of Mount objects")
    specs += [parse_mount(m) for m in mounts]
    tmpfs = host_config.get("Tmpfs") or {}
    if not isinstance(tmpfs, dict):
        raise InvalidArgument('HostConfig.Tmpfs must be an object like {"/run": "size=64m"}')
    specs += [parse_tmpfs(str(t), str(o or "")) for t, o in tmpfs.items()]
    seen: set[str] = set()
    for spec in specs:
        if spec.target in seen:
            raise InvalidArgument(f"Duplicate mount point: {spec.target}")
        seen.add(spec.target)
    return tuple(specs)


def config_volumes(config: dict[str, Any]) -> tuple[str, ...]:
    """Config.Volumes (`-v /path`): the container paths, checked and cleaned."""
    volumes = config.get("Volumes") or {}
    if not isinstance(volumes, dict):
        raise InvalidArgument('Config.Volumes must be an object like {"/data": {}}')
    return tuple(clean_target(str(path), f"invalid volume {path!r} in config") for path in volumes)


def with_volumes(explicit: Iterable[MountSpec], volumes: Iterable[str],
                 image_volumes: Iterable[str] = ()) -> list[MountSpec]:
    """Every mount of a container: its explicit ones, then an anonymous volume for each path of
    Config.Volumes (`volumes`, cleaned) and of the image's VOLUMEs that no explicit mount takes."""
    specs = list(explicit)
    seen = {spec.target for spec in specs}
    image = (clean_target(str(path), f"invalid volume {path!r} in image") for path in image_volumes)
    for origin, targets in (("config", volumes), ("image", image)):
        for target in targets:
            if target not in seen:
                seen.add(target)
                specs.append(MountSpec(type="volume", target=target, origin=origin))
    return specs


@dataclass(frozen=True)
class VolumesFrom:
    """One HostConfig.VolumesFrom entry (`name[:ro|rw]`)."""

    entry: str  # as given, for messages
    ref: str  # the container's name or id
    mode: str  # "", "ro" or "rw": "" keeps each mount's own


def parse_volumes_from(value: Any) -> tuple[VolumesFrom, ...]:
    entries = value or []
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise InvalidArgument("HostConfig.VolumesFrom must be a list of container[:ro|rw] strings")
    out = []
    for entry in entries:
        ref, _, mode = entry.partition(":")
        if mode not in ("", "ro", "rw") or not ref:
            raise InvalidArgument(f"invalid --volumes-from {entry!r}: write a container's name or id, "
                                  "then :ro or :rw if you like")
        out.append(VolumesFrom(entry, ref, mode))
    return tuple(out)
