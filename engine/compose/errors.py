"""What can go wrong in a compose project, as messages a person can act on."""

from __future__ import annotations


class ComposeError(Exception):
    """A compose operation failed; the message says what and where."""


class ConfigError(ComposeError):
    """A compose file is invalid: the message names the file and the offending key."""
