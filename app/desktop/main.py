"""`berth-desktop`: start Berth Desktop (a QApplication driven by asyncio through qasync)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app.desktop.theme import Theme, apply_theme, system_theme_name
from app.desktop.window import MainWindow
from app.resources import icon_path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="berth-desktop", description="Berth Desktop")
    parser.add_argument("-H", "--host", help="engine address (default: $BERTH_HOST, $DOCKER_HOST, berthd)")
    parser.add_argument("--theme", choices=["system", "light", "dark"], default="system")
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
    theme = Theme.load(system_theme_name() if args.theme == "system" else args.theme)
    apply_theme(app, theme)

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(args.host, theme)
    window.show()

    with loop:
        loop.call_soon(window.start)  # once the loop runs: checking the engine is a task
        loop.run_forever()  # Qt's event loop, until the last window closes or the app quits
        # Qt's loop has ended; run asyncio a last time to close streams and the engine connection.
        loop.run_until_complete(window.shutdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
