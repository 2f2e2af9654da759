"""Container names: validated like Docker's, generated like Docker's (adjective_surname)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

from engine.errors import InvalidArgument

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_ADJECTIVES = (
    "brave", "calm", "clever", "eager", "focused", "gentle", "happy", "jolly", "keen", "kind",
    "lucid", "merry", "nimble", "quiet", "sharp", "steady", "swift", "tender", "vivid", "witty",
    "bold", "bright", "cheerful", "curious", "daring", "dreamy", "fond", "friendly", "gallant", "glad",
    "hopeful", "humble", "lively", "loyal", "mellow", "modest", "patient", "polite", "proud", "sunny",
)
_NAMES = (
    "hopper", "lovelace", "turing", "noether", "curie", "babbage", "ritchie", "thompson", "knuth",
    "liskov", "hamilton", "shannon", "dijkstra", "torvalds", "goldberg", "perlman", "allen", "wozniak",
    "mccarthy", "kernighan", "backus", "cerf", "codd", "conway", "engelbart", "floyd", "hoare", "kahan",
    "kay", "lamport", "mcilroy", "milner", "minsky", "naur", "pike", "rivest", "sammet", "stroustrup",
    "tarjan", "wirth",
)
GUESSES = 8  # plain names tried before a suffix widens the choice


def validate(name: str) -> str:
    """Return the name without its leading slash, or raise with what to fix."""
    if not VALID_NAME.match(name):
        raise InvalidArgument(
            f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'
        )
    return name.lstrip("/")


def generate() -> str:
    return f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_NAMES)}"


def unused(taken: Callable[[str], bool]) -> str:
    """A generated name no container has. The plain names run out on a host with thousands of
    containers; then a random suffix widens them, and every candidate is checked, so a create
    without a name never fails on a name it made up itself."""
    for attempt in range(1000):
        suffix = "" if attempt < GUESSES else "_" + secrets.token_hex(2 if attempt < 64 else 4)
        candidate = generate() + suffix
        if not taken(candidate):
            return candidate
    raise RuntimeError("no unused container name found in 1000 tries")
