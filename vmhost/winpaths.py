"""Windows paths as a WSL distro sees them: the client translates bind mounts before berthd sees them.

WSL mounts each fixed drive at /mnt/<letter> (its default automount root), so C:\\Users\\me\\app is
/mnt/c/Users/me/app inside Berth's distro.
"""

from __future__ import annotations

import re

_DRIVE = re.compile(r"^([A-Za-z]):(?:[\\/]|$)")
_WSL_SHARE = re.compile(r"^[\\/]{2}(?:wsl\$|wsl\.localhost)[\\/][^\\/]+(?P<rest>(?:[\\/].*)?)$", re.IGNORECASE)


def is_windows_path(path: str) -> bool:
    return bool(_DRIVE.match(path) or _WSL_SHARE.match(path))


def to_wsl(path: str, mount_root: str = "/mnt") -> str:
    """C:\\Users\\me\\app -> /mnt/c/Users/me/app; \\\\wsl$\\distro\\x -> /x; a POSIX path is returned as is."""
    share = _WSL_SHARE.match(path)
    if share:
        return share.group("rest").replace("\\", "/") or "/"
    drive = _DRIVE.match(path)
    if not drive:
        if path.startswith("\\\\"):
            raise ValueError(f"{path}: network shares are not visible in WSL; copy the files to a drive")
        return path
    rest = path[2:].replace("\\", "/").strip("/")
    parts = [p for p in rest.split("/") if p not in ("", ".")]
    return "/".join([mount_root.rstrip("/"), drive.group(1).lower(), *parts])


def translate_bind(spec: str) -> str:
    """A `-v`/Binds entry "SRC:DST[:OPTS]" with a Windows SRC rewritten for WSL; others unchanged.

    A drive letter's colon is not a separator: "C:\\app:/app:ro" is SRC C:\\app, DST /app, OPTS ro.
    """
    drive = _DRIVE.match(spec)
    head_len = 2 if drive else 0
    sep = spec.find(":", head_len)
    if sep < 0:
        return spec  # a volume-only spec ("/data"): nothing on the host
    source, rest = spec[:sep], spec[sep:]
    return (to_wsl(source) if is_windows_path(source) else source) + rest


def translate_binds(binds: list[str]) -> list[str]:
    return [translate_bind(b) for b in binds]
