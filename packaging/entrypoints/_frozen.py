"""What every frozen Berth executable does before its own entry point.

A frozen `sys.executable` is the bundle's executable, not a Python interpreter, yet Berth re-executes
itself as `sys.executable -m vmhost.agent ...` (the machine supervisor). Honour that one form here so
the frozen app behaves as the installed one does.
"""

from __future__ import annotations

import runpy
import sys


def run_module_if_asked() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [sys.argv[0], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        sys.exit(0)
