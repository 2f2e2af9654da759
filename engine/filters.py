"""Docker's `filters` query parameter as one type, as moby's filters.Args: parsed once from either
JSON form, validated against what an endpoint accepts, and asked in the same words everywhere
(list and prune of containers, volumes, networks, images; events).

Pure and importable by the client side too (to_json builds the parameter a request sends)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from engine.errors import InvalidArgument
from engine.formats import FormatError, timestamp_ns

_TRUE = ("1", "true")
_FALSE = ("0", "false")


class Filters:
    def __init__(self, fields: Mapping[str, Iterable[str]] | None = None) -> None:
        self._fields: dict[str, list[str]] = {k: [str(v) for v in vs] for k, vs in (fields or {}).items()}

    @classmethod
    def parse(cls, raw: str | None) -> Filters:
        """`{"name": ["a"]}`, or the legacy `{"name": {"a": true}}`; empty is no filter."""
        if not raw:
            return cls()
        try:
            parsed = json.loads(raw)
        except ValueError as e:
            raise InvalidArgument(f"invalid filters: {e}") from None
        if not isinstance(parsed, dict):
            raise InvalidArgument("invalid filters: expected a JSON object")
        out: dict[str, list[str]] = {}
        for key, value in parsed.items():
            if isinstance(value, dict):
                out[key] = [k for k, v in value.items() if v]
            elif isinstance(value, list):
                out[key] = [str(v) for v in value]
            else:
                raise InvalidArgument(f"invalid filter {key!r}: expected a list of values")
        return cls(out)

    def to_json(self) -> str:
        return json.dumps(self._fields)

    def as_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self._fields.items()}

    def validate(self, accepted: Iterable[str]) -> None:
        """Refuse a filter the endpoint does not know, in moby's words ("invalid filter 'x'") and
        with the ones it knows."""
        known = sorted(set(accepted))
        for key in self._fields:
            if key not in known:
                words = ", ".join(known[:-1]) + (" or " if len(known) > 1 else "") + known[-1] if known else "none"
                raise InvalidArgument(f"invalid filter '{key}': use {words}")

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def __bool__(self) -> bool:
        return bool(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filters) and other._fields == self._fields

    __hash__ = None  # type: ignore[assignment]  # mutable-looking value: no hashing

    def get(self, key: str) -> list[str]:
        return list(self._fields.get(key, []))

    def boolean(self, key: str) -> bool | None:
        """A true/false filter (dangling, all): None when absent; the last value counts, as moby's
        GetBoolOrDefault refuses anything but 1/0/true/false."""
        values = self._fields.get(key)
        if not values:
            return None
        value = values[-1].lower()
        if value not in _TRUE + _FALSE:
            raise InvalidArgument(f"invalid filter '{key}={values[-1]}': use true or false")
        return value in _TRUE

    def labels(self) -> list[str]:
        """`label` and `label!` as one list, the negated ones with a leading "!" (engine/labels.py)."""
        return self.get("label") + ["!" + v for v in self.get("label!")]

    def until_ns(self, now: int | None = None) -> int | None:
        """A prune's `until` (a time, or a Go duration before now), in ns; None when absent."""
        values = self._fields.get("until")
        if not values:
            return None
        if len(values) > 1:
            raise InvalidArgument("more than one until filter specified")  # moby's words
        try:
            return timestamp_ns(values[0], now)
        except FormatError as e:
            raise InvalidArgument(f"invalid filter 'until={values[0]}': {e}") from None
