"""The guest image the macOS and Windows apps download on first run, pinned by its digest.

The apps cannot build the guest (debootstrap needs Linux and root), so a release builds one per
architecture and bakes a pin (base URL, and each archive's file name, size and sha256) into the app:

    sudo python packaging/guest_image.py build --base-url https://<release host>/berth/<version> \\
        --out dist/guest --pin packaging/guest-image.json      (x86_64 and aarch64: each guest image and its
                                                                WSL root file system; upload dist/guest/*)
    python packaging/guest_image.py check [--wsl] packaging/guest-image.json
        (the app build refuses an unpinned one; --wsl, the Windows build: the WSL root file systems too)
    python packaging/guest_image.py install [--image-url URL]          (what first run does)

The work is vmhost.release's (the app's `berth machine init` uses it directly); this script is the
packaging front door, importable without the repository on sys.path.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmhost.release import FORMAT, ReleaseError, load_manifest, problems
from vmhost.release import main as release_main

__all__ = ["FORMAT", "ReleaseError", "load_manifest", "main", "problems"]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["check"]:
        wsl = "--wsl" in argv
        rest = [arg for arg in argv[1:] if arg != "--wsl"]
        if len(rest) != 1:
            print("usage: guest_image.py check [--wsl] MANIFEST", file=sys.stderr)
            return 2
        try:
            found = problems(load_manifest(Path(rest[0])), require_rootfs=wsl)
        except ReleaseError as e:
            found = [str(e)]
        if found:
            print(f"{rest[0]}: " + "; ".join(found), file=sys.stderr)
            return 1
        return 0
    if argv[:1] == ["install"]:
        return release_main(["fetch", *argv[1:]])
    return release_main(argv)


if __name__ == "__main__":
    sys.exit(main())
