"""Entry point of the Linux bundle's one executable, `berth-desktop`.

`berth` and `berthd` are symbolic links to it: one executable carries Python's code archive once
instead of three times (~8 MB). It runs the program named by the link it was started through.
"""

import sys
from pathlib import Path

from _frozen import run_module_if_asked


def main() -> int:
    program = Path(sys.argv[0]).name
    if program == "berthd":
        from engine.daemon import main as berthd

        berthd()
        return 0
    if program == "berth":
        from app.cli import main as berth

        return berth()
    from app.desktop.main import main as desktop

    return desktop()


if __name__ == "__main__":
    run_module_if_asked()
    sys.exit(main())
