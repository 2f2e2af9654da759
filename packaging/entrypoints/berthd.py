"""Entry point of the frozen `berthd` executable (the engine, Linux only)."""

import sys

from engine.daemon import main

if __name__ == "__main__":
    sys.exit(main())
