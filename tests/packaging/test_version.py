"""One version number: engine.__version__, shown by `berth --version`, `berthd --version`, the About
dialog, and read by pyproject."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import app
import engine

REPO = Path(__file__).resolve().parents[2]
VERSION = engine.__version__


def run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.unit
def test_the_version_is_a_release_number() -> None:
    parts = VERSION.split(".")
    assert len(parts) == 3 and all(part.isdigit() for part in parts), VERSION


@pytest.mark.unit
def test_the_front_ends_take_the_engines_version() -> None:
    assert app.__version__ == VERSION


@pytest.mark.unit
def test_berth_and_berthd_print_the_same_version() -> None:
    assert run(sys.executable, "-m", "app.cli", "--version") == f"berth {VERSION}"
    assert run(sys.executable, "-m", "engine.daemon", "--version") == f"berthd {VERSION}"
    # and the console scripts people type, where this environment has them installed
    scripts = Path(sys.executable).parent
    for name in ("berth", "berthd"):
        if (scripts / name).exists():
            assert run(str(scripts / name), "--version") == f"{name} {VERSION}"


@pytest.mark.unit
def test_pyproject_reads_the_same_version() -> None:
    project: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())
    if "version" in project["project"].get("dynamic", []):
        assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "engine.__version__"}
    else:
        assert project["project"]["version"] == VERSION


@pytest.mark.gui
def test_about_dialog_shows_the_version(qtbot: Any) -> None:
    from PySide6.QtWidgets import QLabel

    from app.desktop.about import AboutDialog

    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    texts = [label.text() for label in dialog.findChildren(QLabel)]
    assert any(VERSION in text for text in texts), texts
