"""Parsing -v, --mount and --tmpfs: every malformed value is refused with a message that says why."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from engine.errors import InvalidArgument
from engine.volumes.specs import (
    MountSpec,
    config_volumes,
    explicit_mounts,
    parse_bind,
    parse_mount,
    parse_tmpfs,
    with_volumes,
)

pytestmark = pytest.mark.unit


def container_specs(config: dict[str, Any], host_config: dict[str, Any],
                    image_volumes: Iterable[str] = ()) -> list[MountSpec]:
    """Every mount a create request asks for, checked, with no two on one destination."""
    return with_volumes(explicit_mounts(host_config), config_volumes(config), image_volumes)


def test_bind_forms() -> None:
    b = parse_bind("/host/dir/:/data/:ro,rslave")
    assert (b.type, b.source, b.target, b.read_only, b.propagation) == ("bind", "/host/dir", "/data", True, "rslave")
    v = parse_bind("cache:/var/cache:nocopy")
    assert (v.type, v.source, v.nocopy, v.read_only) == ("volume", "cache", True, False)
    anon = parse_bind("/scratch")
    assert anon.type == "volume" and anon.anonymous and anon.target == "/scratch"


@pytest.mark.parametrize(("raw", "message"), [
    ("a:/b:ro:extra", "too many colons"),
    (":/x", r"the source \(before the first colon\) is empty"),
    ("vol:rel/path", "must be absolute"),
    ("vol:/", "cannot be '/'"),
    ("vol:/x:rx", "unknown option 'rx'"),
    ("vol:/x:ro,rw", "more than one rw option"),
    ("/h:/x:nocopy", "nocopy applies to volumes"),
    ("vol:/x:shared", "applies to bind mounts"),
    ("./rel:/x", "not a valid volume name"),
    ("a:/x", "not a valid volume name"),
    ("/h:ro", "needs a source too"),
])
def test_bad_binds(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_bind(raw)


def test_mount_objects() -> None:
    m = parse_mount({"Type": "bind", "Source": "/h", "Target": "/t", "ReadOnly": True,
                     "BindOptions": {"Propagation": "rshared"}})
    assert (m.type, m.read_only, m.propagation) == ("bind", True, "rshared")
    v = parse_mount({"Type": "volume", "Target": "/t", "VolumeOptions": {
        "NoCopy": True, "Labels": {"a": "b"}, "DriverConfig": {"Options": {"type": "tmpfs"}}}})
    assert v.anonymous and v.nocopy and v.labels == {"a": "b"} and v.driver_options == {"type": "tmpfs"}
    t = parse_mount({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024, "Mode": 0o1777}})
    assert t.tmpfs_options == ["size=1024", "mode=1777"]


@pytest.mark.parametrize(("mount", "message"), [
    ({"Type": "npipe", "Target": "/x"}, "not supported"),
    ({"Type": "bind", "Target": "/x"}, "field Source must not be empty"),
    ({"Type": "bind", "Source": "rel", "Target": "/x"}, "must be absolute"),
    ({"Type": "bind", "Source": "/h"}, "field Target must not be empty"),
    ({"Type": "tmpfs", "Source": "/h", "Target": "/x"}, "field Source must not be specified"),
    ({"Type": "bind", "Source": "/h", "Target": "/x", "VolumeOptions": {"NoCopy": True}},
     "field VolumeOptions must not be specified"),
    ({"Type": "bind", "Source": "/h", "Target": "/x", "BindOptions": {"Propagation": "sideways"}},
     "unknown propagation"),
    ({"Type": "volume", "Target": "/x", "VolumeOptions": {"DriverConfig": {"Name": "nfs"}}}, "not available"),
    ("type=bind", "must be a JSON object"),
])
def test_bad_mounts(mount: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_mount(mount)


def test_tmpfs_options() -> None:
    t = parse_tmpfs("/run", "rw,size=64m,mode=1777,noexec,uid=1000")
    assert t.tmpfs_options == ["size=64m", "mode=1777", "noexec", "uid=1000"]
    assert parse_tmpfs("/ro", "ro").read_only
    for options, message in (("size=lots", "is not a size"), ("mode=999", "octal"), ("bogus", "unknown option"),
                             ("color=red", "unknown option"), ("uid=me", "is not a number")):
        with pytest.raises(InvalidArgument, match=message):
            parse_tmpfs("/x", options)


def test_duplicates_and_image_volumes_yield() -> None:
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /data"):
        container_specs({}, {"Binds": ["a1:/data"], "Tmpfs": {"/data/": ""}})
    specs = container_specs({"Volumes": {"/cfg": {}}}, {"Binds": ["named:/data"]}, ["/data", "/logs"])
    assert [(s.target, s.source, s.origin) for s in specs] == [
        ("/data", "named", "binds"), ("/cfg", "", "config"), ("/logs", "", "image")]
    with pytest.raises(InvalidArgument, match="Binds must be a list"):
        container_specs({}, {"Binds": "/a:/b"})
