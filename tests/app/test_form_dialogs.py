"""The "…" actions of the Images, Volumes and Networks pages open a titled dialog (not an inline row):
Enter submits, Escape cancels, the fields are named and Tab goes in reading order; the engine's
refusal is said inside the dialog with the input kept, and the dialog closes only once the action
worked. Against the in-memory engine, with the client call of each action made to refuse once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QWidget

from app.desktop.window import MainWindow
from app.dialogs.form import FormDialog, next_step
from app.widgets.resource_pages import ResourcePage
from engine.client import EngineClientError
from tests.app.support import answer_file_dialog
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui


@dataclass
class Case:
    place: str
    button: str  # the page's attribute
    client_call: str  # the engine.client method the action ends in
    refusal: str  # what the engine says the first time
    typed: str  # what the person types in the dialog's first empty field
    hint: str  # words of the next step shown with the refusal
    title: str


CASES = {
    "pull": Case("images", "pull_button", "pull", "manifest unknown: busybox:nosuchtag", "busybox:nosuchtag",
                 "check the name and the tag", "Pull an image"),
    "tag": Case("images", "tag_button", "tag", "invalid reference format: repository name must be lowercase",
                "My/App:v1", "lowercase letters", "Tag an image"),
    "build": Case("images", "build_button", "build_image", "Cannot locate specified Dockerfile: Dockerfile",
                  "my-app:v1", "has a Dockerfile", "Build an image"),
    "import": Case("images", "import_button", "request_lines", "invalid tag format", "rootfs:v1",
                   "lowercase letters", "Import a root file system"),
    "volume-create": Case("volumes", "create_button", "create_volume", "volume data already exists", "data",
                          "choose another name", "Create a volume"),
    "volume-clone": Case("volumes", "clone_button", "clone_volume", "volume data-copy already exists",
                         "data-copy", "choose another name", "Clone a volume"),
    "network-create": Case("networks", "create_button", "create_network",
                           "network with name backend already exists", "backend", "choose another name",
                           "Create a network"),
}


def refusing_once(case: Case, calls: list[tuple[Any, ...]]) -> Callable[..., Any]:
    """The client call of `case`: refused with the case's words the first time, then it works."""

    def refuse_first(*args: Any) -> None:
        calls.append(args)
        if len(calls) == 1:
            raise EngineClientError(409, case.refusal)

    if case.client_call in ("pull", "build_image", "request_lines"):

        async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
            refuse_first(*args)
            yield {"status": "done"}

        return stream

    async def call(*args: Any, **kwargs: Any) -> dict[str, Any]:
        refuse_first(*args)
        return {}

    return call


def open_case(qtbot: Any, window: MainWindow, fake_engine: FakeEngine, case: Case, tmp_path: Path) -> FormDialog:
    """Go to the case's page, select a row when the action acts on one, and press its button as a
    person does (answering the file dialog Build… and Import… open first)."""
    window.show_place(case.place)
    page: Any = {"images": window.images_page, "volumes": window.volumes_page,
                 "networks": window.networks_page}[case.place]
    if case.button in ("tag_button", "clone_button"):
        qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=10_000)
        page.table.selectRow(0)
    button = getattr(page, case.button)
    qtbot.waitUntil(button.isEnabled)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    if case.button == "build_button":
        folder = tmp_path / "app"
        folder.mkdir(exist_ok=True)
        (folder / "Dockerfile").write_text("FROM busybox\n")
        answer_file_dialog(qtbot, window, folder, folder=True)
    elif case.button == "import_button":
        archive = tmp_path / "rootfs.tar"
        archive.write_bytes(b"\0" * 1024)
        answer_file_dialog(qtbot, window, archive)
    dialog = page.dialog
    assert isinstance(dialog, FormDialog)
    qtbot.waitUntil(dialog.isVisible)
    return dialog


@pytest.fixture
def engine_with_rows(fake_engine: FakeEngine) -> FakeEngine:
    fake_engine.volumes.append({"Name": "data", "Driver": "local", "Mountpoint": "/x", "Labels": {},
                                "Scope": "local", "UsageData": {"Size": 0, "RefCount": 0}})
    return fake_engine


@pytest.mark.parametrize("which", list(CASES))
def test_a_refused_action_keeps_the_dialog_and_its_input_and_success_closes_it(
    qtbot: Any, engine_with_rows: FakeEngine, make_window: Callable[[str], MainWindow], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, which: str,
) -> None:
    case = CASES[which]
    window = make_window(engine_with_rows.url)
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(window.connection.client, case.client_call, refusing_once(case, calls))
    dialog = open_case(qtbot, window, engine_with_rows, case, tmp_path)
    assert dialog.windowTitle() == case.title and dialog.isModal()
    field = dialog.focusWidget()
    assert isinstance(field, QLineEdit) and field in dialog.fields.values()  # ready to type in
    field.clear()
    qtbot.keyClicks(field, case.typed)
    typed = dialog.values()
    qtbot.keyClick(field, Qt.Key.Key_Return)  # Enter submits

    # Refused: said inside the dialog with what to do next; nothing typed is lost; once only.
    qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=10_000)
    assert len(calls) == 1
    assert dialog.isVisible()
    assert case.refusal in dialog.error.text().replace("\u200b", "")
    assert case.hint in dialog.error.text()
    assert dialog.values() == typed
    assert dialog.submit.isEnabled() and not any(edit.isReadOnly() for edit in dialog.fields.values())
    page = dialog.parentWidget()
    assert isinstance(page, ResourcePage)
    assert not page.message.isVisible()  # not repeated on the page
    assert not window.notices.isVisible()

    # Again, as it was: it works and the dialog goes away.
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    assert len(calls) == 2
    assert dialog.result() == FormDialog.DialogCode.Accepted
    assert not page.message.isVisible()


def test_the_local_check_says_what_to_fix_and_escape_cancels(
    qtbot: Any, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow], monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = make_window(fake_engine.url)
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(window.connection.client, "create_network", refusing_once(CASES["network-create"], calls))
    window.show_place("networks")
    page = window.networks_page
    qtbot.mouseClick(page.create_button, Qt.MouseButton.LeftButton)
    dialog = page.dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    qtbot.keyClick(dialog.fields["name"], Qt.Key.Key_Return)  # nothing typed
    assert dialog.isVisible() and dialog.error.text() == "Type the network's name, e.g. backend."
    assert dialog.focusWidget() is dialog.fields["name"] and not calls
    qtbot.keyClicks(dialog.fields["name"], "x")
    assert not dialog.error.isVisible()  # typing retires the old error
    qtbot.keyClick(dialog.fields["name"], Qt.Key.Key_Escape)
    assert not dialog.isVisible() and not calls
    assert dialog.result() == FormDialog.DialogCode.Rejected


def test_the_build_dialog_names_its_fields_and_tabs_in_reading_order(
    qtbot: Any, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow], tmp_path: Path,
) -> None:
    window = make_window(fake_engine.url)
    window.show_place("images")
    page = window.images_page
    qtbot.mouseClick(page.build_button, Qt.MouseButton.LeftButton)
    chooser = next(d for d in window.findChildren(QFileDialog) if d.isVisible())
    chooser.reject()
    dialog = page.dialog
    assert dialog is not None and dialog.isVisible() and dialog.windowTitle() == "Build an image"
    # No folder: said in the dialog, nothing started.
    jobs = len(window.jobs.jobs)
    qtbot.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)
    assert dialog.error.text() == "Choose the folder to build: the one with the Dockerfile."
    dialog.fields["folder"].setText(str(tmp_path / "nowhere"))
    qtbot.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)
    assert "There is no folder" in dialog.error.text() and len(window.jobs.jobs) == jobs
    stops: list[QWidget] = []
    dialog.activateWindow()
    dialog.fields["folder"].setFocus()
    QApplication.processEvents()
    for _ in range(6):
        current = dialog.focusWidget()
        assert current is not None
        stops.append(current)
        qtbot.keyClick(current, Qt.Key.Key_Tab)
    names = [w.accessibleName() for w in stops]
    assert names[:5] == ["Folder to build", "Choose the folder", "Name of the built image", "Build", "Cancel"], names
    assert stops[5] is stops[0]  # and round again
    assert all(w.accessibleName() for w in stops)


@pytest.mark.unit
def test_next_steps_for_common_refusals() -> None:
    assert next_step("conflict: volume name already exists") == "choose another name."
    assert "tag" in next_step("pull access denied for nosuch, repository does not exist")
    assert next_step("something else entirely") == ""
