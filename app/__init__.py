"""Berth Desktop and the `berth` CLI: front ends that reach engines only through `engine.client`."""

# One version number for berthd, the CLI and the desktop: engine.__version__ (pyproject reads it too).
from engine import __version__ as __version__
