"""SSH pieces paramiko lacks for reaching berthd inside a machine.

berthd listens on a Unix socket in the guest. OpenSSH forwards such sockets through a
`direct-streamlocal@openssh.com` channel (OpenSSH's PROTOCOL file, section 2.4), whose
CHANNEL_OPEN carries the socket path. paramiko can open a channel of that type but
writes none of its fields, and sshd then drops the whole session; so the message is
built here.
"""

from __future__ import annotations

import paramiko
from paramiko.common import DEFAULT_MAX_PACKET_SIZE, DEFAULT_WINDOW_SIZE, cMSG_CHANNEL_OPEN

STREAMLOCAL_CHANNEL = "direct-streamlocal@openssh.com"
_UINT32_MAX = 2**32 - 1


def streamlocal_open_message(
    sender_channel: int,
    socket_path: str,
    window_size: int = DEFAULT_WINDOW_SIZE,
    max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
) -> paramiko.Message:
    """SSH_MSG_CHANNEL_OPEN asking the server to connect to the Unix socket `socket_path`.

    The message holds the standard fields (type, sender channel, window, max
    packet; RFC 4254 section 5.1), then the socket path and the two reserved fields
    OpenSSH expects (an empty string and a zero uint32).
    """
    if not socket_path:
        raise ValueError("a socket path is needed to open a streamlocal channel")
    for name, value in (
        ("sender channel", sender_channel),
        ("window size", window_size),
        ("max packet size", max_packet_size),
    ):
        if not 0 <= value <= _UINT32_MAX:
            raise ValueError(f"{name} {value} does not fit in an SSH uint32")
    message = paramiko.Message()
    message.add_byte(cMSG_CHANNEL_OPEN)
    message.add_string(STREAMLOCAL_CHANNEL)
    message.add_int(sender_channel)
    message.add_int(window_size)
    message.add_int(max_packet_size)
    message.add_string(socket_path)
    message.add_string("")  # reserved
    message.add_int(0)  # reserved
    return message
