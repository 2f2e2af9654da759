"""Image references, parsed and normalised the way the Docker CLI and daemon do it.

`busybox` means `docker.io/library/busybox:latest`; `localhost:5000/a/b:t` keeps its registry;
`name@sha256:<hex>` pins a digest. Users see the familiar form (`busybox:latest`) in RepoTags and
error messages; the store keys tags by the canonical form so that `busybox` and
`docker.io/library/busybox` are one name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from engine.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"

_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_SHA256_HEX_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Reference:
    """A normalised reference: `domain/path[:tag][@digest]`."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The canonical repository name, e.g. `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    def familiar_name(self) -> str:
        """The repository name as Docker shows it: `busybox`, `user/app`, `localhost:5000/a/b`."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        # Only official images drop `library/`; `library/a/b` stays as it is (Docker does the same).
        if path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in path[len(OFFICIAL_REPO_PREFIX) :]:
            return path[len(OFFICIAL_REPO_PREFIX) :]
        return path

    def familiar(self) -> str:
        """What Docker prints in RepoTags/RepoDigests: `busybox:latest`, `localhost:5000/a/b:t`."""
        return self._with_suffix(self.familiar_name())

    def canonical(self) -> str:
        """The fully qualified form: `docker.io/library/busybox:latest`."""
        return self._with_suffix(self.name)

    def with_tag(self, tag: str) -> Reference:
        validate_tag(tag)
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> Reference:
        validate_digest(digest)
        return replace(self, tag=None, digest=digest)

    def repository(self) -> Reference:
        """This reference without tag or digest."""
        return replace(self, tag=None, digest=None)

    def _with_suffix(self, name: str) -> str:
        if self.tag is not None:
            name = f"{name}:{self.tag}"
        if self.digest is not None:
            name = f"{name}@{self.digest}"
        return name

    def __str__(self) -> str:
        return self.familiar()


def validate_tag(tag: str) -> None:
    if not _TAG_RE.match(tag):
        raise InvalidArgument(
            f"invalid tag format: {tag!r} (a tag is up to 128 letters, digits, '_', '.' or '-',"
            " and cannot start with '.' or '-')"
        )


def validate_digest(digest: str) -> None:
    if not _DIGEST_RE.match(digest):
        raise InvalidArgument(f"invalid reference format: invalid digest {digest!r}")
    algorithm, _, hexpart = digest.partition(":")
    if algorithm == "sha256" and not _SHA256_HEX_RE.match(hexpart):
        raise InvalidArgument(f"invalid reference format: sha256 digest must be 64 lowercase hex: {digest!r}")


def is_full_id(text: str) -> bool:
    """True for a bare 64-hex string or `sha256:<64 hex>`: an image ID, never a name."""
    return bool(_SHA256_HEX_RE.match(text.removeprefix("sha256:")))


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise `text`.

    With `default_tag`, a reference with neither tag nor digest gets `latest`, as `docker pull`
    and `docker run` assume. Raises InvalidArgument with Docker's wording on bad input.
    """
    if not text:
        raise InvalidArgument("invalid reference format: repository name must have at least one component")
    if _SHA256_HEX_RE.match(text):
        raise InvalidArgument(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")

    name, at, digest = text.partition("@")
    tag: str | None = None
    # A ':' after the last '/' is a tag; one before it belongs to the registry's port.
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]

    domain, path = _split_domain(name)
    if path.lower() != path:
        raise InvalidArgument(f"invalid reference format: repository name ({path}) must be lowercase")
    if not _DOMAIN_RE.match(domain) or not _PATH_RE.match(path):
        raise InvalidArgument(f"invalid reference format: {text!r} is not a valid image name")
    if len(f"{domain}/{path}") > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(
            f"invalid reference format: repository name must not be longer than {NAME_TOTAL_LENGTH_MAX}"
            " characters"
        )
    if tag is not None and not _TAG_RE.match(tag):
        raise InvalidArgument(f"invalid reference format: invalid tag {tag!r} in {text!r}")
    if at:
        validate_digest(digest)
    ref = Reference(domain=domain, path=path, tag=tag, digest=digest if at else None)
    if default_tag and ref.tag is None and ref.digest is None:
        ref = replace(ref, tag=DEFAULT_TAG)
    return ref


def parse_repository(repo: str, tag: str | None = None) -> Reference:
    """Parse the `repo` and `tag` query parameters of import/tag/commit into a tagged reference.

    `repo` may carry its own tag (`busybox:1`); an explicit `tag` wins; the default is `latest`.
    A digest is refused: a tag never names a digest.
    """
    ref = parse(repo, default_tag=False)
    if ref.digest is not None:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    if tag:
        return ref.with_tag(tag)
    return ref if ref.tag is not None else ref.with_tag(DEFAULT_TAG)


def _split_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    # The first component is a registry only if it looks like a host: has '.', ':', is
    # `localhost`, or has uppercase letters (which a repository path cannot have).
    if not slash or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    return domain, path
