"""Container names: validated like Docker's, generated like Docker's (adjective_surname)."""

from __future__ import annotations

import re
import secrets

from engine.errors import InvalidArgument

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_ADJECTIVES = (
    "brave", "calm", "clever", "eager", "focused", "gentle", "happy", "jolly", "keen", "kind",
    "lucid", "merry", "nimble", "quiet", "sharp", "steady", "swift", "tender", "vivid", "witty",
)
_NAMES = (
    "hopper", "lovelace", "turing", "noether", "curie", "babbage", "ritchie", "thompson", "knuth",
    "liskov", "hamilton", "shannon", "dijkstra", "torvalds", "goldberg", "perlman", "allen", "wozniak",
    "mccarthy", "kernighan",
)


def validate(name: str) -> str:
    """Return the name without its leading slash, or raise with what to fix."""
    if not VALID_NAME.match(name):
        raise InvalidArgument(
            f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'
        )
    return name.lstrip("/")


def generate() -> str:
    return f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_NAMES)}"
