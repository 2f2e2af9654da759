"""The detail of the selected container: Overview · Logs · Stats · Terminal · Files · Inspect · Environment."""

from __future__ import annotations

import asyncio
import html
import posixpath
import time
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QGuiApplication, QKeyEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.edit import EditFlow
from app.display import command_line, human_size, short_id
from app.models.logs import LogBuffer
from app.models.metrics_history import memory_scale, own_memory_limit, rates
from app.services.details import Inspector, TerminalSession
from app.services.engine import EngineConnection
from app.services.logs import LogFollower
from app.services.stats import StatsService, sample_of
from app.widgets.accessibility import named, tab_chain
from app.widgets.chrome import ask_for_file, set_icon, show_message
from app.widgets.inspect_view import InspectView
from app.widgets.log_panel import LogPanel
from app.widgets.stats_graph import BLOCK_WORDS, NETWORK_WORDS, Mark, StatsGraph, name_color
from app.widgets.stop_progress import StopProgress
from app.widgets.terminal import TerminalView
from engine.compose.model import LABEL_PROJECT

TABS = ["Overview", "Logs", "Stats", "Terminal", "Files", "Inspect", "Environment"]
STATS_SPAN = 300.0  # seconds the Stats tab's graphs show: the stats reader's minutes in memory


class ContainerDetail(QWidget):
    def __init__(
        self, connection: EngineConnection, stats: StatsService, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("container-detail")
        self.connection = connection
        self.stats = stats
        self.inspector = Inspector(connection, self)
        self.id = ""
        self.name = ""
        self.running = False
        self.inspected: dict[str, Any] = {}

        self.title = QLabel(self)
        self.title.setObjectName("detail-title")
        self.stop_progress = StopProgress(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("detail-tabs")
        self.tabs.setDocumentMode(True)
        named(self.tabs, "Container detail", "Overview, Logs, Stats, Terminal, Files, Inspect, Environment "
              "(Ctrl+L: Logs, Ctrl+T: Terminal)")

        # Overview
        self.overview = QLabel(self)
        self.overview.setObjectName("detail-overview")
        self.overview.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.overview.setOpenExternalLinks(True)
        self.overview.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.overview.setWordWrap(True)
        named(self.overview, "Overview", "The container's id, image, state, command, ports, mounts and networks")
        self.copy_id = QPushButton("Copy id", self)
        self.copy_id.setToolTip("Copy the full container id")
        set_icon(self.copy_id, "copy")
        self.copy_id.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.id))
        overview = QWidget(self)
        box = QVBoxLayout(overview)
        box.addWidget(self.overview, 1)
        # Edit and recreate (#23): the Run form filled from this container; a compose service's file.
        self.edit_flow = EditFlow(connection, self)
        self.edit_button = QPushButton("Edit…", self)
        self.edit_button.setObjectName("detail-edit")
        set_icon(self.edit_button, "edit")
        self.edit_button.setToolTip("Change its environment, ports, volumes, restart policy, command or labels "
                                    "and recreate it under the same name (docker rm, then docker run)")
        self.edit_button.clicked.connect(lambda: self.edit_flow.edit(self.inspected))
        self.edit_note = QLabel(self)
        self.edit_note.setObjectName("detail-edit-note")
        self.edit_note.setWordWrap(True)
        self.edit_note.hide()
        self.edit_flow.said.connect(lambda text, role: show_message(self.edit_note, text, role))
        row = QHBoxLayout()
        row.addWidget(self.copy_id)
        row.addWidget(self.edit_button)
        row.addStretch(1)
        box.addWidget(self.edit_note)
        box.addLayout(row)

        # Logs
        self.log_buffer = LogBuffer()
        self.logs = LogPanel(self.log_buffer, self)
        self.follower = LogFollower(self.log_buffer, self)
        self.follower.appended.connect(self.logs.on_appended)
        self.follower.ended.connect(
            lambda reason: self.logs.show_status(f"log stream ended: {reason}" if reason else "")
        )
        self.follower.waiting.connect(self.logs.show_waiting)

        # Stats
        stats_page = QWidget(self)
        grid = QGridLayout(stats_page)
        self.cpu_graph = StatsGraph("CPU", lambda v: f"{v:.1f} %", stats_page)
        self.memory_graph = StatsGraph("Memory", lambda v: human_size(v), stats_page)
        self.network_graph = StatsGraph("Network", lambda v: f"{human_size(v)}/s", stats_page)
        self.block_graph = StatsGraph("Block I/O", lambda v: f"{human_size(v)}/s", stats_page)
        self.graphs = (self.cpu_graph, self.memory_graph, self.network_graph, self.block_graph)
        for i, graph in enumerate(self.graphs):
            grid.addWidget(graph, i // 2, i % 2)
            graph.click_hint = "Click: the logs at this moment"
            graph.pointChosen.connect(self.show_logs_at)
        self.stats_moment: tuple[str, float] | None = None  # a container's moment the graphs are centred on
        self.tabs.currentChanged.connect(self._on_stats_tab)
        stats.sampled.connect(self._on_sampled)

        # Terminal
        self.terminal = TerminalView(self)
        self.session: TerminalSession | None = None
        self._closing: list[asyncio.Future[None]] = []  # terminal sessions being closed
        self.terminal_status = QLabel("Open a shell in the running container (docker exec -it … sh).", self)
        self.terminal_status.setProperty("role", "hint")
        self.terminal_button = QPushButton("Connect", self)
        self.terminal_button.setObjectName("terminal-connect")
        set_icon(self.terminal_button, "terminal")
        self.terminal_button.clicked.connect(self._on_terminal_button)
        terminal_page = QWidget(self)
        tbox = QVBoxLayout(terminal_page)
        trow = QHBoxLayout()
        trow.addWidget(self.terminal_status, 1)
        trow.addWidget(self.terminal_button)
        tbox.addLayout(trow)
        tbox.addWidget(self.terminal, 1)

        # Files
        self.files_path = QLineEdit("/", self)
        self.files_path.setObjectName("files-path")
        named(self.files_path, "Folder in the container", "Enter lists it")
        self.files_path.returnPressed.connect(lambda: self.list_files(self.files_path.text()))
        self.files_up = QPushButton("Up", self)
        set_icon(self.files_up, "previous")
        self.files_up.clicked.connect(lambda: self.list_files(posixpath.dirname(self.files_path.text().rstrip("/"))))
        self.files_download = QPushButton("Download…", self)
        self.files_download.setToolTip("Save the selected file (docker cp)")
        set_icon(self.files_download, "save")
        self.files_download.clicked.connect(self._ask_download)
        self.files = QTreeWidget(self)
        self.files.setObjectName("files")
        self.files.setHeaderLabels(["Name", "Size", "Mode", "Link"])
        self.files.setRootIsDecorated(False)
        named(self.files, "Files", "Enter opens a folder; Backspace goes up")
        self.files.itemActivated.connect(self._on_file_activated)
        # The menu key (or a right click) offers what the buttons do, for the selected entry.
        self.files.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.files.customContextMenuRequested.connect(self._files_menu)
        self.files_menu: QMenu | None = None
        self.files_status = QLabel(self)
        self.files_status.setProperty("role", "hint")
        files_page = QWidget(self)
        fbox = QVBoxLayout(files_page)
        frow = QHBoxLayout()
        frow.addWidget(self.files_up)
        frow.addWidget(self.files_path, 1)
        frow.addWidget(self.files_download)
        fbox.addLayout(frow)
        fbox.addWidget(self.files, 1)
        fbox.addWidget(self.files_status)
        self.inspector.filesListed.connect(self._on_files)
        self.inspector.downloaded.connect(lambda path, dest: self.files_status.setText(f"saved {path} to {dest}"))

        # Inspect, Environment
        self.inspect_view = InspectView(self)
        self.environment = QTableWidget(0, 2, self)
        self.environment.setObjectName("environment")
        self.environment.setHorizontalHeaderLabels(["Variable", "Value"])
        self.environment.horizontalHeader().setStretchLastSection(True)
        self.environment.verticalHeader().hide()
        named(self.environment, "Environment variables")

        for widget, name in zip(
            (overview, self.logs, stats_page, terminal_page, files_page, self.inspect_view, self.environment),
            TABS,
            strict=True,
        ):
            self.tabs.addTab(widget, name)
        self.tabs.currentChanged.connect(self._on_tab)
        self.inspector.inspected.connect(self._on_inspected)
        self.inspector.failed.connect(self._on_failed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.stop_progress)
        layout.addWidget(self.tabs, 1)
        self._files_loaded_for = ""
        # Tab as the eye reads each tab (the terminal is made before its button above it).
        tab_chain([self.copy_id, self.edit_button])
        tab_chain([self.terminal_button, self.terminal])
        tab_chain([self.files_up, self.files_path, self.files_download, self.files])
        self.files.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Backspace in the Files list goes up a folder, as in file managers.
        if (watched is self.files and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                and event.key() == Qt.Key.Key_Backspace):
            self.files_up.click()
            return True
        if (watched is self.files and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                and event.key() == Qt.Key.Key_Menu):
            # The menu key opens the menu at the current entry (taken here, so it opens once).
            item = self.files.currentItem()
            self._files_menu(self.files.visualItemRect(item).center() if item is not None else QPoint(4, 4))
            return True
        return super().eventFilter(watched, event)

    # -- selection -------------------------------------------------------------------------------

    def show_container(self, id: str, name: str, running: bool) -> None:
        if id == self.id:
            self.set_running(running)
            return
        self.id, self.name, self.running = id, name, running
        self.stop_progress.finish()
        self.edit_note.hide()
        self.title.setText(f"<b>{html.escape(name)}</b> <span style='color:gray'>{short_id(id)}</span>")
        self.inspector.inspect(id)
        self.logs.reset()
        self.follower.follow(self.connection.client, [id], [name])
        self.logs.show_status("")
        self._close_terminal()
        self.terminal.vt.reset()
        self.terminal.update()
        self._files_loaded_for = ""
        self.files.clear()
        self._draw_stats()
        self._on_tab(self.tabs.currentIndex())

    def show_project(self, project: str, ids: list[str], names: list[str]) -> None:
        """A compose project: its containers' logs merged, each line with a coloured name."""
        self.id, self.name, self.running = "", project, False
        self.title.setText(f"<b>{html.escape(project)}</b> <span style='color:gray'>compose project</span>")
        self.logs.reset()
        self.follower.follow(self.connection.client, ids, names)
        self.tabs.setCurrentIndex(TABS.index("Logs"))

    def set_running(self, running: bool) -> None:
        """The container started or stopped: refresh what depends on it (files, terminal)."""
        if not running:
            self.stop_progress.finish(self.id)
        if running == self.running:
            return
        self.running = running
        self.refresh()
        if running:
            self._on_tab(self.tabs.currentIndex())

    def refresh(self) -> None:
        if self.id:
            self.inspector.inspect(self.id)

    def clear(self) -> None:
        self.follower.stop()
        self._close_terminal()
        self.id = ""

    def stop_started(self, id: str) -> None:
        """A stop of `id` was asked: while the engine waits for the process, say so with the time."""
        if id == self.id:
            grace = (self.inspected.get("Config") or {}).get("StopTimeout") if self.inspected.get("Id") == id else None
            self.stop_progress.start(id, int(grace) if isinstance(grace, int) else 10)

    def search_logs(self) -> bool:
        """Ctrl+F with the focus in the detail: its log's search, when the Logs tab is in view."""
        if not self.logs.isVisible():
            return False
        self.logs.focus_search()
        return True

    def show_tab(self, name: str) -> None:
        self.tabs.setCurrentIndex(TABS.index(name))

    def _on_tab(self, index: int) -> None:
        name = TABS[index] if 0 <= index < len(TABS) else ""
        if name == "Files" and self.id and self._files_loaded_for != self.id and self.running:
            self.list_files("/")
        if name == "Terminal" and self.id and self.running and self.session is None:
            self.open_terminal()
        if name == "Logs":
            self.logs.view.setFocus()
        if name != "Terminal" and self.session is not None:
            # A shell nobody sees is not left running in the container: closed on leaving the tab,
            # a new one opened on coming back.
            self._close_terminal()
            self.terminal_status.setText("The shell was closed when you left this tab.")

    # -- overview, inspect, environment -----------------------------------------------------------

    def _on_inspected(self, id: str, data: dict[str, Any]) -> None:
        if id != self.id:
            return
        self.inspected = data
        config = data.get("Config") or {}
        compose = bool((config.get("Labels") or {}).get(LABEL_PROJECT))
        self.edit_button.setText("Open compose file…" if compose else "Edit…")
        state = data.get("State") or {}
        host = data.get("HostConfig") or {}
        ports = []
        for private, bindings in ((data.get("NetworkSettings") or {}).get("Ports") or {}).items():
            for binding in bindings or []:
                port = binding.get("HostPort")
                if port:
                    ports.append(f"<a href='http://localhost:{port}'>localhost:{port}</a> → {html.escape(private)}")
        mounts = [f"{html.escape(str(m.get('Name') or m.get('Source', '')))} → {html.escape(str(m.get('Destination')))}"
                  for m in data.get("Mounts") or []]
        networks = list(((data.get("NetworkSettings") or {}).get("Networks") or {}).keys())
        rows = [
            ("Id", f"<code>{html.escape(str(data.get('Id', '')))}</code>"),
            ("Image", html.escape(str(config.get("Image", "")))),
            ("State", html.escape(f"{state.get('Status', '')} (exit code {state.get('ExitCode', 0)})"
                                  if state.get("Status") == "exited" else str(state.get("Status", "")))),
            ("Health", html.escape(str((state.get("Health") or {}).get("Status", "—")))),
            ("Created", html.escape(str(data.get("Created", ""))[:19].replace("T", " "))),
            ("Started", html.escape(str(state.get("StartedAt", ""))[:19].replace("T", " "))),
            ("Command", f"<code>{html.escape(command_line(config))}</code>"),
            ("Ports", "<br>".join(ports) or "none published"),
            ("Mounts", "<br>".join(mounts) or "none"),
            ("Networks", html.escape(", ".join(networks)) or "none"),
            ("Restart", html.escape(str((host.get("RestartPolicy") or {}).get("Name") or "no"))),
        ]
        self.overview.setText(
            "<table cellspacing=4>"
            + "".join(f"<tr><td style='color:gray'>{k}</td><td>{v}</td></tr>" for k, v in rows)
            + "</table>"
        )
        self.inspect_view.set_data(data)
        env = [str(e) for e in config.get("Env") or []]
        self.environment.setRowCount(len(env))
        for row, entry in enumerate(env):
            key, _, value = entry.partition("=")
            self.environment.setItem(row, 0, QTableWidgetItem(key))
            self.environment.setItem(row, 1, QTableWidgetItem(value))

    def _on_failed(self, id: str, message: str) -> None:
        if id == self.id:
            self.files_status.setText(message)

    # -- stats -----------------------------------------------------------------------------------

    def _on_sampled(self, samples: dict[str, Any], sparks: dict[str, Any]) -> None:
        if self.id in samples and self.isVisible():
            self._draw_stats()

    def show_stats_at(self, when: float) -> None:
        """The Stats tab with its graphs around `when` (a detector's finding), the moment marked."""
        self.stats_moment = (self.id, when)
        self.show_tab("Stats")
        self._draw_stats()

    def _on_stats_tab(self, index: int) -> None:
        if index != TABS.index("Stats") and self.stats_moment is not None:
            self.stats_moment = None  # a moment shown once: the Stats tab is live again next time
            self._draw_stats()

    def show_logs_at(self, when: float) -> None:
        """A mark or a point of a graph was clicked: the logs at that moment."""
        self.show_tab("Logs")
        self.logs.scroll_to_time(when)

    def _draw_stats(self) -> None:
        """The last minutes (or the minutes around a chosen moment) by time, the container's events
        marked; memory against its limit when it has one (from inspect), else against its peak."""
        now = time.time()
        moment = self.stats_moment[1] if self.stats_moment and self.stats_moment[0] == self.id else None
        if moment is not None and moment < now - STATS_SPAN / 2:
            start, end = moment - STATS_SPAN / 2, moment + STATS_SPAN / 2
            history = [(p.t, sample_of(p)) for p in self.stats.series(self.id, start, end)]
        else:
            start, end = now - STATS_SPAN, now
            history = [(t, s) for t, s in self.stats.history(self.id) if t >= start] if self.id else []
        times = [t for t, _ in history]
        samples = [s for _, s in history]
        name = self.name or self.id[:12]
        color = name_color(name)
        marks = [Mark(e.t, e.label(), e.kind) for e in self.stats.events(self.id, start, end)] if self.id else []
        self.cpu_graph.set_timed([(name, color, list(zip(times, [s.cpu_percent for s in samples], strict=True)))],
                                 start, end, marks=marks)
        configured = (self.inspected.get("HostConfig") or {}).get("Memory") if self.inspected.get("Id") == self.id \
            else None
        limit = own_memory_limit(samples[-1].memory_limit if samples else 0,
                                 int(configured) if configured is not None else None)
        scale = memory_scale((float(s.memory) for s in samples), limit)
        self.memory_graph.set_timed([(name, color, [(t, float(s.memory)) for t, s in history])], start, end,
                                    float(limit) or None, marks, top=scale.top if scale.against_limit else None,
                                    axis_note=scale.note(human_size))
        for graph, words, counters in (
            (self.network_graph, NETWORK_WORDS, [(s.net_rx, s.net_tx) for s in samples]),
            (self.block_graph, BLOCK_WORDS, [(s.block_read, s.block_write) for s in samples]),
        ):
            graph.set_timed([(word, name_color(word),
                              list(zip(times[1:], rates(times, [c[i] for c in counters]), strict=True)))
                             for i, word in enumerate(words)], start, end, marks=marks)
        for graph in self.graphs:
            graph.moment = moment

    # -- terminal --------------------------------------------------------------------------------

    def open_terminal(self) -> None:
        if not self.id or not self.running:
            self.terminal_status.setText("The container is not running: start it to open a shell.")
            return
        self._close_terminal()
        session = TerminalSession(self.connection, self)
        session.output.connect(self.terminal.feed)
        session.ended.connect(self._on_terminal_ended)
        session.started.connect(self._on_terminal_started)
        self.terminal.typed.connect(session.write)
        self.terminal.resized.connect(session.resize)
        self.session = session
        session.open(self.id, ["/bin/sh"], self.terminal.vt.lines, self.terminal.vt.columns)
        self.terminal.setFocus()

    def _on_terminal_button(self) -> None:
        if self.session is not None:
            self._close_terminal()
            self.terminal_status.setText("Disconnected.")
        else:
            self.open_terminal()

    def _on_terminal_started(self) -> None:
        self.terminal_status.setText("Connected: /bin/sh (Ctrl+Shift+C/V copy/paste, Ctrl+Tab leaves the terminal)")
        self.terminal_button.setText("Disconnect")  # says what it does now, never "Connect" while connected
        self.terminal_button.setToolTip("End this shell (its processes in the container end with it)")

    def _on_terminal_ended(self, reason: str) -> None:
        self.terminal_status.setText(f"Disconnected: {reason}" if reason else "The shell exited.")
        self.terminal_button.setText("Reconnect")

    def _close_terminal(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            self.terminal.typed.disconnect(session.write)
            self.terminal.resized.disconnect(session.resize)
            session.output.disconnect(self.terminal.feed)
            session.ended.disconnect(self._on_terminal_ended)  # closed here: said here, not as an end
            session.started.disconnect(self._on_terminal_started)
            self._closing.append(asyncio.ensure_future(session.close()))
            self.terminal_button.setText("Connect")
            self.terminal_button.setToolTip("Open a shell in the container (docker exec -it … sh)")

    # -- files -----------------------------------------------------------------------------------

    def list_files(self, path: str) -> None:
        path = path or "/"
        self.files_path.setText(path)
        self.files_status.setText(f"reading {path} …")
        self._files_loaded_for = self.id
        self.inspector.list_files(self.id, path)

    def _on_files(self, id: str, path: str, entries: list[dict[str, Any]], truncated: bool) -> None:
        if id != self.id:
            return
        self.files.clear()
        for entry in entries:
            item = QTreeWidgetItem(self.files, [
                entry["name"] + ("/" if entry["type"] == "dir" else ""),
                human_size(entry["size"]) if entry["type"] == "file" else "",
                entry["mode"],
                entry["link"],
            ])
            item.setData(0, Qt.ItemDataRole.UserRole, entry)
        self.files.resizeColumnToContents(0)
        self.files_status.setText(f"{len(entries)} entries in {path}" + (" (listing cut short)" if truncated else ""))

    def _on_file_activated(self, item: QTreeWidgetItem, column: int) -> None:
        entry = item.data(0, Qt.ItemDataRole.UserRole)
        if entry and entry["type"] == "dir":
            self.list_files(posixpath.join(self.files_path.text(), entry["name"]))

    def _files_menu(self, position: QPoint) -> None:
        item = self.files.currentItem()
        menu = QMenu(self.files)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        entry = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if item is not None and entry and entry["type"] == "dir":
            menu.addAction("Open", lambda: self._on_file_activated(item, 0))
        if entry:
            menu.addAction("Download…", self._ask_download)
        menu.addAction("Up a folder", self.files_up.click)
        self.files_menu = menu
        menu.popup(self.files.viewport().mapToGlobal(position))

    def _ask_download(self) -> None:
        item = self.files.currentItem()
        if item is None:
            return
        entry = item.data(0, Qt.ItemDataRole.UserRole)
        source = posixpath.join(self.files_path.text(), entry["name"])
        ask_for_file(self, f"Save {entry['name']}", lambda dest: self.inspector.download(self.id, source, dest),
                     save=True, suggested=entry["name"] + (".tar" if entry["type"] == "dir" else ""))

    async def aclose(self) -> None:
        self.follower.stop()
        await self.follower.close()
        if self.session is not None:
            await self.session.close()
        # Sessions closed when the user left their terminal: their exec streams end before the client.
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self.inspector.close()
        await self.edit_flow.close()
