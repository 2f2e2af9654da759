"""The Compose page shows a project's YAML, read from the files its containers' labels name
(com.docker.compose.project.config_files), and says clearly when that file is not reachable here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontInfo

from app.models.compose import project_containers_model, project_item, projects_model
from app.models.logs import LogBuffer
from app.services.compose_yaml import config_files, read_project_yaml
from app.widgets.compose_page import ComposePage
from engine import compose

pytestmark = [pytest.mark.gui]

YAML = "services:\n  web:\n    image: busybox:latest\n    command: [\"sleep\", \"300\"]\n"


def _page(qtbot: Any, files: list[str]) -> ComposePage:
    projects = projects_model()
    page = ComposePage(projects, project_containers_model(), LogBuffer())
    qtbot.addWidget(page)
    page.show()
    projects.set_items([project_item(compose.ProjectSummary(
        name="shop", working_dir="/src/shop", config_files=files, services=["web"], running=1, total=1))])
    assert page.select_project("shop")
    return page


def test_the_yaml_of_a_project_is_shown(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(YAML)
    page = _page(qtbot, [str(path)])
    assert page.yaml_button.isEnabled() and not page.yaml.isVisible()
    qtbot.mouseClick(page.yaml_button, Qt.MouseButton.LeftButton)
    assert page.yaml.isVisible() and page.yaml.toPlainText() == YAML
    assert page.yaml.isReadOnly() and QFontInfo(page.yaml.font()).fixedPitch()
    assert not page.message.isVisible()


def test_a_file_not_reachable_from_here_is_said_so(qtbot: Any, tmp_path: Path) -> None:
    gone = tmp_path / "elsewhere" / "compose.yaml"
    page = _page(qtbot, [str(gone)])
    qtbot.mouseClick(page.yaml_button, Qt.MouseButton.LeftButton)
    assert not page.yaml.isVisible()
    assert page.message.isVisible()
    text = page.message.text().replace("\u200b", "")  # break chances the message line adds
    assert str(gone) in text and "not reachable from here" in text and "no such file" in text


@pytest.mark.unit
def test_several_files_and_the_label(tmp_path: Path) -> None:
    first, second = tmp_path / "compose.yaml", tmp_path / "compose.override.yaml"
    first.write_text("services: {}\n")
    second.write_text("volumes: {}\n")
    labels = {"com.docker.compose.project.config_files": f"{first},{second}"}
    assert config_files(labels) == [str(first), str(second)]
    found = read_project_yaml(config_files(labels))
    assert found.text == f"# {first}\nservices: {{}}\n\n# {second}\nvolumes: {{}}\n" and found.problem == ""
    assert "name no compose file" in read_project_yaml([]).problem
