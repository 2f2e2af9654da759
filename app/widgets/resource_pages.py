"""The Images, Volumes and Networks pages: a sortable, filterable list, titled dialogs for the "…"
actions (their errors inside them), other errors in place."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.form import FormDialog, plain_button
from app.models.resources import ResourceModel
from app.widgets.accessibility import layout_order, tab_chain
from app.widgets.chrome import Toolbar, ask_for_file, set_icon
from app.widgets.table_page import KeyedTablePage, keyed_table, message_label


class ResourcePage(KeyedTablePage, QWidget):
    """Toolbar row of buttons and a filter, a message line, then the table (or the empty state)."""

    def __init__(self, name: str, model: ResourceModel, empty_hint: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"{name}-page")
        self.model = model
        self._tab_ordered = False
        self.table, self.proxy = keyed_table(self, model, f"{name}-table", (220,), sort_by_first=False)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.table.setAccessibleName(name.capitalize())
        self.toolbar = Toolbar(self, f"{name}-toolbar", f"{name.capitalize()} actions")
        self.buttons = self.toolbar.buttons
        self.search = QLineEdit(self)
        self.search.setObjectName(f"{name}-search")
        self.search.setAccessibleName(f"Filter {name}")
        self.search.setPlaceholderText(f"Filter {name}   Ctrl+F")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.message = message_label(self, f"{name}-message")
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.empty = QLabel(empty_hint, self)
        self.empty.setObjectName(f"{name}-empty")
        self.empty.setAccessibleName(f"No {name}")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.table)
        model.rowsInserted.connect(self._update_view)
        model.rowsRemoved.connect(self._update_view)
        model.modelReset.connect(self._update_view)

        self.body = QHBoxLayout()
        self.body.addWidget(self.stack, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.setSpacing(4)
        self.toolbar.add_trailing(self.search, 1)
        layout.addWidget(self.toolbar)
        self.forms = QVBoxLayout()  # rows between the toolbar and the list (the Stats page's graphs)
        layout.addLayout(self.forms)
        layout.addWidget(self.message)
        layout.addLayout(self.body, 1)
        self.dialog: FormDialog | None = None  # the "…" dialog open last (made on first use, kept)
        self._update_view()

    def focus_search(self) -> None:
        """Ctrl+F: the list's filter, its text selected to type over."""
        self.search.setFocus()
        self.search.selectAll()

    def button(self, text: str, tip: str, name: str, icon: str = "", primary: bool = False) -> QPushButton:
        return self.toolbar.button(text, tip, name, icon, primary)

    def showEvent(self, event: QShowEvent) -> None:
        if not self._tab_ordered:
            # Subclasses add their toolbar buttons, forms and side panels after this class made the
            # table and the filter; Tab follows the page's layout, made whole by the first show.
            self._tab_ordered = True
            layout = self.layout()
            if layout is not None:
                tab_chain(layout_order(layout))
        super().showEvent(event)

    def open_dialog(self, dialog: FormDialog) -> FormDialog:
        """Show one of the page's dialogs with open() (never a nested exec() under qasync)."""
        self.dialog = dialog
        dialog.open()
        return dialog

    def start(self, dialog: FormDialog, action: str, target: str, signal: Any, *args: object) -> None:
        """`signal` starts `action` on `target`; `dialog` waits for the engine's answer."""
        self.clear_message()
        dialog.wait_for(action, target)
        signal.emit(*args)

    def dialog_failed(self, target: str, action: str, text: str) -> bool:
        """An action a dialog started failed: said inside it (True), where the input is to fix."""
        dialog = self.dialog
        if dialog is not None and dialog.awaits(action, target):
            dialog.failed(text)
            return True
        return False

    def dialog_finished(self, target: str, action: str) -> None:
        dialog = self.dialog
        if dialog is not None and dialog.awaits(action, target):
            dialog.succeeded()

    def remove_with_delete_key(self, button: QPushButton) -> None:
        """The Delete key in the table presses `button` (Remove), as in the containers list."""
        shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(button.click)

    def _update_view(self, *args: object) -> None:
        self.stack.setCurrentWidget(self.table if self.model.rowCount() else self.empty)
        self._update_buttons()

    def _update_buttons(self) -> None:
        pass


def _build_problem(values: dict[str, str]) -> tuple[str, str] | None:
    folder = values["folder"]
    if not folder:
        return "folder", "Choose the folder to build: the one with the Dockerfile."
    if not Path(folder).is_dir():
        return "folder", f"There is no folder {folder}: choose the one with the Dockerfile."
    return None


def suggested_tag(folder: str) -> str:
    """An image name from a folder's name ("My App" -> "my-app:latest"), or "" if none fits."""
    name = re.sub(r"[^a-z0-9._-]+", "-", Path(folder).name.lower()).strip("-._")
    return f"{name}:latest" if name else ""


class ImagesPage(ResourcePage):
    pullRequested = Signal(str)
    buildRequested = Signal(str, str)  # folder (with its Dockerfile), tag ("" leaves the image unnamed)
    runRequested = Signal(str)  # image reference
    removeRequested = Signal(str)
    tagRequested = Signal(str, str, str)  # image, repo, tag
    pushRequested = Signal(str)
    historyRequested = Signal(str)
    loadRequested = Signal(str)  # a docker save archive
    importRequested = Signal(str, str)  # a root file system tar, the image's name

    def __init__(self, model: ResourceModel, parent: QWidget | None = None) -> None:
        super().__init__(
            "images", model,
            "<h3>No images yet</h3>Images are the templates containers start from.<br>"
            "Pull one (for example <code>busybox</code>) with <b>Pull…</b> above, "
            "or build one from a folder with a Dockerfile with <b>Build…</b> "
            "(<code>berth build -t myapp .</code>).<br>"
            "Offline? <b>Load…</b> reads an image saved with <code>docker save</code>, "
            "<b>Import…</b> a root file system tar (<code>docker import</code>).",
            parent,
        )
        self.pull_button = self.button("Pull…", "Download an image from a registry (docker pull)", "image-pull",
                                       primary=True)
        self.build_button = self.button("Build…", "Build an image from a folder with a Dockerfile (docker build)",
                                        "image-build")
        self.load_button = self.button("Load…", "Load images from a file saved with docker save (docker load)",
                                       "image-load")
        self.import_button = self.button("Import…", "Make an image of a root file system tar (docker import)",
                                         "image-import")
        self.run_button = self.button("Run…", "Start a container from the selected image (docker run)", "image-run")
        self.tag_button = self.button("Tag…", "Give the selected image another name (docker tag)", "image-tag")
        self.push_button = self.button("Push", "Upload the selected image to its registry (docker push)", "image-push")
        self.history_button = self.button("History", "Show the layers (docker history)", "image-history")
        self.remove_button = self.button("Remove", "Remove the selected image (docker rmi)   Delete", "image-remove")
        self.remove_with_delete_key(self.remove_button)
        self.pull_dialog: FormDialog | None = None
        self.tag_dialog: FormDialog | None = None
        self.build_dialog: FormDialog | None = None
        self.import_dialog: FormDialog | None = None
        self.import_path = ""
        self.pull_button.clicked.connect(self.open_pull_dialog)
        self.tag_button.clicked.connect(self.open_tag_dialog)
        self.build_button.clicked.connect(self.open_build_dialog)
        self.load_button.clicked.connect(self.ask_load_file)
        self.import_button.clicked.connect(self.ask_import_file)
        self.run_button.clicked.connect(lambda: self._emit_reference(self.runRequested))
        self.push_button.clicked.connect(lambda: self._emit_reference(self.pushRequested))
        self.remove_button.clicked.connect(lambda: self._emit_reference(self.removeRequested))
        self.history_button.clicked.connect(lambda: self._emit_reference(self.historyRequested))
        self.table.doubleClicked.connect(lambda *_: self._emit_reference(self.runRequested))
        self.history = QListWidget(self)
        self.history.setObjectName("image-history-list")
        self.history.setAccessibleName("Image history")
        self.history.hide()
        self.body.addWidget(self.history, 2)
        self._update_buttons()

    def reference(self) -> str:
        """The selected row's name (each name is a row), or the image id of an untagged one."""
        item = self.selected_item()
        if not item:
            return ""
        return str(item.get("Tag") or item.get("Id", ""))

    def _emit_reference(self, signal: Any) -> None:
        reference = self.reference()
        if reference:
            self.clear_message()
            signal.emit(reference)

    def open_pull_dialog(self) -> FormDialog:
        if self.pull_dialog is None:
            dialog = self.pull_dialog = FormDialog(
                self, "Pull an image", "pull-dialog", "Pull",
                intro="Download an image from its registry (docker pull).",
                busy_text="Pulling… it goes on in the task panel if you close this.",
                check=lambda v: None if v["image"] else ("image", "Type the image to pull, e.g. busybox:latest."))
            dialog.add_field("image", "&Image:", "e.g. busybox:latest or ghcr.io/org/app:1.2", "Image to pull")
            dialog.submitted.connect(lambda v: self.start(dialog, "pull", v["image"], self.pullRequested, v["image"]))
            dialog.accepted.connect(lambda: dialog.fields["image"].clear())
        return self.open_dialog(self.pull_dialog)

    def open_tag_dialog(self) -> FormDialog | None:
        source = self.reference()
        if not source:
            return None
        if self.tag_dialog is None:
            dialog = self.tag_dialog = FormDialog(
                self, "Tag an image", "tag-dialog", "Tag",
                check=lambda v: None if v["name"] else ("name", "Type the new name, e.g. myrepo/app:v1."))
            dialog.add_field("name", "&New name:", "e.g. myrepo/app:v1", "New name for the image")
            dialog.submitted.connect(lambda v: self._tag(dialog, v["name"]))
            dialog.accepted.connect(lambda: dialog.fields["name"].clear())
        self.tag_dialog.intro.setText(f"Give {source} another name (docker tag).")
        self.tag_dialog.intro.show()
        self.tag_dialog.setProperty("source", source)
        return self.open_dialog(self.tag_dialog)

    def _tag(self, dialog: FormDialog, target: str) -> None:
        source = str(dialog.property("source") or "")
        repo, _, tag = target.rpartition(":") if ":" in target.rsplit("/", 1)[-1] else (target, "", "latest")
        self.start(dialog, "tag", source, self.tagRequested, source, repo, tag)

    def open_build_dialog(self) -> FormDialog:
        """The build dialog; with no folder chosen yet, the directory chooser opens over it at once.
        Folder and name stay filled in after a build: building the same folder again is the common
        next step."""
        if self.build_dialog is None:
            dialog = self.build_dialog = FormDialog(
                self, "Build an image", "build-dialog", "Build",
                intro="Build an image from a folder with a Dockerfile (docker build -t name folder).",
                busy_text="Building… it goes on in the task panel if you close this.", check=_build_problem)
            self.build_choose = plain_button(dialog, "Choose…", "build-choose", "Choose the folder",
                                             "Pick the folder in a file dialog")
            self.build_choose.clicked.connect(self.ask_build_folder)
            dialog.add_field("folder", "&Folder:", "folder with a Dockerfile", "Folder to build",
                             beside=self.build_choose)
            dialog.add_field("name", "&Name:", "e.g. myapp:latest (optional)", "Name of the built image")
            dialog.submitted.connect(lambda v: self.start(dialog, "build", v["name"] or v["folder"],
                                                          self.buildRequested, v["folder"], v["name"]))
        dialog = self.open_dialog(self.build_dialog)
        if not dialog.fields["folder"].text().strip():
            self.ask_build_folder()
        return dialog

    def ask_build_folder(self) -> QFileDialog:
        """The folder to build, from a directory dialog opened with open() (never a nested exec()
        under qasync) and deleted once closed."""
        parent = self.build_dialog if self.build_dialog is not None else self
        dialog = QFileDialog(parent, "Build an image from a folder")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        current = self.build_dialog.fields["folder"].text().strip() if self.build_dialog is not None else ""
        if current and Path(current).is_dir():
            dialog.setDirectory(current)
        dialog.fileSelected.connect(self._folder_chosen)
        dialog.open()
        return dialog

    def _folder_chosen(self, folder: str) -> None:
        if not folder:
            return
        build = self.build_dialog if self.build_dialog is not None else self.open_build_dialog()
        build.fields["folder"].setText(folder)
        name = build.fields["name"]
        if not name.text().strip():
            name.setText(suggested_tag(folder))
        if not build.isVisible():
            self.open_dialog(build)
        name.setFocus()
        name.selectAll()

    def ask_load_file(self) -> QFileDialog:
        return ask_for_file(self, "Load images saved with docker save", self._load_chosen,
                            filters=("Image archives (*.tar *.tar.gz *.tgz *.tar.xz)", "All files (*)"))

    def _load_chosen(self, path: str) -> None:
        if path:
            self.clear_message()
            self.loadRequested.emit(path)

    def ask_import_file(self) -> QFileDialog:
        return ask_for_file(self, "Import a root file system tar as an image", self._import_chosen,
                            filters=("Tar archives (*.tar *.tar.gz *.tgz *.tar.xz)", "All files (*)"))

    def _import_chosen(self, path: str) -> FormDialog | None:
        if not path:
            return None
        self.import_path = path
        if self.import_dialog is None:
            dialog = self.import_dialog = FormDialog(
                self, "Import a root file system", "import-dialog", "Import",
                busy_text="Importing… it goes on in the task panel if you close this.",
                check=lambda v: None if v["name"] else ("name", "Give the image a name, e.g. rootfs:latest."))
            self.import_file = dialog.add_note("file", "File:")
            dialog.add_field("name", "&Name:", "e.g. rootfs:latest", "Name of the imported image")
            dialog.submitted.connect(lambda v: self.start(dialog, "import", v["name"], self.importRequested,
                                                          self.import_path, v["name"]))
        self.import_file.setText(Path(path).name)
        self.import_file.setToolTip(path)
        self.import_dialog.fields["name"].setText(
            suggested_tag(re.sub(r"\.(tar(\.\w+)?|tgz)$", "", Path(path).name)))
        return self.open_dialog(self.import_dialog)

    def show_history(self, name: str, layers: list[dict[str, Any]]) -> None:
        from app.display import human_size

        self.history.clear()
        self.history.addItem(f"History of {name}:")
        for layer in layers:
            self.history.addItem(f"{human_size(int(layer.get('Size', 0))):>8}  {str(layer.get('CreatedBy', ''))[:90]}")
        self.history.show()

    def _update_buttons(self) -> None:
        if not hasattr(self, "remove_button"):
            return
        selected = bool(self.selected_key())
        for button in (self.run_button, self.tag_button, self.push_button, self.history_button, self.remove_button):
            button.setEnabled(selected)


class VolumesPage(ResourcePage):
    createRequested = Signal(str)
    removeRequested = Signal(str)
    browseRequested = Signal(str, str)  # volume, path
    exportRequested = Signal(str)
    importRequested = Signal(str)
    cloneRequested = Signal(str, str)

    def __init__(self, model: ResourceModel, parent: QWidget | None = None) -> None:
        super().__init__(
            "volumes", model,
            "<h3>No volumes yet</h3>Volumes keep data beyond a container's life (databases, uploads).<br>"
            "Create one with <b>Create…</b> above, then mount it when you run a container "
            "(<code>-v data:/var/lib/data</code>).",
            parent,
        )
        self.create_button = self.button("Create…", "Create a named volume (docker volume create)", "volume-create",
                                         primary=True)
        self.browse_button = self.button("Browse", "List the files in the volume", "volume-browse")
        self.export_button = self.button("Export…", "Save the volume's files as a tar", "volume-export")
        self.import_button = self.button("Import…", "Extract a tar into the volume", "volume-import")
        self.clone_button = self.button("Clone…", "Copy the volume into a new one", "volume-clone")
        self.remove_button = self.button("Remove", "Remove the selected volume (docker volume rm)   Delete",
                                         "volume-remove")
        self.remove_with_delete_key(self.remove_button)
        self.create_dialog: FormDialog | None = None
        self.clone_dialog: FormDialog | None = None
        self.create_button.clicked.connect(self.open_create_dialog)
        self.clone_button.clicked.connect(self.open_clone_dialog)
        self.remove_button.clicked.connect(lambda: self._emit_selected(self.removeRequested))
        self.export_button.clicked.connect(lambda: self._emit_selected(self.exportRequested))
        self.import_button.clicked.connect(lambda: self._emit_selected(self.importRequested))
        self.browse_button.clicked.connect(self._browse_selected)
        # The browsed folder: a path bar (Up, the path, Enter to go) over its entries; a folder
        # opens on double-click or Enter.
        self.browser = QWidget(self)
        self.browser.setObjectName("volume-browser")
        self.files_up = QPushButton("Up", self.browser)
        self.files_up.setObjectName("volume-files-up")
        self.files_up.setToolTip("The parent folder")
        self.files_up.setAccessibleName("Up to the parent folder")
        set_icon(self.files_up, "up")
        self.files_up.clicked.connect(self.browse_up)
        self.files_path = QLineEdit("/", self.browser)
        self.files_path.setObjectName("volume-files-path")
        self.files_path.setAccessibleName("Folder in the volume")
        self.files_path.returnPressed.connect(lambda: self.browse(self.files_path.text()))
        self.files = QListWidget(self.browser)
        self.files.setObjectName("volume-files")
        self.files.setAccessibleName("Files in the volume")
        self.files.itemActivated.connect(self._on_file_activated)
        bar = QHBoxLayout()
        bar.addWidget(self.files_up)
        bar.addWidget(self.files_path, 1)
        browser_layout = QVBoxLayout(self.browser)
        browser_layout.setContentsMargins(0, 0, 0, 0)
        browser_layout.addLayout(bar)
        browser_layout.addWidget(self.files, 1)
        self.browser.hide()
        self.browsed = ""  # the volume whose files are shown
        self.body.addWidget(self.browser, 2)
        self.berth_extensions = True
        self._update_buttons()

    def _browse_selected(self) -> None:
        self.browsed = ""
        self.browse("/")

    def open_create_dialog(self) -> FormDialog:
        if self.create_dialog is None:
            dialog = self.create_dialog = FormDialog(
                self, "Create a volume", "volume-create-dialog", "Create",
                intro="A named volume keeps data beyond a container's life (docker volume create).")
            dialog.add_field("name", "&Name:", "e.g. data (empty: a generated name)", "Volume name")
            dialog.submitted.connect(lambda v: self.start(dialog, "create", v["name"], self.createRequested,
                                                          v["name"]))
            dialog.accepted.connect(lambda: dialog.fields["name"].clear())
        return self.open_dialog(self.create_dialog)

    def open_clone_dialog(self) -> FormDialog | None:
        source = self.selected_key()
        if not source:
            return None
        if self.clone_dialog is None:
            dialog = self.clone_dialog = FormDialog(
                self, "Clone a volume", "volume-clone-dialog", "Clone",
                check=lambda v: None if v["name"] else ("name", "Type a name for the copy, e.g. data-copy."))
            dialog.add_field("name", "&Name of the copy:", "e.g. data-copy", "Name of the copy")
            dialog.submitted.connect(lambda v: self.start(dialog, "clone", str(dialog.property("source")),
                                                          self.cloneRequested, str(dialog.property("source")),
                                                          v["name"]))
            dialog.accepted.connect(lambda: dialog.fields["name"].clear())
        self.clone_dialog.setProperty("source", source)
        self.clone_dialog.intro.setText(f"Copy the files of {source} into a new volume.")
        self.clone_dialog.intro.show()
        return self.open_dialog(self.clone_dialog)

    def show_files(self, volume: str, listing: dict[str, Any]) -> None:
        from app.display import human_size

        path = str(listing.get("Path") or "/")
        self.browsed = volume
        self.files_path.setText(path)
        self.files_up.setEnabled(path != "/")
        self.files.clear()
        self.files.addItem(f"{volume}:{path}")  # where we are, first (the list alone says it too)
        entries = sorted(listing.get("Entries") or [], key=lambda e: (e.get("Type") != "dir", str(e.get("Name"))))
        for entry in entries:
            kind = entry.get("Type")
            size = human_size(int(entry.get("Size", 0))) if kind == "file" else ""
            item = QListWidgetItem(
                f"{entry.get('Mode', '')}  {size:>8}  {entry.get('Name')}{'/' if kind == 'dir' else ''}", self.files)
            item.setData(Qt.ItemDataRole.UserRole, entry)
            if kind == "dir":
                item.setToolTip("Double-click to open this folder")
        self.browser.show()

    def browse(self, path: str) -> None:
        """Show `path` of the volume being browsed (or of the selected one)."""
        volume = self.browsed or self.selected_key()
        if volume:
            self.browseRequested.emit(volume, posixpath.normpath("/" + path.strip()) if path.strip() else "/")

    def browse_up(self) -> None:
        self.browse(posixpath.dirname(self.files_path.text().rstrip("/")) or "/")

    def _on_file_activated(self, item: QListWidgetItem) -> None:
        entry = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(entry, dict) and entry.get("Type") == "dir":
            self.browse(posixpath.join(self.files_path.text(), str(entry.get("Name"))))

    def disable_extensions(self) -> None:
        """The engine has no /berth/v1 volume endpoints (a stock dockerd): hide what needs them."""
        self.berth_extensions = False
        for button in (self.browse_button, self.export_button, self.import_button, self.clone_button):
            button.setEnabled(False)
            button.setToolTip("Needs berthd (this engine has no Berth volume endpoints)")

    def _update_buttons(self) -> None:
        if not hasattr(self, "remove_button"):
            return
        selected = bool(self.selected_key())
        self.remove_button.setEnabled(selected)
        for button in (self.browse_button, self.export_button, self.import_button, self.clone_button):
            button.setEnabled(selected and self.berth_extensions)


class NetworksPage(ResourcePage):
    createRequested = Signal(str, str)  # name, driver
    removeRequested = Signal(str)

    def __init__(self, model: ResourceModel, parent: QWidget | None = None) -> None:
        super().__init__(
            "networks", model,
            "<h3>No networks</h3>Networks connect containers; containers on one user-defined network "
            "find each other by name.<br>Create one with <b>Create…</b> above.",
            parent,
        )
        self.create_button = self.button("Create…", "Create a bridge network (docker network create)", "network-create",
                                         primary=True)
        self.remove_button = self.button("Remove", "Remove the selected network (docker network rm)   Delete",
                                         "network-remove")
        self.remove_with_delete_key(self.remove_button)
        self.create_dialog: FormDialog | None = None
        self.create_button.clicked.connect(self.open_create_dialog)
        self.remove_button.clicked.connect(lambda: self._emit_selected(self.removeRequested))
        self._update_buttons()

    def open_create_dialog(self) -> FormDialog:
        if self.create_dialog is None:
            dialog = self.create_dialog = FormDialog(
                self, "Create a network", "network-create-dialog", "Create",
                intro="A bridge network: containers on it find each other by name (docker network create).",
                check=lambda v: None if v["name"] else ("name", "Type the network's name, e.g. backend."))
            dialog.add_field("name", "&Name:", "e.g. backend", "Network name")
            dialog.submitted.connect(lambda v: self.start(dialog, "create", v["name"], self.createRequested,
                                                          v["name"], "bridge"))
            dialog.accepted.connect(lambda: dialog.fields["name"].clear())
        return self.open_dialog(self.create_dialog)

    def _update_buttons(self) -> None:
        if hasattr(self, "remove_button"):
            self.remove_button.setEnabled(bool(self.selected_key()))
