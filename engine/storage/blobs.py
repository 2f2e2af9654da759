"""Content-addressed blob storage: `<root>/sha256/<hex>`.

A blob is only ever visible under its digest after its bytes were hashed, fsynced and renamed
into place, so a reader never sees a partial or mismatched blob, and a crash leaves at most a
stray temp file (removed by `remove_stale_temp()` at startup). Image configs and, with registry pull/push,
manifests and compressed layers live here.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from engine.errors import EngineError, InvalidArgument, NotFound

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
CHUNK = 1 << 20


class DigestMismatch(InvalidArgument):
    """Content offered for a digest does not hash to it; nothing was stored."""


class CorruptBlob(EngineError):
    """A stored blob no longer hashes to its name: the disk was tampered with or failed."""


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int


def check_digest(digest: str) -> str:
    """Return the hex part of a `sha256:<hex>` digest, or raise InvalidArgument."""
    if not _DIGEST_RE.match(digest):
        raise InvalidArgument(f"invalid digest {digest!r}: expected sha256:<64 lowercase hex>")
    return digest[len("sha256:") :]


class BlobWriter:
    """Streams one blob into the store; `commit()` verifies and publishes it.

    Used as a context manager, leaving the block without `commit()` (or by an exception) discards
    the temp file, so callers cannot leak partial blobs.
    """

    def __init__(self, store: BlobStore, expected: str | None) -> None:
        if expected is not None:
            check_digest(expected)
        self._store = store
        self._expected = expected
        self._hash = hashlib.sha256()
        self._size = 0
        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="blob-")
        self._tmp = Path(name)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        self._done = False

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise ValueError("blob writer is closed")
        self._file.write(data)
        self._hash.update(data)
        self._size += len(data)

    def commit(self) -> BlobInfo:
        if self._file is None:
            raise ValueError("blob writer is closed")
        f, self._file = self._file, None
        try:
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            self.abort()
            raise
        finally:
            f.close()
        digest = "sha256:" + self._hash.hexdigest()
        if self._expected is not None and digest != self._expected:
            self.abort()
            raise DigestMismatch(
                f"blob content does not match digest {self._expected}: it hashes to {digest}"
            )
        final = self._store.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, final)
        self._done = True
        _fsync_dir(final.parent)
        return BlobInfo(digest=digest, size=self._size)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if not self._done:
            self._done = True
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()  # no-op after commit


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        (root / "sha256").mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def remove_stale_temp(self) -> int:
        """Drop temp files of writes that never committed (a crash). Call once at startup only:
        it would also remove writes in flight."""
        count = 0
        for stale in self.tmp_dir.iterdir():
            stale.unlink(missing_ok=True)
            count += 1
        return count

    def path(self, digest: str) -> Path:
        return self.root / "sha256" / check_digest(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def writer(self, expected: str | None = None) -> BlobWriter:
        return BlobWriter(self, expected)

    def put(self, source: BinaryIO | Iterable[bytes], expected: str | None = None) -> BlobInfo:
        """Store a stream (file object or chunk iterable), verified against `expected` if given."""
        with self.writer(expected) as w:
            for chunk in _chunks(source):
                w.write(chunk)
            return w.commit()

    def put_bytes(self, data: bytes, expected: str | None = None) -> BlobInfo:
        return self.put([data], expected)

    def open(self, digest: str) -> BinaryIO:
        """Open a blob for streaming. Not verified: use `verify` or `read_bytes` when it matters."""
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def read_bytes(self, digest: str) -> bytes:
        """Read a small blob whole (configs, manifests), verifying its digest."""
        with self.open(digest) as f:
            data = f.read()
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise CorruptBlob(f"blob {digest} is corrupt: its content no longer matches its digest")
        return data

    def verify(self, digest: str) -> None:
        """Re-hash a stored blob; raise CorruptBlob if it changed on disk."""
        h = hashlib.sha256()
        with self.open(digest) as f:
            for chunk in _chunks(f):
                h.update(chunk)
        if "sha256:" + h.hexdigest() != digest:
            raise CorruptBlob(f"blob {digest} is corrupt: its content no longer matches its digest")

    def delete(self, digest: str) -> bool:
        """Remove a blob; False if it was not there."""
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def digests(self) -> Iterator[str]:
        for p in (self.root / "sha256").iterdir():
            yield "sha256:" + p.name


def _chunks(source: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    read = getattr(source, "read", None)
    if read is None:
        yield from source
        return
    while chunk := read(CHUNK):
        yield chunk


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "BlobInfo",
    "BlobStore",
    "BlobWriter",
    "CorruptBlob",
    "DigestMismatch",
    "check_digest",
]
