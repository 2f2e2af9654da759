"""engine/filters.py: Docker's `filters` parameter as moby's filters.Args parses and checks it."""

from __future__ import annotations

import pytest

from engine.errors import InvalidArgument
from engine.filters import Filters

pytestmark = pytest.mark.unit


def test_both_json_forms_and_none() -> None:
    assert Filters.parse('{"label": ["a=1", "b"]}') == Filters.parse('{"label": {"a=1": true, "b": true, "c": false}}')
    assert not Filters.parse("") and not Filters.parse(None) and not Filters.parse("{}")
    assert Filters.parse(Filters({"name": ["web"]}).to_json()).get("name") == ["web"]


@pytest.mark.parametrize(("raw", "message"), [
    ("{", "invalid filters"), ("[]", "expected a JSON object"), ('{"name": "web"}', "expected a list of values"),
])
def test_malformed_is_refused(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        Filters.parse(raw)


def test_validate_in_mobys_words() -> None:
    Filters({"label": ["a"]}).validate({"label", "until"})
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'colour': use label or until$"):
        Filters({"colour": ["red"]}).validate({"label", "until"})


def test_boolean_takes_the_last_value_and_refuses_others() -> None:
    assert Filters({"dangling": ["false", "true"]}).boolean("dangling") is True
    assert Filters({"dangling": ["0"]}).boolean("dangling") is False
    assert Filters().boolean("dangling") is None
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling=maybe'"):
        Filters({"dangling": ["maybe"]}).boolean("dangling")


def test_labels_and_until() -> None:
    assert Filters({"label": ["a"], "label!": ["b=2"]}).labels() == ["a", "!b=2"]
    now = 10_000 * 1_000_000_000
    assert Filters({"until": ["10s"]}).until_ns(now) == now - 10 * 1_000_000_000
    assert Filters({"until": ["1700000000"]}).until_ns(now) == 1_700_000_000 * 1_000_000_000
    assert Filters().until_ns(now) is None
    with pytest.raises(InvalidArgument, match="more than one until filter specified"):
        Filters({"until": ["1h", "2h"]}).until_ns(now)
    with pytest.raises(InvalidArgument, match="invalid filter 'until=soon'"):
        Filters({"until": ["soon"]}).until_ns(now)
