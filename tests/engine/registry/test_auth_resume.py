"""Registry authentication (htpasswd Basic, token Bearer) and resumed layer downloads.

The token server and the flaky proxy are written here, on loopback: the token server signs JWTs
the way distribution's token auth expects (x5c header, a cert the registry trusts); the proxy sits
in front of a real registry and cuts the first blob response mid-body.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from engine.errors import NotFound
from engine.images.auth import Credentials
from engine.images.registry import RegistryUnauthorized
from engine.images.service import ImageService
from tests.engine.registry.conftest import Progress, run
from tests.support.registry import Registry, htpasswd_file, running_registry

pytestmark = pytest.mark.integration

USER, PASSWORD = "berth", "s3cret-pass"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- Basic -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    base = tmp_path_factory.mktemp("basic-registry")
    with running_registry(base, htpasswd=htpasswd_file(base / "htpasswd", USER, PASSWORD)) as reg:
        yield reg


def test_basic_auth_login_push_and_pull(basic_registry: Registry, service: ImageService, busybox_id: str,
                                        make_service: Callable[[str], ImageService]) -> None:
    good = Credentials(username=USER, password=PASSWORD, server_address=basic_registry.host)
    bad = Credentials(username=USER, password="wrong", server_address=basic_registry.host)
    assert run(service.login(good))["Status"] == "Login Succeeded"
    with pytest.raises(RegistryUnauthorized):
        run(service.login(bad))

    name = f"{basic_registry.host}/private/busybox"
    service.tag(busybox_id, name, "latest")
    with pytest.raises(RegistryUnauthorized):
        run(service.push(name, "latest"))  # anonymous
    run(service.push(name, "latest", good))
    other = make_service("other")
    with pytest.raises(RegistryUnauthorized):
        run(other.pull(name, "latest", credentials=bad))
    assert run(other.pull(name, "latest", credentials=good)).image_id == busybox_id
    assert repr(good).find(PASSWORD) == -1  # credentials never end up in reprs (logs)


# -- Bearer ----------------------------------------------------------------------------------------


class TokenIssuer:
    """Signs registry tokens (RS256, x5c) for whatever scopes are asked, after a Basic check."""

    def __init__(self, base: Path, service: str, issuer: str) -> None:
        self.service = service
        self.issuer = issuer
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(hours=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = base / "token.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[dict[str, Any]] = []

    def token(self, scopes: list[str], subject: str) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT",
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                auth = self.headers.get("Authorization", "")
                user = ""
                if auth.startswith("Basic "):
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                    if (user, password) != (USER, PASSWORD):
                        self.send_response(401)
                        self.end_headers()
                        return
                issuer.requests.append({"scope": query.get("scope", []), "service": query.get("service", []),
                                        "user": user})
                if not user:
                    self.send_response(401)  # this registry has no anonymous access
                    self.end_headers()
                    return
                body = json.dumps({"token": issuer.token(query.get("scope", []), user), "expires_in": 300})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

        return Handler


def test_bearer_token_flow(tmp_path: Path, serve: Callable[..., str], service: ImageService, busybox_id: str,
                           make_service: Callable[[str], ImageService]) -> None:
    issuer = TokenIssuer(tmp_path, "berth-test-registry", "berth-test-issuer")
    token_host = serve(issuer.handler())
    with running_registry(tmp_path / "registry", token_realm=f"http://{token_host}/token",
                          token_cert=issuer.cert_path, service=issuer.service, issuer=issuer.issuer) as reg:
        creds = Credentials(username=USER, password=PASSWORD, server_address=reg.host)
        assert run(service.login(creds))["Status"] == "Login Succeeded"
        with pytest.raises(RegistryUnauthorized):
            run(service.login(Credentials(username=USER, password="nope", server_address=reg.host)))

        name = f"{reg.host}/team/busybox"
        service.tag(busybox_id, name, "1")
        run(service.push(name, "1", creds))
        assert ["repository:team/busybox:pull,push"] in [r["scope"] for r in issuer.requests]
        assert all(r["service"] == ["berth-test-registry"] for r in issuer.requests)

        other = make_service("other")
        progress = Progress()
        assert run(other.pull(name, "1", credentials=creds, sink=progress)).image_id == busybox_id
        assert issuer.requests[-1]["scope"] == ["repository:team/busybox:pull"]
        assert progress.statuses()[-1].startswith("Status: Downloaded newer image")
        with pytest.raises((RegistryUnauthorized, NotFound)):
            run(make_service("third").pull(name, "1"))  # anonymous: the token server refuses


# -- resume ----------------------------------------------------------------------------------------


def flaky_proxy(upstream: str, log: list[dict[str, str]]) -> type[http.server.BaseHTTPRequestHandler]:
    """Forwards to `upstream`; the first full GET of each blob is cut off halfway."""
    cut: set[str] = set()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def forward(self, method: str) -> None:
            conn = http.client.HTTPConnection(upstream, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range", "authorization")}
            conn.request(method, self.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            is_blob = "/blobs/sha256:" in self.path and method == "GET"
            log.append({"path": self.path, "range": self.headers.get("Range", ""), "status": str(resp.status)})
            with lock:
                truncate = is_blob and resp.status == 200 and len(body) > 1024 and self.path not in cut
                if truncate:
                    cut.add(self.path)
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in ("connection", "transfer-encoding", "date", "server"):
                    self.send_header(key, value)
            if truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            if method == "HEAD":
                return
            if truncate:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.forward("GET")

        def do_HEAD(self) -> None:
            self.forward("HEAD")

    return Handler


def test_interrupted_layer_download_resumes_with_range(
        registry: Registry, serve: Callable[..., str], service: ImageService, busybox_id: str,
        make_service: Callable[[str], ImageService]) -> None:
    service.tag(busybox_id, f"{registry.host}/resume/busybox", "latest")
    run(service.push(f"{registry.host}/resume/busybox", "latest"))
    log: list[dict[str, str]] = []
    proxy = serve(flaky_proxy(registry.host, log))

    other = make_service("other")
    progress = Progress()
    result = run(other.pull(f"{proxy}/resume/busybox", "latest", sink=progress))
    assert result.image_id == busybox_id
    blob_requests = [r for r in log if "/blobs/sha256:" in r["path"] and r["path"].endswith(result.image_id) is False]
    layer = [r for r in blob_requests if r["range"] or r["status"] == "200"]
    assert layer[0]["range"] == "" and layer[0]["status"] == "200"
    resumed = [r for r in layer if r["range"]]
    assert resumed, log
    assert resumed[0]["range"].startswith("bytes=") and resumed[0]["range"] != "bytes=0-"
    assert resumed[0]["status"] == "206"
    assert any(s.startswith("Retrying in") for s in progress.statuses())
    assert (other.layer_dirs(result.image_id)[0] / "bin" / "busybox").is_file()
