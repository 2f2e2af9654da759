"""`python -m engine.compose ...`: the same as `berth compose ...`."""

from __future__ import annotations

import sys

from engine.compose.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
