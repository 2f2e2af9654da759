from __future__ import annotations

import json
from pathlib import Path

import pytest

from vmhost.image import GuestImage, apt_mirror, find_image, recipe_key

pytestmark = pytest.mark.unit


def test_recipe_key_is_stable_and_short() -> None:
    assert recipe_key() == recipe_key()
    assert len(recipe_key()) == 16


def test_find_image_takes_the_newest_complete_one(tmp_path: Path) -> None:
    assert find_image(tmp_path) is None
    (tmp_path / "debs").mkdir()  # the package cache is not an image
    old = tmp_path / "0123456789abcdef"
    old.mkdir()
    for name in ("vmlinuz", "initrd.img", "rootfs.qcow2"):
        (old / name).write_bytes(b"x")
    assert find_image(tmp_path) is None  # no manifest: an interrupted build
    (old / "manifest.json").write_text(json.dumps({"key": old.name}))
    found = find_image(tmp_path)
    assert found == GuestImage(old) and found.size_bytes() == 3


def test_mirror_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTH_DEBIAN_MIRROR", "http://mirror.invalid/debian")
    assert apt_mirror() == "http://mirror.invalid/debian"
