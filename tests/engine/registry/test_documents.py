"""Manifest parsing (the CVE-2021-41190 class), platform choice, credentials and challenges."""

from __future__ import annotations

import base64
import json

import pytest

from engine.errors import InvalidArgument, NotFound
from engine.images.auth import Credentials, decode_registry_auth, parse_challenges
from engine.images.manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Index,
    InvalidManifest,
    Manifest,
    parse_document,
    select_platform,
)
from engine.images.platform import Platform
from engine.images.registry import RegistryConfig
from engine.images.service import registry_domain

pytestmark = pytest.mark.unit

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def manifest(media_type: str | None = DOCKER_MANIFEST, **extra: object) -> bytes:
    doc: dict[str, object] = {"schemaVersion": 2,
                              "config": {"mediaType": DOCKER_CONFIG, "digest": D1, "size": 10},
                              "layers": [{"mediaType": DOCKER_LAYER_GZIP, "digest": D2, "size": 20}]}
    if media_type is not None:
        doc["mediaType"] = media_type
    doc.update(extra)
    return json.dumps(doc).encode()


def index(media_type: str | None = OCI_INDEX, entries: list[dict[str, object]] | None = None) -> bytes:
    doc: dict[str, object] = {"schemaVersion": 2, "manifests": entries or []}
    if media_type is not None:
        doc["mediaType"] = media_type
    return json.dumps(doc).encode()


def entry(arch: str, variant: str | None = None, digest: str = D1, media_type: str = OCI_MANIFEST) -> dict[str, object]:
    platform = {"os": "linux", "architecture": arch} | ({"variant": variant} if variant else {})
    return {"mediaType": media_type, "digest": digest, "size": 100, "platform": platform}


def test_a_manifest_parses_with_its_digest() -> None:
    doc = parse_document(manifest(), DOCKER_MANIFEST)
    assert isinstance(doc, Manifest)
    assert doc.config.digest == D1 and [d.digest for d in doc.layers] == [D2]
    assert doc.digest.startswith("sha256:") and len(doc.digest) == 71


def test_a_document_with_both_manifests_and_layers_is_refused() -> None:
    with pytest.raises(InvalidManifest, match="ambiguous"):
        parse_document(manifest(manifests=[]), DOCKER_MANIFEST)
    with pytest.raises(InvalidManifest, match="ambiguous"):
        parse_document(manifest(None, manifests=[]), "application/json")


def test_content_type_contradicting_the_body_is_refused() -> None:
    with pytest.raises(InvalidManifest, match="mismatch"):
        parse_document(manifest(DOCKER_MANIFEST), OCI_INDEX)
    with pytest.raises(InvalidManifest, match="mismatch"):
        parse_document(index(OCI_INDEX), DOCKER_MANIFEST_LIST)


def test_a_document_of_another_type_than_asked_for_is_refused() -> None:
    # An index entry promised an image manifest; an index came back.
    with pytest.raises(InvalidManifest, match="unexpected"):
        parse_document(index(OCI_INDEX, [entry("amd64")]), OCI_INDEX, frozenset({OCI_MANIFEST}))
    # A manifest whose type says index but whose body is a manifest: refused.
    with pytest.raises(InvalidManifest):
        parse_document(manifest(OCI_INDEX), None)


def test_without_media_type_only_the_structure_decides() -> None:
    assert isinstance(parse_document(index(None, [entry("amd64")]), None), Index)
    assert parse_document(manifest(None), "application/json").media_type == OCI_MANIFEST


@pytest.mark.parametrize("bad", [
    b"[]", b"not json", json.dumps({"schemaVersion": 1}).encode(),
    manifest(config={"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": D1, "size": 1}),
    manifest(layers=[{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": D2, "size": 1}]),
    manifest(layers=[{"mediaType": DOCKER_LAYER_GZIP, "digest": "md5:abc", "size": 1}]),
    manifest(layers=[{"mediaType": DOCKER_LAYER_GZIP, "digest": D2, "size": -1}]),
])
def test_malformed_or_unsupported_documents_are_refused(bad: bytes) -> None:
    with pytest.raises(InvalidManifest):
        parse_document(bad, None)


def test_platform_selection() -> None:
    doc = parse_document(index(OCI_INDEX, [
        entry("arm", "v6", "sha256:" + "6" * 64), entry("arm", "v7", "sha256:" + "7" * 64),
        entry("amd64", None, "sha256:" + "a" * 64), entry("arm64", "v8", "sha256:" + "8" * 64),
        {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "f" * 64, "size": 1,
         "platform": {"os": "unknown", "architecture": "unknown"}},
    ]), OCI_INDEX)
    assert isinstance(doc, Index)
    assert select_platform(doc, Platform("linux", "amd64")).digest == "sha256:" + "a" * 64
    assert select_platform(doc, Platform("linux", "arm", "v6")).digest == "sha256:" + "6" * 64
    assert select_platform(doc, Platform("linux", "arm")).digest == "sha256:" + "7" * 64
    assert select_platform(doc, Platform("linux", "arm64")).digest == "sha256:" + "8" * 64
    with pytest.raises(NotFound, match="no matching manifest for linux/s390x"):
        select_platform(doc, Platform("linux", "s390x"))


def test_x_registry_auth_decoding() -> None:
    raw = json.dumps({"username": "u", "password": "p@ss", "serveraddress": "localhost:5000"}).encode()
    creds = decode_registry_auth(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert (creds.username, creds.password, creds.server_address) == ("u", "p@ss", "localhost:5000")
    assert "p@ss" not in repr(creds)
    assert decode_registry_auth(None).empty
    assert decode_registry_auth("e30=").empty  # "{}", what the CLI sends without a login
    with pytest.raises(InvalidArgument):
        decode_registry_auth("!!!not-base64")
    both = Credentials(username="a", password="b")
    assert both.basic_header() == "Basic " + base64.b64encode(b"a:b").decode()


def test_challenge_parsing() -> None:
    [bearer] = parse_challenges('Bearer realm="https://auth.example/token",service="reg",'
                                'scope="repository:a/b:pull,push"')
    assert bearer.scheme == "bearer"
    assert bearer.params == {"realm": "https://auth.example/token", "service": "reg",
                             "scope": "repository:a/b:pull,push"}
    [basic] = parse_challenges('Basic realm="Registry Realm"')
    assert basic.scheme == "basic" and basic.params == {"realm": "Registry Realm"}


def test_insecure_registries() -> None:
    config = RegistryConfig.from_flags(["10.0.0.0/8", "myregistry:5000"])
    for host in ("localhost:5000", "127.0.0.1:5000", "127.3.4.5", "[::1]:5000", "10.1.2.3:443", "myregistry:5000"):
        assert config.is_insecure(host), host
    for host in ("docker.io", "192.168.1.1:5000", "myregistry:5001", "example.com"):
        assert not config.is_insecure(host), host


def test_registry_mirrors_as_dockerd_takes_them() -> None:
    config = RegistryConfig.from_flags(["10.0.0.0/8", "myregistry:5000"],
                                       ["http://127.0.0.1:5000", "https://Mirror.Example.com/", "http://127.0.0.1:5000/"])
    assert config.mirrors == ("http://127.0.0.1:5000/", "https://mirror.example.com/")
    # Docker Hub's images go through the mirrors first, then Docker Hub; other registries have none.
    assert config.pull_endpoints("docker.io") == ["http://127.0.0.1:5000/", "https://mirror.example.com/", None]
    assert config.pull_endpoints("myregistry:5000") == [None]
    info = config.info()
    assert info["Mirrors"] == ["http://127.0.0.1:5000/", "https://mirror.example.com/"]
    assert info["IndexConfigs"]["docker.io"] == {"Name": "docker.io", "Mirrors": info["Mirrors"], "Secure": True,
                                                  "Official": True}
    assert info["IndexConfigs"]["myregistry:5000"]["Secure"] is False
    assert info["InsecureRegistryCIDRs"] == ["127.0.0.0/8", "10.0.0.0/8"]
    for bad, says in (("127.0.0.1:5000", "unsupported scheme"), ("ftp://m", "unsupported scheme"),
                      ("http://m/v2", "has a path"), ("https://u:p@m", "credentials")):
        with pytest.raises(InvalidArgument, match=says):
            RegistryConfig.from_flags(mirrors=[bad])


def test_registry_domain_of_login_addresses() -> None:
    assert registry_domain("https://index.docker.io/v1/") == "docker.io"
    assert registry_domain("") == "docker.io"
    assert registry_domain("http://127.0.0.1:5000/") == "127.0.0.1:5000"
    assert registry_domain("localhost:5000") == "localhost:5000"
