"""Volume Browse goes into sub-folders (double-click or Enter on a folder) and back up (the path
bar's Up, or a path typed), reading each folder through Berth's /files (issue 22)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from PySide6.QtCore import Qt

from engine.client import EngineClient, EngineClientError

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def _names(page: Any) -> list[str]:
    return [page.files.item(i).text().split()[-1] for i in range(1, page.files.count())]


def _row(page: Any, name: str) -> Any:
    return next(page.files.item(i) for i in range(1, page.files.count())
                if page.files.item(i).text().split()[-1] == name)


def test_browse_opens_sub_folders_and_goes_up(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Any, run_async: Any,
) -> None:
    engine = EngineClient(berthd.url)
    volume = "berth-gui-browse"

    async def fill() -> None:
        await engine.request("POST", "volumes/create", body={"Name": volume})
        id = await engine.create_container({
            "Image": busybox_image,
            "Cmd": ["sh", "-c", "mkdir -p /data/sub/deeper && echo hi > /data/top.txt && "
                                "echo deep > /data/sub/deeper/leaf.txt && echo mid > /data/sub/mid.txt"],
            "HostConfig": {"Binds": [f"{volume}:/data"]},
        })
        await engine.start(id)
        await engine.request("POST", f"containers/{id}/wait")
        await engine.remove(id, force=True)

    run_async(fill(), timeout=30_000)
    try:
        window = make_window(berthd.url)
        window.show_place("volumes")
        page = window.volumes_page
        qtbot.waitUntil(lambda: page.select_key(volume), timeout=10_000)
        page.browse_button.click()
        qtbot.waitUntil(lambda: "top.txt" in _names(page), timeout=10_000)
        assert _names(page)[0] == "sub/"  # folders first
        assert page.files_path.text() == "/" and not page.files_up.isEnabled()

        # Double-click a folder: in it.
        item = _row(page, "sub/")
        rect = page.files.visualItemRect(item)
        # A double-click as the platform sends it: press, release, then the double-click event.
        qtbot.mouseClick(page.files.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(page.files.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.waitUntil(lambda: page.files_path.text() == "/sub", timeout=10_000)
        assert _names(page) == ["deeper/", "mid.txt"]
        assert page.files.item(0).text() == f"{volume}:/sub"
        # Enter on a folder: deeper still.
        page.files.setCurrentItem(_row(page, "deeper/"))
        qtbot.keyClick(page.files, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: page.files_path.text() == "/sub/deeper", timeout=10_000)
        assert _names(page) == ["leaf.txt"]
        # Up, twice: back at the top.
        qtbot.mouseClick(page.files_up, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.files_path.text() == "/sub", timeout=10_000)
        qtbot.mouseClick(page.files_up, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.files_path.text() == "/", timeout=10_000)
        assert "top.txt" in _names(page)
        # A path typed in the bar.
        page.files_path.setText("/sub/deeper")
        qtbot.keyClick(page.files_path, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: _names(page) == ["leaf.txt"], timeout=10_000)
    finally:

        async def clean() -> None:
            with contextlib.suppress(EngineClientError):
                await engine.request("DELETE", f"volumes/{volume}")
            await engine.close()

        run_async(clean(), timeout=30_000)
