"""GET /containers/json's and POST /containers/prune's filters, as dockerd's `ps` and prune
accept them, on the one Filters type (engine/filters.py). Pure: rows in, rows out."""

from __future__ import annotations

from engine.containers.model import Container, State
from engine.errors import InvalidArgument
from engine.filters import Filters
from engine.labels import labels_match

# What dockerd's `ps` accepts (those berthd does not apply yet are accepted too, as before), and prune.
PS_FILTERS = {"ancestor", "before", "exited", "health", "id", "isolation", "is-task", "expose", "label",
              "name", "network", "publish", "since", "status", "volume"}
PRUNE_FILTERS = {"until", "label", "label!"}


def states_in_order() -> list[str]:
    return [st.value for st in State]


def matching(rows: list[Container], flt: Filters, *, show_all: bool = False, limit: int = -1) -> list[Container]:
    """The rows `ps` shows: running ones unless `show_all` (or a status filter), never a build's
    step containers."""
    flt.validate(PS_FILTERS)
    states = {st.value for st in State}
    bad = [s for s in flt.get("status") if s not in states]
    if bad:
        raise InvalidArgument(f"invalid filter 'status={bad[0]}': use one of " + ", ".join(states_in_order()))
    out = [c for c in rows if (show_all or c.running or "status" in flt) and not c.build_step and _matches(c, flt)]
    return out[:limit] if limit > 0 else out


def _matches(c: Container, flt: Filters) -> bool:
    if "status" in flt and c.state.value not in flt.get("status"):
        return False
    if "name" in flt and not any(n.lstrip("/") in c.name for n in flt.get("name")):
        return False
    if "id" in flt and not any(c.id.startswith(i) for i in flt.get("id")):
        return False
    if "exited" in flt and not (c.state is State.EXITED and str(c.exit_code) in flt.get("exited")):
        return False
    if "ancestor" in flt and not any(a in (c.image, c.image_id) or c.image_id.startswith("sha256:" + a)
                                     for a in flt.get("ancestor")):
        return False
    return labels_match(c.labels, flt.get("label"))
