"""The two ways a call to an engine fails, as the front end needs to tell them apart.

`EngineUnreachable` means nothing answered (no socket, refused, timed out): the desktop shows a
"start the engine" message. `EngineClientError` means the engine answered with an error status and a
message meant for a person ("no such container: web").
"""

from __future__ import annotations


class EngineClientError(Exception):
    """The engine answered with an error status (4xx/5xx) and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (status {status})")
        self.status = status
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def not_implemented(self) -> bool:
        # 501 is what an engine says for an endpoint it knows but does not serve yet.
        return self.status in (404, 405, 501)


class EngineUnreachable(Exception):
    """Nothing answered at `url`; `reason` says what the connection attempt ran into."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the engine at {url}: {reason}")
        self.url = url
        self.reason = reason
