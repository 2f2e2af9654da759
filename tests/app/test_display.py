from __future__ import annotations

import pytest

from app.display import (
    Tone,
    command_text,
    container_state,
    format_table,
    human_ago,
    human_size,
    ports_text,
    short_id,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("state", "status", "word", "tone"),
    [
        ("running", "Up 2 minutes", "running", Tone.OK),
        ("running", "Up 2 minutes (unhealthy)", "running (unhealthy)", Tone.ERROR),
        ("running", "Up 2 seconds (health: starting)", "starting", Tone.PENDING),
        ("paused", "Up 1 minute (Paused)", "paused", Tone.WARNING),
        ("exited", "Exited (0) 3 seconds ago", "exited (0)", Tone.NEUTRAL),
        ("exited", "Exited (137) 3 seconds ago", "exited (137)", Tone.ERROR),
        ("dead", "Dead", "dead", Tone.ERROR),
        ("created", "Created", "created", Tone.NEUTRAL),
        ("restarting", "Restarting (1) 2 seconds ago", "restarting", Tone.PENDING),
    ],
)
def test_container_state(state: str, status: str, word: str, tone: Tone) -> None:
    result = container_state({"State": state, "Status": status})
    assert (result.word, result.tone) == (word, tone)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "Less than a second ago"),
        (1, "1 second ago"),
        (45, "45 seconds ago"),
        (61, "About a minute ago"),
        (600, "10 minutes ago"),
        (3700, "About an hour ago"),
        (3 * 3600, "3 hours ago"),
        (3 * 86400, "3 days ago"),
        (21 * 86400, "3 weeks ago"),
        (90 * 86400, "3 months ago"),
        (800 * 86400, "2 years ago"),
    ],
)
def test_human_ago(seconds: float, text: str) -> None:
    assert human_ago(1_000_000_000 - seconds, now=1_000_000_000) == text


def test_ports_ids_commands_sizes() -> None:
    ports = [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"PrivatePort": 443, "Type": "tcp"},
    ]
    assert ports_text(ports) == "0.0.0.0:8080->80/tcp, 443/tcp"
    assert ports_text(None) == ""
    assert short_id("sha256:" + "ab" * 32) == "abababababab"
    assert command_text({"Command": "sleep 300"}) == '"sleep 300"'
    assert command_text({"Command": "sh -c 'while true; do sleep 1; done'"}) == '"sh -c \'while true; …"'
    assert human_size(4_261_000) == "4.26MB"
    assert human_size(512) == "512B"


def test_format_table() -> None:
    table = format_table(["A", "LONGER"], [["xxxx", "y"], ["z", ""]])
    assert table.splitlines() == ["A      LONGER", "xxxx   y", "z"]
