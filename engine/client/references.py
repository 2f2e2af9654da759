"""Image references as the API takes them; pure, so the CLI's quick paths need no aiohttp.

`name[:tag][@digest]`, where the name may start with a registry host and port
(`host:5000/a/b`): a tag is a colon after the last slash. A pull names the image with
`fromImage` and the tag *or digest* with `tag`, as the docker CLI sends it (its
`ImagePull`: the familiar name, then the digest if there is one, else the tag, else `latest`).
Every pull of Berth's (the client, the `berth` CLI, compose) goes through `parse_reference`.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TAG = "latest"
# docker.io's names as a person writes them: "docker.io/library/busybox" is "busybox".
_HUB_PREFIXES = ("docker.io/", "index.docker.io/")
_OFFICIAL = "library/"


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A reference split once: `name` (registry, port and path, without tag or digest), `tag` and
    `digest` ("" when not written)."""

    name: str
    tag: str = ""
    digest: str = ""

    @property
    def familiar_name(self) -> str:
        """The name as the docker CLI sends it: Docker Hub's prefixes left out."""
        name = self.name
        for prefix in _HUB_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix):]
                if name.startswith(_OFFICIAL) and "/" not in name[len(_OFFICIAL):]:
                    name = name[len(_OFFICIAL):]
                break
        return name

    @property
    def api_tag(self) -> str:
        """The `tag` a pull sends: the digest when there is one (it names the content; a tag beside it
        is only a comment), else the tag, else `latest`."""
        return self.digest or self.tag or DEFAULT_TAG

    def pull_params(self) -> dict[str, str]:
        """`POST /images/create`'s `fromImage` and `tag` for pulling this reference."""
        return {"fromImage": self.familiar_name, "tag": self.api_tag}

    def __str__(self) -> str:
        text = f"{self.name}:{self.tag}" if self.tag else self.name
        return f"{text}@{self.digest}" if self.digest else text


def parse_reference(reference: str) -> ImageReference:
    """`busybox@sha256:…` -> (busybox, "", sha256:…); `host:5000/a/b:tag` -> (host:5000/a/b, tag, "");
    `a/b:tag@sha256:…` -> (a/b, tag, sha256:…). Nothing is validated: the engine says what is wrong."""
    rest, _, digest = reference.partition("@")
    colon = rest.rfind(":")
    if colon > rest.rfind("/") and colon > 0:
        return ImageReference(rest[:colon], rest[colon + 1:], digest)
    return ImageReference(rest, "", digest)


def split_reference(reference: str) -> tuple[str, str]:
    """(name, tag) for the calls that take no digest (tag, push, import): "registry:5000/a/b:tag" ->
    ("registry:5000/a/b", "tag"). A reference with a digest is left whole, for the engine to refuse."""
    ref = parse_reference(reference)
    if ref.digest:
        return reference, ""
    return ref.name, ref.tag
