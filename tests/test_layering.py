"""The layering of the BRIEF, checked on the source: engine/ and vmhost/ never import Qt,
app/ reaches berthd only through the client side (the same allow-list as pyproject's import contract,
which lint-imports checks on the import graph; this one reads the source)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QT = ("PySide6", "qasync", "PyQt5", "PyQt6", "shiboken6")
# Of the engine package, app may import only these (and the package itself, for its version).
CLIENT_SIDE = ("engine.client", "engine.compose", "engine.dockerignore", "engine.errors", "engine.filters",
               "engine.formats", "engine.labels")


def imports(package: str) -> list[tuple[Path, str]]:
    found = []
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
                if node.module == "engine":  # `from engine import formats` imports engine.formats
                    found += [(path, f"engine.{alias.name}") for alias in node.names if alias.name != "__version__"]
    return found


@pytest.mark.unit
@pytest.mark.parametrize("package", ["engine", "vmhost"])
def test_no_qt_outside_app(package: str) -> None:
    bad = [f"{p.relative_to(REPO)}: {m}" for p, m in imports(package) if m.split(".")[0] in QT]
    assert not bad, bad


@pytest.mark.unit
def test_app_uses_only_engine_client() -> None:
    bad = [f"{p.relative_to(REPO)}: {m}" for p, m in imports("app")
           if m.startswith("engine.") and not any(m == i or m.startswith(i + ".") for i in CLIENT_SIDE)]
    assert not bad, bad


@pytest.mark.unit
def test_the_checker_can_fail(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("from PySide6 import QtCore\nimport engine.api.app\n")
    tree = ast.parse((tmp_path / "x.py").read_text())
    mods = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    mods += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert "PySide6" in mods and "engine.api.app" in mods
