"""Property tests for the parsers that see user input: image references, multiplexed stream
framing, `-v`/`--mount` specs. They either parse or raise InvalidArgument; nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.api.streams import frame
from engine.client.streams import FrameDecoder
from engine.errors import InvalidArgument
from engine.images import reference
from engine.volumes import specs

pytestmark = pytest.mark.unit

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# no dot: a first component with a dot (or a port) is a registry, by the reference grammar
component = st.from_regex(r"\A[a-z0-9]+(?:[_-][a-z0-9]+)?\Z").filter(lambda c: c != "localhost")
tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
domain = st.sampled_from(["", "localhost:5000/", "registry.example:443/", "127.0.0.1:5000/", "docker.io/"])
junk = st.text(alphabet=st.characters(codec="utf-8"), max_size=80)


@SETTINGS
@given(junk)
def test_reference_parse_never_crashes(text: str) -> None:
    try:
        ref = reference.parse(text)
    except InvalidArgument:
        return
    # whatever parses re-parses to itself: canonical and familiar forms are stable
    assert reference.parse(ref.canonical()) == ref
    assert reference.parse(str(ref)) == ref


@SETTINGS
@given(domain, st.lists(component, min_size=1, max_size=3), st.none() | tag)
def test_valid_references_round_trip(dom: str, parts: list[str], t: str | None) -> None:
    text = dom + "/".join(parts) + (f":{t}" if t else "")
    if len(dom + "/".join(parts)) > 255:
        return
    ref = reference.parse(text)
    assert ref.tag == (t or "latest")
    assert ref.path.endswith("/".join(parts))
    assert reference.parse(ref.familiar()) == ref


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from([1, 2]), st.text(max_size=100).map(str.encode)), max_size=20),
       st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=10))
def test_frames_survive_any_split(messages: list[tuple[int, bytes]], cuts: list[int]) -> None:
    """Frames written by the server decode to the same text per stream, however reads split them
    (a character split across frames included)."""
    wire = b"".join(frame(stream, data) for stream, data in messages)
    decoder = FrameDecoder()
    got: dict[str, str] = {"stdout": "", "stderr": ""}
    pos = 0
    i = 0
    while pos < len(wire):
        step = cuts[i % len(cuts)]
        for chunk in decoder.feed(wire[pos:pos + step]):
            got[chunk.stream] += chunk.text
        pos += step
        i += 1
    want = {"stdout": b"", "stderr": b""}
    for stream, data in messages:
        want["stdout" if stream == 1 else "stderr"] += data
    for name in want:
        assert got[name] == want[name].decode()


@SETTINGS
@given(st.binary(max_size=200))
def test_frame_decoder_never_crashes_on_garbage(data: bytes) -> None:
    FrameDecoder().feed(data)


path_text = st.text(alphabet=st.sampled_from(list("/.:abz_-, ~")), max_size=30)


@SETTINGS
@given(st.one_of(junk, st.builds(lambda a, b, c: f"{a}:{b}:{c}", path_text, path_text, path_text),
                 st.builds(lambda a, b: f"{a}:{b}", path_text, path_text)))
def test_bind_specs_parse_or_say_why(raw: str) -> None:
    try:
        spec = specs.parse_bind(raw)
    except InvalidArgument as e:
        assert e.message
        return
    assert spec.target.startswith("/")
    assert ".." not in spec.target.split("/")
    if spec.type == "volume" and spec.source:
        assert "/" not in spec.source


mount_value: Any = st.one_of(st.none(), st.booleans(), st.integers(), path_text, st.lists(path_text, max_size=2),
                             st.dictionaries(path_text, path_text, max_size=2))


@SETTINGS
@given(st.dictionaries(st.sampled_from(["Type", "Source", "Target", "ReadOnly", "BindOptions", "VolumeOptions",
                                        "TmpfsOptions", "Consistency"]),
                       st.one_of(mount_value, st.sampled_from(["bind", "volume", "tmpfs", "npipe"])), max_size=6))
def test_mount_objects_parse_or_say_why(m: dict[str, Any]) -> None:
    try:
        spec = specs.parse_mount(m)
    except InvalidArgument as e:
        assert e.message
        return
    assert spec.target.startswith("/")
    assert ".." not in spec.target.split("/")
