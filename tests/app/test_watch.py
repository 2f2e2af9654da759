"""A container turning unhealthy is said once per turn, not once per failing probe."""

from __future__ import annotations

from typing import Any

import pytest

from app.services.watch import ContainerWatch

pytestmark = pytest.mark.unit


def test_unhealthy_is_said_once_per_turn(qapp: Any) -> None:
    watch = ContainerWatch()
    said: list[str] = []
    watch.alert.connect(lambda title, _message: said.append(title))

    def event(action: str) -> None:
        watch.on_event({"Action": action, "Actor": {"ID": "abc", "Attributes": {"name": "web"}}})

    for action in ("health_status: unhealthy", "health_status: unhealthy", "health_status: healthy",
                   "health_status: unhealthy"):
        event(action)
    assert said == ["web is unhealthy", "web is unhealthy"]
