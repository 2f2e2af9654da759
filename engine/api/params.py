"""Query and body parameters, parsed the way Docker parses them, with errors that say
which parameter was wrong."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from engine.errors import InvalidArgument
from engine.filters import Filters

_TRUE = {"1", "true", "True", "yes"}
_FALSE = {"0", "false", "False", "no", ""}


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(f"invalid value for {name}: {value!r} (use 1/0 or true/false)")


def integer(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {value!r} is not an integer") from None


def filter_args(request: web.Request) -> Filters:
    """Docker's `filters` query value, parsed (engine/filters.py)."""
    return Filters.parse(request.query.get("filters"))


def filters(request: web.Request) -> dict[str, list[str]]:
    """The same as a plain dict, for the routers not yet on Filters."""
    return filter_args(request).as_dict()


JSON_BODY_MAX = 16 << 20  # far above any container, network or volume config


class BodyTooLarge(InvalidArgument):
    status = 413


async def json_body(request: web.Request, required: bool = True) -> Any:
    # The app has no global size limit (image and build bodies are large): bound JSON here,
    # so a huge or endless body is refused instead of buffered whole.
    too_large = BodyTooLarge(f"the request body is larger than {JSON_BODY_MAX >> 20} MiB: "
                             "a JSON config never needs that much")
    if request.content_length is not None and request.content_length > JSON_BODY_MAX:
        raise too_large
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.read(1 << 16):
        size += len(chunk)
        if size > JSON_BODY_MAX:
            raise too_large
        parts.append(chunk)
    raw = b"".join(parts)
    if not raw.strip():
        if required:
            raise InvalidArgument("the request body is empty: send a JSON object")
        return None
    try:
        return json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"malformed JSON in the request body: {e}") from None


def fold_keys(body: dict[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """`body` with each key spelt as in `known` when it matches one but for case: dockerd decodes
    JSON with Go's encoding/json, which matches field names case-insensitively, and clients rely
    on it (docker-py sends exec's `detachKeys`). Unknown keys are kept as they are."""
    canonical = {k.lower(): k for k in known}
    return {canonical.get(k.lower(), k) if isinstance(k, str) else k: v for k, v in body.items()}
