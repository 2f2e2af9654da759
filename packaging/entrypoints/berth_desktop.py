"""Entry point of the frozen `berth-desktop` executable."""

import sys

from _frozen import run_module_if_asked

from app.desktop.main import main

if __name__ == "__main__":
    run_module_if_asked()
    sys.exit(main())
