"""Decoders for the engine's two streaming formats, kept free of HTTP so they are easy to test.

- Logs and attach of a container without a TTY come as frames: an 8-byte header (stream byte,
  three zero bytes, big-endian uint32 length) then that many bytes. With a TTY the bytes are raw.
- Events and progress come as JSON objects one after another (newline-separated by convention,
  but a decoder must not rely on an object arriving in one chunk).
"""

from __future__ import annotations

import codecs
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STREAM_NAMES = {0: "stdin", 1: "stdout", 2: "stderr"}
_HEADER = struct.Struct(">BxxxL")


@dataclass(frozen=True, slots=True)
class LogChunk:
    """Text a container wrote, and on which stream ("stdout" or "stderr")."""

    stream: str
    text: str


class FrameSplitter:
    """Feed bytes as they arrive; get back whole frames as (stream name, bytes), undecoded (an exec's
    output may be binary). With `raw` (a TTY) every piece is stdout as it comes."""

    def __init__(self, *, raw: bool = False) -> None:
        self._raw = raw
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        if self._raw:
            return [("stdout", bytes(data))] if data else []
        self._buffer.extend(data)
        frames: list[tuple[str, bytes]] = []
        while len(self._buffer) >= _HEADER.size:
            stream_id, length = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append((STREAM_NAMES.get(stream_id, "stdout"), bytes(self._buffer[_HEADER.size : end])))
            del self._buffer[:end]
        return frames


class FrameDecoder:
    """Feed bytes as they arrive; get back whole `LogChunk`s (text decoded per stream)."""

    def __init__(self, *, raw: bool = False) -> None:
        self._frames = FrameSplitter(raw=raw)
        self._decoders: dict[str, codecs.IncrementalDecoder] = {}

    def feed(self, data: bytes) -> list[LogChunk]:
        chunks: list[LogChunk] = []
        for stream, payload in self._frames.feed(data):
            chunks.extend(self._text(stream, payload))
        return chunks

    def _text(self, stream: str, payload: bytes) -> list[LogChunk]:
        decoder = self._decoders.get(stream)
        if decoder is None:
            # A multi-byte character may be split across frames: decode incrementally per stream.
            decoder = self._decoders[stream] = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = decoder.decode(payload)
        return [LogChunk(stream, text)] if text else []


class JSONStreamDecoder:
    """Feed bytes; get back each complete top-level JSON object (dicts only)."""

    def __init__(self) -> None:
        self._text = ""
        self._decoder = json.JSONDecoder()
        self._bytes = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._text += self._bytes.decode(data)
        objects: list[dict[str, Any]] = []
        while True:
            stripped = self._text.lstrip()
            if not stripped:
                self._text = ""
                return objects
            try:
                value, end = self._decoder.raw_decode(stripped)
            except json.JSONDecodeError:
                # Incomplete object: keep it until more bytes arrive.
                self._text = stripped
                return objects
            self._text = stripped[end:]
            if isinstance(value, dict):
                objects.append(value)


def build_output(item: Mapping[str, Any]) -> str:
    """What `docker build` (classic) prints of one line of a build's answer: step output as it is;
    a FROM image being pulled as status lines, its byte counts left out; nothing for `aux`."""
    stream = item.get("stream")
    if isinstance(stream, str):
        return stream
    status = item.get("status")
    if isinstance(status, str) and status and not item.get("progressDetail"):
        return f"{item['id']}: {status}\n" if item.get("id") else f"{status}\n"
    return ""
