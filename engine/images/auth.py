"""Registry credentials and authentication challenges.

Credentials arrive with each request in the `X-Registry-Auth` header (base64url JSON, as the
docker CLI sends it) and live only for that request: berthd stores none. They are never logged
(`Credentials.__repr__` hides them) and only ever sent to the registry's own host or to the
token realm its challenge names.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

from engine.errors import InvalidArgument


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)  # an OAuth refresh token from a previous login
    registry_token: str = field(default="", repr=False)  # a bearer token to use as is
    server_address: str = ""

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


ANONYMOUS = Credentials()


def decode_registry_auth(header: str | None) -> Credentials:
    """The X-Registry-Auth header: base64url (padding optional) of a JSON AuthConfig."""
    if not header:
        return ANONYMOUS
    text = header.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        obj = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidArgument("invalid X-Registry-Auth header: expected base64url-encoded JSON") from None
    if not isinstance(obj, dict):
        raise InvalidArgument("invalid X-Registry-Auth header: expected a JSON object")
    return credentials_from_json(obj)


def credentials_from_json(obj: dict[str, object]) -> Credentials:
    """An AuthConfig object (the /auth body and the decoded X-Registry-Auth)."""

    def text(*keys: str) -> str:
        for key in keys:
            value = obj.get(key)
            if isinstance(value, str) and value:
                return value
        return ""

    username, password = text("username", "Username"), text("password", "Password")
    encoded = text("auth", "Auth")
    if encoded and not username:
        # Some clients send only `auth`: base64 of "user:password", as in config.json.
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidArgument("invalid auth field in registry credentials") from None
    return Credentials(
        username=username,
        password=password,
        identity_token=text("identitytoken", "IdentityToken"),
        registry_token=text("registrytoken", "RegistryToken"),
        server_address=text("serveraddress", "ServerAddress"),
    )


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer" or "basic"
    params: dict[str, str]


_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*,?')


def parse_challenges(header: str) -> list[Challenge]:
    """`WWW-Authenticate: Bearer realm="...",service="...",scope="..."` (one or more challenges)."""
    challenges: list[Challenge] = []
    rest = header.strip()
    while rest:
        scheme, _, rest = rest.partition(" ")
        scheme = scheme.strip().strip(",")
        params: dict[str, str] = {}
        while rest:
            m = _PARAM_RE.match(rest)
            if m is None:
                break
            # A token followed by a space, not '=', starts the next challenge.
            key, value = m.group(1), m.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[key.lower()] = value
            rest = rest[m.end():]
        if scheme:
            challenges.append(Challenge(scheme=scheme.lower(), params=params))
        rest = rest.strip()
    return challenges


def repository_scope(path: str, actions: str) -> str:
    """A token scope: `repository:library/busybox:pull` (actions `pull` or `pull,push`)."""
    return f"repository:{path}:{actions}"
