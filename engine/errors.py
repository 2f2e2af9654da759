"""Domain errors. Each carries the HTTP status the Docker API spec gives it.

Services raise these; the API layer turns them into `{"message": ...}` bodies, so a
person sees "no such image: busybox:latest", never a traceback.
"""

from __future__ import annotations


class EngineError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(EngineError):
    status = 400


class Forbidden(EngineError):
    status = 403


class NotFound(EngineError):
    status = 404


class Conflict(EngineError):
    status = 409


class NotModified(EngineError):
    status = 304


class RuntimeFailure(EngineError):
    """The OCI runtime or conmon failed; the message carries their words."""

    status = 500


class NotImplementedHere(EngineError):
    """Asked of something that cannot do it (reading a log kept by no driver), as dockerd's 501."""

    status = 501


class DiskFull(EngineError):
    """A write found no room (ENOSPC, a quota, SQLite's "disk is full"): the user's to fix, so
    said in words naming the disk (engine/storage/space.py), never as an internal error. 500, as
    dockerd answers a failed write."""

    status = 500
