"""Image references as the API splits them; pure, so the CLI's quick paths need no aiohttp."""

from __future__ import annotations


def split_reference(reference: str) -> tuple[str, str]:
    """ "registry:5000/a/b:tag" -> ("registry:5000/a/b", "tag"); a digest stays on the name."""
    if "@" in reference:
        return reference, ""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, ""
    return name, tag
