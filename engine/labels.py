"""Docker's `label` and `label!` filters over a set of labels: one rule for every list and prune."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def has_label(labels: Mapping[str, str], spec: str) -> bool:
    """`spec` is "key" (present with any value) or "key=value"."""
    key, eq, value = spec.partition("=")
    return key in labels and (not eq or labels[key] == value)


def labels_match(labels: Mapping[str, str], want: Iterable[str] = (), refuse: Iterable[str] = ()) -> bool:
    """Every `want` label present and none of `refuse` (the `label` and `label!` filters)."""
    return all(has_label(labels, spec) for spec in want) and not any(has_label(labels, spec) for spec in refuse)


def prune_labels_match(labels: Mapping[str, str], specs: Iterable[str]) -> bool:
    """The prune form: one list where a `label!` filter comes as "!key[=value]"."""
    specs = list(specs)
    return labels_match(labels, [s for s in specs if not s.startswith("!")],
                        [s[1:] for s in specs if s.startswith("!")])
