from __future__ import annotations

import paramiko
import pytest
from paramiko.common import DEFAULT_MAX_PACKET_SIZE, DEFAULT_WINDOW_SIZE, MSG_CHANNEL_OPEN

from vmhost.ssh import STREAMLOCAL_CHANNEL, streamlocal_open_message

pytestmark = pytest.mark.unit


def test_message_decodes_as_openssh_expects() -> None:
    wire = streamlocal_open_message(7, "/run/berth/berth.sock", 1 << 20, 16384).asbytes()
    message = paramiko.Message(wire)
    assert message.get_byte() == bytes([MSG_CHANNEL_OPEN])
    assert message.get_text() == "direct-streamlocal@openssh.com" == STREAMLOCAL_CHANNEL
    assert message.get_int() == 7  # sender channel
    assert message.get_int() == 1 << 20  # initial window size
    assert message.get_int() == 16384  # maximum packet size
    assert message.get_text() == "/run/berth/berth.sock"
    assert message.get_string() == b""  # reserved
    assert message.get_int() == 0  # reserved
    assert message.get_remainder() == b""


def test_exact_bytes_for_a_short_path() -> None:
    wire = streamlocal_open_message(0, "/s", 2, 3).asbytes()
    assert wire == (
        b"\x5a"
        + b"\x00\x00\x00\x1e"
        + b"direct-streamlocal@openssh.com"
        + b"\x00\x00\x00\x00"
        + b"\x00\x00\x00\x02"
        + b"\x00\x00\x00\x03"
        + b"\x00\x00\x00\x02/s"
        + b"\x00\x00\x00\x00"
        + b"\x00\x00\x00\x00"
    )


def test_defaults_are_paramikos_channel_sizes() -> None:
    message = paramiko.Message(streamlocal_open_message(1, "/x").asbytes())
    message.get_byte()
    message.get_text()
    message.get_int()
    assert message.get_int() == DEFAULT_WINDOW_SIZE
    assert message.get_int() == DEFAULT_MAX_PACKET_SIZE


def test_non_ascii_path_is_utf8() -> None:
    message = paramiko.Message(streamlocal_open_message(1, "/tmp/bérth.sock").asbytes())
    message.get_byte()
    message.get_text()
    for _ in range(3):
        message.get_int()
    assert message.get_string() == "/tmp/bérth.sock".encode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, ""), "a socket path is needed"),
        ((-1, "/s"), "sender channel -1"),
        ((2**32, "/s"), "sender channel 4294967296"),
        ((1, "/s", 2**32), "window size"),
        ((1, "/s", 1, -1), "max packet size"),
    ],
)
def test_bad_arguments_are_refused(args: tuple[int | str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        streamlocal_open_message(*args)  # type: ignore[arg-type]
