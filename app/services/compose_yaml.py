"""A compose project's YAML as its containers name it: the files of the label
`com.docker.compose.project.config_files`, read from this computer's disk (the label holds paths on
the machine that ran `compose up`, which need not be this one)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.compose.model import LABEL_CONFIG_FILES

_LIMIT = 1024 * 1024  # a compose file is small; a path naming something else is not read whole


@dataclass(frozen=True)
class ProjectYaml:
    text: str  # the files' contents, each under a "# path" line when there are several
    missing: tuple[tuple[str, str], ...]  # (path, why it could not be read)

    @property
    def problem(self) -> str:
        """What to tell the user when a file could not be read ("" when all were)."""
        if not self.missing:
            return ""
        paths = ", ".join(path for path, _ in self.missing)
        why = "; ".join(f"{path}: {reason}" for path, reason in self.missing)
        return (f"The compose file {paths} is not reachable from here ({why}). Compose records the path "
                "on the computer that ran `compose up`: open the file there, or copy it to this path.")


def config_files(labels: dict[str, str] | None) -> list[str]:
    """The compose files a container's labels point at (comma-separated, as Docker Compose writes)."""
    value = (labels or {}).get(LABEL_CONFIG_FILES, "")
    return [p.strip() for p in value.split(",") if p.strip()]


def read_project_yaml(files: list[str]) -> ProjectYaml:
    parts: list[str] = []
    missing: list[tuple[str, str]] = []
    if not files:
        return ProjectYaml("", (("(none)", "the project's containers name no compose file"),))
    for path in files:
        try:
            with open(Path(path), "rb") as source:
                data = source.read(_LIMIT + 1)
        except FileNotFoundError:
            missing.append((path, "no such file on this computer"))
            continue
        except IsADirectoryError:
            missing.append((path, "a folder, not a file"))
            continue
        except PermissionError:
            missing.append((path, "permission denied"))
            continue
        except OSError as exc:
            missing.append((path, exc.strerror or str(exc)))
            continue
        text = data[:_LIMIT].decode("utf-8", errors="replace")
        parts.append(f"# {path}\n{text}" if len(files) > 1 else text)
    return ProjectYaml("\n".join(parts), tuple(missing))
