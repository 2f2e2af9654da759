"""Docker's time formats: now in engine/formats.py, the one home of Docker's formats. The names
stay importable from here for the modules that still use them (see ARCHITECTURE.md)."""

from __future__ import annotations

from engine.formats import ZERO_TIME, human_duration, now_ns, rfc3339_nano
from engine.formats import timestamp_ns as parse_timestamp

__all__ = ["ZERO_TIME", "human_duration", "now_ns", "parse_timestamp", "rfc3339_nano"]
