"""Entry point of the frozen `berth` executable (the CLI)."""

import sys

from _frozen import run_module_if_asked

from app.cli import main

if __name__ == "__main__":
    run_module_if_asked()
    sys.exit(main())
