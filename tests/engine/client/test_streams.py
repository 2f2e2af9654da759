from __future__ import annotations

import struct

import pytest

from engine.client.streams import FrameDecoder, FrameSplitter, JSONStreamDecoder, LogChunk

pytestmark = pytest.mark.unit


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


def test_frames_split_anywhere_reassemble() -> None:
    data = frame(1, b"out\n") + frame(2, "é\n".encode()) + frame(1, b"")
    for cut in range(len(data)):
        decoder = FrameDecoder()
        chunks = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        assert chunks == [LogChunk("stdout", "out\n"), LogChunk("stderr", "é\n")]


def test_multibyte_character_split_across_frames() -> None:
    encoded = "é".encode()
    decoder = FrameDecoder()
    assert decoder.feed(frame(1, encoded[:1])) == []
    assert decoder.feed(frame(1, encoded[1:])) == [LogChunk("stdout", "é")]


def test_raw_stream_is_stdout() -> None:
    assert FrameDecoder(raw=True).feed(b"tty output") == [LogChunk("stdout", "tty output")]


def test_json_stream_objects_across_chunks() -> None:
    decoder = JSONStreamDecoder()
    assert decoder.feed(b'{"a": 1}\n{"b"') == [{"a": 1}]
    assert decoder.feed(b': 2}{"c": 3}\n') == [{"b": 2}, {"c": 3}]
    assert decoder.feed(b"  \n") == []


def test_frame_splitter_keeps_bytes_as_they_are() -> None:
    # An exec's output may be binary: frames come back whole and undecoded, split anywhere.
    data = frame(1, b"\xff\xfe") + frame(2, b"err") + frame(1, b"")
    for cut in range(len(data)):
        splitter = FrameSplitter()
        frames = splitter.feed(data[:cut]) + splitter.feed(data[cut:])
        assert frames == [("stdout", b"\xff\xfe"), ("stderr", b"err"), ("stdout", b"")]
    assert FrameSplitter(raw=True).feed(b"\x01tty") == [("stdout", b"\x01tty")]
