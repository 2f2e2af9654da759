"""About Berth: the one version number (engine.__version__) and where things come from."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from app import __version__
from app.resources import icon_path
from app.widgets.chrome import set_icon


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Berth")
        layout = QVBoxLayout(self)
        logo = QLabel()
        logo.setPixmap(QIcon(str(icon_path("berth"))).pixmap(64, 64))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(logo)
        title = QLabel(f"<b>Berth {__version__}</b>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        blurb = QLabel("A light, open desktop container platform.\n"
                       "Berth Desktop, the berth CLI and berthd share this version.")
        blurb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(blurb)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        if close is not None:
            set_icon(close, "close")
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
