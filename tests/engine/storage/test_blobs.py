from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.errors import InvalidArgument, NotFound
from engine.storage.blobs import BlobStore, CorruptBlob, DigestMismatch
from tests.engine.storage.tarbuild import sha256_digest


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


@pytest.mark.unit
def test_put_open_has_path_delete(blobs: BlobStore) -> None:
    info = blobs.put_bytes(b"hello")
    assert info.digest == sha256_digest(b"hello") and info.size == 5
    assert blobs.has(info.digest)
    assert blobs.path(info.digest) == blobs.root / "sha256" / info.digest.removeprefix("sha256:")
    with blobs.open(info.digest) as f:
        assert f.read() == b"hello"
    assert blobs.read_bytes(info.digest) == b"hello"
    assert blobs.size(info.digest) == 5
    assert list(blobs.digests()) == [info.digest]
    assert blobs.delete(info.digest) is True
    assert not blobs.has(info.digest)
    assert blobs.delete(info.digest) is False
    with pytest.raises(NotFound):
        blobs.open(info.digest)


@pytest.mark.unit
def test_put_streams_file_objects_and_chunk_iterables(blobs: BlobStore) -> None:
    data = bytes(range(256)) * 10_000  # bigger than one copy chunk
    assert blobs.put(io.BytesIO(data)).digest == sha256_digest(data)
    assert blobs.put(iter([b"ab", b"", b"cd"]), expected=sha256_digest(b"abcd")).size == 4


@pytest.mark.unit
def test_mismatch_stores_nothing(blobs: BlobStore) -> None:
    wrong = sha256_digest(b"something else")
    with pytest.raises(DigestMismatch, match="does not match"):
        blobs.put_bytes(b"hello", expected=wrong)
    assert not blobs.has(wrong)
    assert not blobs.has(sha256_digest(b"hello"))
    assert list((blobs.root / "sha256").iterdir()) == []
    assert list(blobs.tmp_dir.iterdir()) == []


@pytest.mark.unit
def test_abandoned_writer_leaves_no_temp(blobs: BlobStore) -> None:
    with pytest.raises(RuntimeError), blobs.writer() as w:
        w.write(b"partial")
        raise RuntimeError("connection dropped")
    assert list(blobs.tmp_dir.iterdir()) == []
    assert list((blobs.root / "sha256").iterdir()) == []


@pytest.mark.unit
@pytest.mark.parametrize("digest", ["sha256:abc", "md5:" + "0" * 32, "sha256:" + "A" * 64, "../../etc"])
def test_invalid_digests_refused(blobs: BlobStore, digest: str) -> None:
    with pytest.raises(InvalidArgument):
        blobs.path(digest)
    with pytest.raises(InvalidArgument):
        blobs.put_bytes(b"x", expected=digest)


@pytest.mark.unit
def test_corruption_detected(blobs: BlobStore) -> None:
    digest = blobs.put_bytes(b'{"config": {}}').digest
    blobs.verify(digest)
    blobs.path(digest).write_bytes(b'{"config": {"Cmd": ["evil"]}}')
    with pytest.raises(CorruptBlob, match="corrupt"):
        blobs.read_bytes(digest)
    with pytest.raises(CorruptBlob):
        blobs.verify(digest)


@pytest.mark.unit
def test_stale_temp_files_swept(blobs: BlobStore) -> None:
    (blobs.tmp_dir / "blob-crashed").write_bytes(b"half")
    assert blobs.remove_stale_temp() == 1
    assert list(blobs.tmp_dir.iterdir()) == []
