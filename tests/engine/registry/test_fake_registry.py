"""A scripted registry on loopback: what a hostile or unusual registry can and cannot make us do."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import tarfile
from collections.abc import Callable
from typing import Any

import pytest

from engine.images.auth import Credentials
from engine.images.manifest import DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_INDEX, InvalidManifest
from engine.images.service import ImageService
from tests.engine.registry.conftest import run

pytestmark = pytest.mark.integration


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tiny_image() -> tuple[bytes, bytes, bytes]:
    """(manifest, config, gzipped layer) of a one-file image."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    raw = buf.getvalue()
    layer = gzip.compress(raw, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello"]},
                         "rootfs": {"type": "layers", "diff_ids": [digest(raw)]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                           "config": {"mediaType": DOCKER_CONFIG, "digest": digest(config), "size": len(config)},
                           "layers": [{"mediaType": DOCKER_LAYER_GZIP, "digest": digest(layer),
                                       "size": len(layer)}]}).encode()
    return manifest, config, layer


def registry_handler(seen: list[dict[str, str]], manifest_type: str, storage: str | None
                     ) -> type[http.server.BaseHTTPRequestHandler]:
    """Basic auth required; blobs redirect to `storage` (another origin) when given."""
    manifest, config, layer = tiny_image()
    blobs = {digest(config): config, digest(layer): layer}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            seen.append({"host": "registry", "path": self.path, "auth": self.headers.get("Authorization", "")})
            if not self.headers.get("Authorization", "").startswith("Basic "):
                self.reply(401, b"{}", {"WWW-Authenticate": 'Basic realm="fake"'})
            elif self.path == "/v2/":
                self.reply(200, b"{}")
            elif "/manifests/" in self.path:
                self.reply(200, manifest, {"Content-Type": manifest_type})
            elif "/blobs/" in self.path:
                wanted = self.path.rsplit("/", 1)[1]
                if storage is not None and wanted == digest(layer):
                    self.reply(307, b"", {"Location": f"http://{storage}/bucket/{wanted}?X-Signature=secret"})
                else:
                    self.reply(200, blobs[wanted])
            else:
                self.reply(404)

    return Handler


def storage_handler(seen: list[dict[str, str]]) -> type[http.server.BaseHTTPRequestHandler]:
    _, _, layer = tiny_image()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen.append({"host": "storage", "path": self.path, "auth": self.headers.get("Authorization", "")})
            self.send_response(200)
            self.send_header("Content-Length", str(len(layer)))
            self.end_headers()
            self.wfile.write(layer)

    return Handler


CREDS = Credentials(username="user", password="hunter2")


def test_credentials_are_not_sent_to_a_redirect_target(serve: Callable[..., str], service: ImageService) -> None:
    seen: list[dict[str, str]] = []
    storage = serve(storage_handler(seen)).replace("127.0.0.1", "localhost")  # another origin
    host = serve(registry_handler(seen, DOCKER_MANIFEST, storage))
    result = run(service.pull(f"{host}/fake/app", "1", credentials=CREDS))
    assert (service.layer_dirs(result.image_id)[0] / "hello.txt").read_bytes() == b"hello\n"
    to_storage = [s for s in seen if s["host"] == "storage"]
    assert len(to_storage) == 1 and to_storage[0]["auth"] == ""
    assert any(s["auth"].startswith("Basic ") for s in seen if s["host"] == "registry")


def test_a_manifest_served_under_another_media_type_is_refused(serve: Callable[..., str],
                                                               service: ImageService) -> None:
    seen: list[dict[str, str]] = []
    host = serve(registry_handler(seen, OCI_INDEX, None))
    with pytest.raises(InvalidManifest, match="mismatch"):
        run(service.pull(f"{host}/fake/app", "1", credentials=CREDS))
    assert service.list() == []
