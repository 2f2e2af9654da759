"""Image references split as the docker CLI splits them for the API (its `ImagePull`: `fromImage` is
the familiar name, `tag` the digest if there is one, else the tag, else `latest`)."""

from __future__ import annotations

import pytest

from engine.client.references import ImageReference, parse_reference, split_reference

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("busybox", ImageReference("busybox")),
        ("busybox:1.36", ImageReference("busybox", "1.36")),
        (f"busybox@{DIGEST}", ImageReference("busybox", "", DIGEST)),
        ("host:5000/a/b:tag", ImageReference("host:5000/a/b", "tag")),
        ("host:5000/a/b", ImageReference("host:5000/a/b")),
        (f"a/b:tag@{DIGEST}", ImageReference("a/b", "tag", DIGEST)),
        (f"localhost:5000/x@{DIGEST}", ImageReference("localhost:5000/x", "", DIGEST)),
        ("host:5000", ImageReference("host", "5000")),  # no slash: the colon is a tag's, as docker reads it
    ],
)
def test_parse(reference: str, parsed: ImageReference) -> None:
    assert parse_reference(reference) == parsed
    assert str(parsed) == reference


@pytest.mark.parametrize(
    ("reference", "from_image", "tag"),
    [
        # What `docker pull <reference>` sends as POST /images/create?fromImage=...&tag=...
        ("busybox", "busybox", "latest"),
        ("busybox:1.36", "busybox", "1.36"),
        (f"busybox@{DIGEST}", "busybox", DIGEST),
        ("host:5000/a/b:tag", "host:5000/a/b", "tag"),
        ("host:5000/a/b", "host:5000/a/b", "latest"),
        (f"a/b:tag@{DIGEST}", "a/b", DIGEST),  # the digest wins; the tag beside it is not sent
        ("docker.io/library/busybox:1", "busybox", "1"),
        ("docker.io/user/app", "user/app", "latest"),
        ("index.docker.io/library/busybox", "busybox", "latest"),
        ("docker.io/library/a/b", "library/a/b", "latest"),
    ],
)
def test_pull_params_are_dockers(reference: str, from_image: str, tag: str) -> None:
    assert parse_reference(reference).pull_params() == {"fromImage": from_image, "tag": tag}


def test_split_reference_leaves_a_digest_reference_whole() -> None:
    # Tag, push and import take no digest: the engine refuses it in its own words.
    assert split_reference("registry:5000/a/b:tag") == ("registry:5000/a/b", "tag")
    assert split_reference("registry:5000/a/b") == ("registry:5000/a/b", "")
    assert split_reference(f"a/b:tag@{DIGEST}") == (f"a/b:tag@{DIGEST}", "")
