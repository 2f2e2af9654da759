from __future__ import annotations

import pytest

from engine.errors import InvalidArgument
from engine.images.reference import Reference, is_full_id, parse, parse_repository

DIGEST = "sha256:" + "a" * 64


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest", "familiar", "canonical"),
    [
        ("busybox", "docker.io", "library/busybox", "latest", None,
         "busybox:latest", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36", None,
         "busybox:1.36", "docker.io/library/busybox:1.36"),
        ("docker.io/library/busybox", "docker.io", "library/busybox", "latest", None,
         "busybox:latest", "docker.io/library/busybox:latest"),
        ("index.docker.io/busybox", "docker.io", "library/busybox", "latest", None,
         "busybox:latest", "docker.io/library/busybox:latest"),
        ("user/app:v1", "docker.io", "user/app", "v1", None, "user/app:v1", "docker.io/user/app:v1"),
        ("library/a/b", "docker.io", "library/a/b", "latest", None,
         "library/a/b:latest", "docker.io/library/a/b:latest"),
        ("localhost:5000/a/b:t", "localhost:5000", "a/b", "t", None,
         "localhost:5000/a/b:t", "localhost:5000/a/b:t"),
        ("localhost/app", "localhost", "app", "latest", None, "localhost/app:latest", "localhost/app:latest"),
        ("registry.example.com/team/app", "registry.example.com", "team/app", "latest", None,
         "registry.example.com/team/app:latest", "registry.example.com/team/app:latest"),
        ("Registry.Example.com:443/x", "Registry.Example.com:443", "x", "latest", None,
         "Registry.Example.com:443/x:latest", "Registry.Example.com:443/x:latest"),
        ("[::1]:5000/app", "[::1]:5000", "app", "latest", None,
         "[::1]:5000/app:latest", "[::1]:5000/app:latest"),
        (f"busybox@{DIGEST}", "docker.io", "library/busybox", None, DIGEST,
         f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
        (f"busybox:1@{DIGEST}", "docker.io", "library/busybox", "1", DIGEST,
         f"busybox:1@{DIGEST}", f"docker.io/library/busybox:1@{DIGEST}"),
        ("a__b-c---d/e.f_g", "docker.io", "a__b-c---d/e.f_g", "latest", None,
         "a__b-c---d/e.f_g:latest", "docker.io/a__b-c---d/e.f_g:latest"),
    ],
)  # fmt: skip
def test_parse_normalises_like_docker(
    text: str, domain: str, path: str, tag: str | None, digest: str | None, familiar: str, canonical: str
) -> None:
    ref = parse(text)
    assert ref == Reference(domain=domain, path=path, tag=tag, digest=digest)
    assert ref.familiar() == familiar
    assert ref.canonical() == canonical
    assert parse(ref.canonical()) == ref  # canonical form round-trips


@pytest.mark.unit
def test_no_default_tag_when_asked() -> None:
    assert parse("busybox", default_tag=False).tag is None
    assert parse("busybox", default_tag=False).familiar() == "busybox"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Busybox", "must be lowercase"),
        ("docker.io/User/app", "must be lowercase"),
        ("busybox:bad tag", "invalid tag"),
        ("busybox:-x", "invalid tag"),
        ("busybox:" + "t" * 129, "invalid tag"),
        ("busybox@sha256:abc", "digest"),
        ("busybox@sha256:" + "A" * 64, "digest"),
        ("a" * 64, "64-byte hexadecimal"),
        ("", "at least one component"),
        ("bad//path", "not a valid image name"),
        ("-leading", "not a valid image name"),
        ("x/" + "a" * 260, "255"),
        ("busy box", "not a valid image name"),
        ("a__b.c/x", "not a valid image name"),  # looks like a registry host, but '_' is not allowed
    ],
)
def test_invalid_references_rejected_clearly(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse(text)


@pytest.mark.unit
def test_parse_repository_combines_repo_and_tag() -> None:
    assert parse_repository("busybox").familiar() == "busybox:latest"
    assert parse_repository("busybox:1").familiar() == "busybox:1"
    assert parse_repository("busybox:1", "2").familiar() == "busybox:2"
    assert parse_repository("localhost:5000/a").familiar() == "localhost:5000/a:latest"
    with pytest.raises(InvalidArgument, match="digest"):
        parse_repository(f"busybox@{DIGEST}")
    with pytest.raises(InvalidArgument, match="invalid tag"):
        parse_repository("busybox", "no spaces")


@pytest.mark.unit
def test_full_ids_recognised() -> None:
    assert is_full_id("a" * 64) and is_full_id("sha256:" + "0" * 64)
    assert not is_full_id("a" * 63) and not is_full_id("busybox")
