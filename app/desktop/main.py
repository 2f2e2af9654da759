"""`berth-desktop`: start Berth Desktop (a QApplication driven by asyncio through qasync)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app.desktop.theme import THEMES, Theme, apply_theme, system_theme_name
from app.desktop.window import MainWindow
from app.resources import icon_path
from app.services.engine import EngineStatus


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="berth-desktop", description="Berth Desktop")
    parser.add_argument("-H", "--host", help="engine address (default: $BERTH_HOST, $DOCKER_HOST, berthd)")
    parser.add_argument("--theme", choices=["system", *THEMES],
                        help="look for this run (default: the one chosen in Settings, else the system's)")
    parser.add_argument(
        "--smoke-test",
        action="store_true",
        help="show the window, print 'connected: <engine>' at the engine's first answer and quit (exit 1 if it "
        "does not answer): checks an installed bundle",
    )
    return parser.parse_known_args(argv)[0]  # the rest (e.g. -platform) is Qt's


def create_app(argv: Sequence[str]) -> QApplication:
    app = QApplication(list(argv))
    app.setApplicationName("Berth")
    app.setApplicationDisplayName("Berth")
    app.setDesktopFileName("berth-desktop")
    app.setWindowIcon(QIcon(str(icon_path("berth"))))
    return app


def main(argv: Sequence[str] | None = None) -> int:
    import qasync  # type: ignore[import-untyped]

    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = create_app([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    theme = None
    if args.theme:
        theme = Theme.load(system_theme_name() if args.theme == "system" else args.theme)
        apply_theme(app, theme)

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(args.host, theme)
    window.show()
    smoke_outcome: list[int] = []
    if args.smoke_test:
        quit_after_first_answer(app, window, smoke_outcome)

    with loop:
        loop.call_soon(window.start)  # once the loop runs: checking the engine is a task
        loop.run_forever()  # Qt's event loop, until the last window closes or the app quits
        # Qt's loop has ended; run asyncio a last time to close streams and the engine connection.
        loop.run_until_complete(window.shutdown())
    if args.smoke_test:
        return smoke_outcome[0] if smoke_outcome else 1
    return 0


def quit_after_first_answer(app: QApplication, window: MainWindow, outcome: list[int]) -> None:
    """`--smoke-test` (packaging's check of a frozen bundle): report the engine's first answer, then quit."""

    def on_status(status: EngineStatus) -> None:
        if outcome or status.reachable is None:
            return
        if status.reachable and window.isVisible():
            print(f"connected: {status.description}", flush=True)
            outcome.append(0)
        else:
            print(f"not connected: {status.reason or 'the window is not shown'}", file=sys.stderr, flush=True)
            outcome.append(1)
        app.quit()

    window.connection.statusChanged.connect(on_status)


if __name__ == "__main__":
    sys.exit(main())
