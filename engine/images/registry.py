"""A client for the OCI distribution API (what `docker pull`/`push` speak to a registry).

One `RegistryClient` serves one operation against one registry: it pings `/v2/` to pick the
scheme and learn the auth challenge, then answers 401s with Basic credentials or a Bearer token
fetched from the challenge's realm for the operation's scopes. Redirects are followed by hand so
that credentials only ever go to the registry's own origin (a blob redirect to a storage host
gets none), and foreign layer URLs taken from a manifest are fetched anonymously.

HTTPS verifies peers with the system's CAs. Insecure registries (loopback by default, as Docker
does, plus whatever `--insecure-registry` names) may use plain HTTP or unverified TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp

from engine.errors import EngineError, Forbidden, InvalidArgument, NotFound
from engine.images.auth import ANONYMOUS, Challenge, Credentials, parse_challenges
from engine.images.manifest import (
    ACCEPT,
    ALL_MANIFEST_TYPES,
    Index,
    InvalidManifest,
    Manifest,
    digest_of,
    parse_document,
)
from engine.images.reference import DEFAULT_DOMAIN

log = logging.getLogger(__name__)

DOCKER_HUB_API_HOST = "registry-1.docker.io"
MAX_REDIRECTS = 5
MAX_ERROR_BODY = 64 << 10
MAX_CONFIG_BYTES = 8 << 20
USER_AGENT = "berth/0.1 (docker-compatible; +aiohttp)"


class RegistryError(EngineError):
    """A registry refused or failed a request; the message carries its error codes."""

    status = 500


class RegistryUnauthorized(RegistryError):
    status = 401


class RegistryUnavailable(RegistryError):
    """The connection failed or the registry answered 5xx: worth retrying."""


def registry_error(status: int, message: str) -> EngineError:
    if status == 404:
        return NotFound(message)
    if status == 401:
        return RegistryUnauthorized(message)
    if status == 403:
        return Forbidden(message)
    if status >= 500 or status == 429:
        return RegistryUnavailable(message)
    return RegistryError(message)


@dataclass(frozen=True)
class RegistryConfig:
    """Which registries may be reached without verified TLS (`--insecure-registry`), and the mirrors
    that Docker Hub's images are pulled through first (`--registry-mirror`)."""

    insecure: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()  # "scheme://host[:port]/", as dockerd normalises them
    _networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default=(), repr=False)
    _hosts: frozenset[str] = field(default=frozenset(), repr=False)

    @classmethod
    def from_flags(cls, insecure: Iterable[str] = (), mirrors: Iterable[str] = ()) -> RegistryConfig:
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        hosts: set[str] = set()
        for item in insecure:
            item = item.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower())
        return cls(insecure=tuple(insecure), mirrors=tuple(dict.fromkeys(mirror_url(m) for m in mirrors)),
                   _networks=tuple(networks), _hosts=frozenset(hosts))

    def pull_endpoints(self, domain: str) -> list[str | None]:
        """Where an image of `domain` is pulled from, in order: Docker Hub's mirrors first, then the
        registry itself (None). Other registries have no mirrors, as with dockerd."""
        return [*(self.mirrors if domain == DEFAULT_DOMAIN else ()), None]

    def info(self) -> dict[str, Any]:
        """`docker info`'s RegistryConfig."""
        indexes: dict[str, Any] = {DEFAULT_DOMAIN: {"Name": DEFAULT_DOMAIN, "Mirrors": list(self.mirrors),
                                                    "Secure": True, "Official": True}}
        for host in sorted(self._hosts):
            indexes[host] = {"Name": host, "Mirrors": [], "Secure": False, "Official": False}
        cidrs = dict.fromkeys(["127.0.0.0/8", *(str(n) for n in self._networks)])
        return {"AllowNondistributableArtifactsCIDRs": None, "AllowNondistributableArtifactsHostnames": None,
                "InsecureRegistryCIDRs": list(cidrs), "IndexConfigs": indexes, "Mirrors": list(self.mirrors)}


    def is_insecure(self, host: str) -> bool:
        """`host` as in a reference (`localhost:5000`, `127.0.0.1:5000`, `[::1]:5000`)."""
        host = host.lower()
        if host in self._hosts:
            return True
        name = _host_without_port(host)
        if name in self._hosts or name == "localhost":
            return True
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return False
        return ip.is_loopback or any(ip in net for net in self._networks)


def mirror_url(text: str) -> str:
    """A `--registry-mirror` as dockerd's ValidateMirror takes one: http(s)://host[:port], nothing after."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgument(f"invalid mirror: unsupported scheme or address in {text!r}: give "
                              "http://host[:port] or https://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise InvalidArgument(f"invalid mirror: {text!r} has a path, query or credentials after the "
                              "address: give http(s)://host[:port] alone")
    return f"{parts.scheme}://{parts.netloc.lower()}/"


def _host_without_port(host: str) -> str:
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def api_host(domain: str) -> str:
    return DOCKER_HUB_API_HOST if domain == DEFAULT_DOMAIN else domain


def new_session() -> aiohttp.ClientSession:
    # sock_read bounds a stalled transfer; no total limit, since a layer may take long.
    timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_connect=30, sock_read=120)
    connector = aiohttp.TCPConnector(limit=16, ssl=ssl.create_default_context())
    return aiohttp.ClientSession(timeout=timeout, connector=connector, headers={"User-Agent": USER_AGENT},
                                 auto_decompress=False)


class RegistryClient:
    def __init__(self, session: aiohttp.ClientSession, domain: str, config: RegistryConfig,
                 credentials: Credentials = ANONYMOUS, scopes: Iterable[str] = (), mirror: str | None = None) -> None:
        """`mirror`: one of config.mirrors, spoken to in its own scheme, in place of `domain`'s registry."""
        self.session = session
        self.domain = domain
        self.host = api_host(domain) if mirror is None else urlsplit(mirror).netloc
        self.config = config
        self.mirror = mirror
        self.insecure = config.is_insecure(domain if mirror is None else self.host)
        self.credentials = credentials
        self.scopes: list[str] = list(dict.fromkeys(scopes))
        self.base: str | None = None  # scheme://host once pinged
        self._challenge: Challenge | None = None
        self._authorization: str | None = None
        self._lock = asyncio.Lock()

    # -- connection and auth ------------------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext | bool:
        return False if self.insecure else ssl.create_default_context()

    async def ping(self) -> None:
        """GET /v2/: picks https (or http, for an insecure registry) and records the challenge."""
        if self.base is not None:
            return
        schemes = ["https", "http"] if self.insecure else ["https"]
        if self.mirror is not None:
            schemes = [urlsplit(self.mirror).scheme]  # a mirror's address names its scheme
        last: Exception | None = None
        for scheme in schemes:
            url = f"{scheme}://{self.host}/v2/"
            try:
                async with self.session.get(url, ssl=self._ssl(), allow_redirects=False) as resp:
                    await resp.read()
                    if resp.status == 401:
                        self._challenge = _pick_challenge(resp.headers.getall("WWW-Authenticate", []))
                    elif resp.status >= 400 and resp.status != 404:
                        raise RegistryError(f"registry {self.domain} answered /v2/ with {resp.status}")
                    self.base = f"{scheme}://{self.host}"
                    return
            except (TimeoutError, aiohttp.ClientError, ssl.SSLError, OSError) as e:
                last = e
        # dockerd answers 500 here too (Get "https://.../v2/": dial tcp: ...): the registry, not the request, failed.
        where = self.domain if self.mirror is None else f"mirror {self.mirror}"
        raise RegistryError(f"cannot reach registry {where}: {_describe(last)}")

    def add_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            self.scopes.append(scope)
            self._authorization = None  # a token is only good for the scopes it was issued for

    async def _authorize(self, challenge: Challenge | None) -> None:
        """Work out the Authorization header for the current challenge and scopes."""
        if challenge is not None:
            self._challenge = challenge
        ch = self._challenge
        if ch is None:
            raise RegistryUnauthorized(f"{self.domain}: unauthorized, and the registry sent no challenge")
        if ch.scheme == "basic":
            if not (self.credentials.username or self.credentials.password):
                raise RegistryUnauthorized(f"{self.domain}: authentication required")
            self._authorization = self.credentials.basic_header()
        elif ch.scheme == "bearer":
            if self.credentials.registry_token:
                self._authorization = "Bearer " + self.credentials.registry_token
            else:
                self._authorization = "Bearer " + await self.fetch_token(ch, self.scopes)
        else:
            raise RegistryUnauthorized(f"{self.domain}: unsupported authentication scheme {ch.scheme!r}")

    async def fetch_token(self, challenge: Challenge, scopes: Iterable[str]) -> str:
        realm = challenge.params.get("realm", "")
        if urlsplit(realm).scheme not in ("http", "https"):
            raise RegistryUnauthorized(f"{self.domain}: bearer challenge has no usable realm ({realm!r})")
        service = challenge.params.get("service", "")
        scope_list = list(scopes)
        creds = self.credentials
        headers: dict[str, str] = {}
        if creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token, "service": service,
                    "client_id": "berth", "scope": " ".join(scope_list)}
            request = self.session.post(realm, data=form, ssl=self._realm_ssl(realm), allow_redirects=False)
        else:
            query: list[tuple[str, str]] = [("service", service)] if service else []
            query += [("scope", s) for s in scope_list]
            if creds.username:
                query.append(("account", creds.username))
                headers["Authorization"] = creds.basic_header()
            url = realm + ("&" if "?" in realm else "?") + urlencode(query)
            request = self.session.get(url, headers=headers, ssl=self._realm_ssl(realm), allow_redirects=False)
        try:
            async with request as resp:
                body = await _read_bounded(resp, MAX_ERROR_BODY, strict=False)
                if resp.status in (401, 403):
                    raise RegistryUnauthorized(f"{self.domain}: the token server refused the credentials "
                                               f"({resp.status})")
                if resp.status != 200:
                    raise RegistryError(f"{self.domain}: token server answered {resp.status}")
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise RegistryError(f"{self.domain}: cannot reach the token server: {_describe(e)}") from None
        try:
            data = json.loads(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{self.domain}: token server sent no token")
        return token

    def _realm_ssl(self, realm: str) -> ssl.SSLContext | bool:
        return False if self.config.is_insecure(urlsplit(realm).netloc) else ssl.create_default_context()

    async def login(self) -> None:
        """Check the credentials (POST /auth): Basic against /v2/, or a token from the realm."""
        await self.ping()
        if self._challenge is None:
            return  # an open registry accepts anyone
        if self._challenge.scheme == "bearer":
            if self.credentials.empty:
                raise RegistryUnauthorized(f"{self.domain}: no credentials given")
            await self.fetch_token(self._challenge, [])
            return
        await self._authorize(None)
        async with self.request("GET", "/v2/", retry_auth=False):
            pass

    # -- requests -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def request(self, method: str, path_or_url: str, *, headers: dict[str, str] | None = None,
                      data: Any = None, ok: Iterable[int] = (200,), retry_auth: bool = True,
                      follow: bool = True) -> AsyncIterator[aiohttp.ClientResponse]:
        """A request to the registry, authorised, redirects followed safely; raises on a status
        outside `ok` with the registry's own error message."""
        await self.ping()
        assert self.base is not None
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        ok_set = set(ok)
        for attempt in range(2):
            hdrs = dict(headers or {})
            if self._authorization:
                hdrs["Authorization"] = self._authorization
            resp = await self._send(method, url, hdrs, data, follow)
            try:
                if resp.status == 401 and retry_auth and attempt == 0 and not _replayed_body(data):
                    challenge = _pick_challenge(resp.headers.getall("WWW-Authenticate", []))
                    await resp.read()
                    resp.release()
                    async with self._lock:
                        await self._authorize(challenge)
                    continue
                if resp.status not in ok_set:
                    raise await self._error(resp, method, url)
                yield resp
                return
            finally:
                resp.release()
        raise RegistryUnauthorized(f"{self.domain}: unauthorized")

    async def _send(self, method: str, url: str, headers: dict[str, str], data: Any, follow: bool
                    ) -> aiohttp.ClientResponse:
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                verify = self._ssl() if _origin(url) == origin else ssl.create_default_context()
                resp = await self.session.request(method, url, headers=headers, data=data, ssl=verify,
                                                  allow_redirects=False)
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                raise RegistryUnavailable(f"{method} {_redact(url)}: {_describe(e)}") from e
            if not follow or resp.status not in (301, 302, 303, 307, 308) or "Location" not in resp.headers:
                return resp
            location = urljoin(url, resp.headers["Location"])
            resp.release()
            if urlsplit(location).scheme not in ("http", "https"):
                raise RegistryError(f"{self.domain}: redirect to an unsupported URL")
            if _origin(location) != origin:
                # Credentials belong to the registry; a storage backend gets none.
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if resp.status == 303:
                method, data = "GET", None
            url = location
        raise RegistryError(f"{self.domain}: too many redirects")

    async def _error(self, resp: aiohttp.ClientResponse, method: str, url: str) -> EngineError:
        body = await _read_bounded(resp, MAX_ERROR_BODY, strict=False)
        detail = ""
        try:
            errors = json.loads(body).get("errors") or []
            detail = "; ".join(f"{str(e.get('code', '')).lower()}: {e.get('message', '')}" for e in errors)
        except (ValueError, AttributeError):
            pass
        if not detail:
            detail = f"{resp.status} {resp.reason or ''}".strip()
        path = urlsplit(url).path
        return registry_error(resp.status, f"{method} {path} on {self.domain}: {detail}")

    # -- manifests ----------------------------------------------------------------------------

    async def get_manifest(self, repo: str, ref: str, expected: frozenset[str] = ALL_MANIFEST_TYPES
                           ) -> Manifest | Index:
        """Fetch a manifest or index by tag or digest, verified when a digest is known."""
        try:
            async with self.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}) as resp:
                data = await _read_bounded(resp, 4 << 20)
                content_type = resp.headers.get("Content-Type")
                header_digest = resp.headers.get("Docker-Content-Digest")
        except NotFound as e:
            raise NotFound(f"manifest for {self.domain}/{repo}:{ref} not found: {e.message}") from None
        doc = parse_document(data, content_type, expected)
        if ref.startswith("sha256:") and doc.digest != ref:
            raise InvalidManifest(f"manifest verification failed for digest {ref}: content hashes to {doc.digest}")
        if header_digest and header_digest.startswith("sha256:") and header_digest != doc.digest:
            raise InvalidManifest(f"registry says manifest {repo}:{ref} is {header_digest}, but it hashes to "
                                  f"{doc.digest}")
        return doc

    async def head_manifest(self, repo: str, ref: str) -> tuple[str, str, int] | None:
        """(media type, digest, size) of a manifest, or None if the registry does not say."""
        async with self.request("HEAD", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}) as resp:
            digest = resp.headers.get("Docker-Content-Digest", "")
            media_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
            size = int(resp.headers.get("Content-Length") or 0)
        if not digest.startswith("sha256:") or media_type not in ALL_MANIFEST_TYPES:
            return None
        return media_type, digest, size

    async def put_manifest(self, repo: str, ref: str, media_type: str, data: bytes) -> str:
        async with self.request("PUT", f"/v2/{repo}/manifests/{ref}", headers={"Content-Type": media_type},
                                data=data, ok=(200, 201, 202)) as resp:
            said = resp.headers.get("Docker-Content-Digest")
        digest = digest_of(data)
        if said and said != digest:
            raise RegistryError(f"{self.domain}: registry stored manifest as {said}, expected {digest}")
        return digest

    # -- blobs --------------------------------------------------------------------------------

    async def blob_exists(self, repo: str, digest: str) -> bool:
        try:
            async with self.request("HEAD", f"/v2/{repo}/blobs/{digest}"):
                return True
        except NotFound:
            return False

    async def get_blob_bytes(self, repo: str, digest: str, size: int) -> bytes:
        """A small blob (an image config), verified against its digest."""
        if size > MAX_CONFIG_BYTES:
            raise InvalidManifest(f"blob {digest} is too large to read whole ({size} bytes)")
        async with self.request("GET", f"/v2/{repo}/blobs/{digest}") as resp:
            data = await _read_bounded(resp, max(size, 1))
        if digest_of(data) != digest:
            raise InvalidManifest(f"blob {digest} failed verification: content hashes to {digest_of(data)}")
        return data

    @contextlib.asynccontextmanager
    async def open_blob(self, repo: str, digest: str, offset: int = 0) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET a blob, from `offset` with a Range request; the caller checks for 206 vs 200."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        async with self.request("GET", f"/v2/{repo}/blobs/{digest}", headers=headers, ok=(200, 206)) as resp:
            yield resp

    @contextlib.asynccontextmanager
    async def open_foreign(self, url: str, offset: int = 0) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET a URL taken from a manifest: anonymously, never with the registry's credentials."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise InvalidManifest(f"refusing foreign layer URL {_redact(url)}")
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            resp = await self.session.get(url, headers=headers, allow_redirects=True, max_redirects=MAX_REDIRECTS)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise RegistryUnavailable(f"GET {_redact(url)}: {_describe(e)}") from e
        try:
            if resp.status not in (200, 206):
                raise registry_error(resp.status, f"GET {_redact(url)}: {resp.status}")
            yield resp
        finally:
            resp.release()

    async def mount_blob(self, repo: str, digest: str, from_repo: str) -> str | None:
        """Cross-repository mount. None when mounted; else the upload URL the registry opened."""
        query = urlencode({"mount": digest, "from": from_repo})
        async with self.request("POST", f"/v2/{repo}/blobs/uploads/?{query}", ok=(201, 202)) as resp:
            if resp.status == 201:
                return None
            return self._location(resp)

    async def start_upload(self, repo: str) -> str:
        async with self.request("POST", f"/v2/{repo}/blobs/uploads/", ok=(202,)) as resp:
            return self._location(resp)

    async def upload_blob(self, location: str, digest: str, size: int, body: AsyncIterable[bytes]) -> None:
        """Stream a blob in one PATCH, then close the upload with PUT ?digest= (the registry verifies)."""
        async with self.request("PATCH", location, data=body, ok=(202, 204),
                                headers={"Content-Type": "application/octet-stream",
                                         "Content-Length": str(size)}) as resp:
            location = self._location(resp)
        sep = "&" if "?" in location else "?"
        async with self.request("PUT", f"{location}{sep}{urlencode({'digest': digest})}", ok=(201, 204),
                                headers={"Content-Length": "0"}):
            pass

    def _location(self, resp: aiohttp.ClientResponse) -> str:
        location = resp.headers.get("Location")
        if not location:
            raise RegistryError(f"{self.domain}: upload response has no Location")
        assert self.base is not None
        url = urljoin(str(resp.url), location)
        if _origin(url) != _origin(self.base):
            raise RegistryError(f"{self.domain}: upload location points at another host")
        return url


def _pick_challenge(headers: list[str]) -> Challenge | None:
    challenges = [c for h in headers for c in parse_challenges(h)]
    for scheme in ("bearer", "basic"):
        for c in challenges:
            if c.scheme == scheme:
                return c
    return None


def _replayed_body(data: Any) -> bool:
    """A streamed body cannot be sent twice, so a 401 on it is final (we authorise first)."""
    return data is not None and not isinstance(data, (bytes, str, dict))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _redact(url: str) -> str:
    """A URL fit for logs and errors: no query (signed URLs carry secrets there), no userinfo."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def _describe(e: BaseException | None) -> str:
    if e is None:
        return "unknown error"
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    if isinstance(e, aiohttp.ClientConnectorError):
        # aiohttp's own text carries the repr of its SSL context; a person wants host and cause.
        cause = e.os_error
        reason = os.strerror(cause.errno) if cause.errno and cause.errno > 0 else cause.strerror or str(cause)
        return f"dial {e.host}:{e.port}: {reason}"
    return str(e) or type(e).__name__


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int, strict: bool = True) -> bytes:
    """The body, up to `limit` bytes; more is an error (`strict`) or cut off."""
    parts: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(1 << 16):
        parts.append(chunk)
        total += len(chunk)
        if total > limit:
            if strict:
                raise InvalidManifest(f"response from {_redact(str(resp.url))} is larger than expected")
            break
    return b"".join(parts)[:limit]


__all__ = ["InvalidArgument", "RegistryClient", "RegistryConfig", "RegistryError", "RegistryUnauthorized",
           "RegistryUnavailable", "api_host", "new_session"]
