"""Berth Desktop and the `berth` CLI: front ends that reach engines only through `engine.client`."""

__version__ = "0.1.0"
