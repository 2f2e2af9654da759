"""The build context `EngineClient.build_image` sends: a folder as a tar, `.dockerignore` applied as
the docker CLI applies it (exclusions, `!` exceptions, the Dockerfile and the ignore file always
sent), a Dockerfile from outside the folder carried under a random name."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from engine.client import BuildContextError, EngineClientError, buildcontext
from engine.client.buildcontext import Dockerfile, locate_dockerfile, write_context

pytestmark = pytest.mark.unit


def make(root: Path, files: dict[str, str | None]) -> Path:
    """Files (None: an empty folder) under `root`."""
    for name, text in files.items():
        path = root / name
        if text is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


def tar_of(context: Path, dockerfile: str | Path = "Dockerfile") -> tarfile.TarFile:
    buffer = io.BytesIO()
    write_context(context, locate_dockerfile(context, dockerfile), buffer)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer)


def sent(context: Path, dockerfile: str | Path = "Dockerfile") -> dict[str, tarfile.TarInfo]:
    with tar_of(context, dockerfile) as tar:
        return {member.name: member for member in tar.getmembers()}


def text(tar: tarfile.TarFile, name: str) -> str:
    data = tar.extractfile(name)
    assert data is not None
    return data.read().decode()


def test_everything_is_sent_without_a_dockerignore(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"Dockerfile": "FROM scratch\n", "a.txt": "a", "sub/b.txt": "b", "empty": None})
    members = sent(ctx)
    assert sorted(members) == ["Dockerfile", "a.txt", "empty", "sub", "sub/b.txt"]
    assert members["sub"].isdir() and members["empty"].isdir()
    # Owned by root whoever runs the client, as the docker CLI sends it.
    assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}


def test_dockerignore_exclusions_and_exceptions(tmp_path: Path) -> None:
    ctx = make(tmp_path, {
        "Dockerfile": "FROM scratch\n",
        ".dockerignore": "# comment\n\n*.log\n!keep.log\nsecret\n!secret/public.txt\nnode_modules/\n"
                         "docs/**/*.md\n!docs/important.md\n/build\n",
        "app.py": "", "debug.log": "", "keep.log": "",
        "secret/key.pem": "", "secret/public.txt": "",
        "node_modules/x/index.js": "",
        "docs/a/b/notes.md": "", "docs/important.md": "", "docs/a/pic.png": "",
        "build/out.o": "", "src/build/kept.c": "",
    })
    names = set(sent(ctx))
    assert {"app.py", "keep.log", "secret/public.txt", "docs/important.md", "docs/a/pic.png",
            "src/build/kept.c", "Dockerfile", ".dockerignore"} <= names
    for gone in ("debug.log", "secret/key.pem", "node_modules", "node_modules/x/index.js", "docs/a/b/notes.md",
                 "build", "build/out.o"):
        assert gone not in names, gone
    # An excluded folder is not sent as such, only what an exception brings back below it.
    assert "secret" not in names


def test_the_dockerfile_and_dockerignore_are_sent_even_when_excluded(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"Dockerfile": "FROM scratch\n", ".dockerignore": "*\n!app\n", "app/main.c": "",
                          "other.txt": "", "ci/Dockerfile.ci": "FROM scratch\n"})
    assert set(sent(ctx)) == {"Dockerfile", ".dockerignore", "app", "app/main.c"}
    # Also a Dockerfile under an excluded folder, named relative to the folder.
    assert set(sent(ctx, "ci/Dockerfile.ci")) == {"ci/Dockerfile.ci", ".dockerignore", "app", "app/main.c"}


def test_a_dockerfile_outside_the_folder_travels_under_a_random_name(tmp_path: Path) -> None:
    ctx = make(tmp_path / "ctx", {".dockerignore": "*.tmp\n", "main.c": "", "x.tmp": ""})
    outside = tmp_path / "elsewhere" / "Dockerfile.dev"
    make(tmp_path, {"elsewhere/Dockerfile.dev": "FROM scratch\nCOPY . /\n"})
    located = locate_dockerfile(ctx, outside)
    assert not located.inside and located.name.startswith(".dockerfile.")
    with tar_of(ctx, outside) as tar:
        names = tar.getnames()
        random_name = next(name for name in names if name.startswith(".dockerfile."))
        assert set(names) == {random_name, ".dockerignore", "main.c"}
        assert text(tar, random_name) == "FROM scratch\nCOPY . /\n"
        # The engine drops both once read, so `COPY . /` does not copy them.
        assert text(tar, ".dockerignore").split() == ["*.tmp", ".dockerignore", random_name]


def test_an_absolute_dockerfile_inside_the_folder_keeps_its_name(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"docker/Dockerfile.prod": "FROM scratch\n"})
    assert locate_dockerfile(ctx, ctx / "docker" / "Dockerfile.prod") == Dockerfile(
        ctx / "docker" / "Dockerfile.prod", "docker/Dockerfile.prod", inside=True)


def test_a_lowercase_dockerfile_is_found_by_default(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"dockerfile": "FROM scratch\n"})
    assert locate_dockerfile(ctx).name == "dockerfile"


def test_symlinks_stay_links(tmp_path: Path) -> None:
    ctx = make(tmp_path / "ctx", {"Dockerfile": "FROM scratch\n", "real/file": "x"})
    os.symlink("real", ctx / "dirlink")
    os.symlink("/etc/passwd", ctx / "outside")
    members = sent(ctx)
    assert members["dirlink"].issym() and members["dirlink"].linkname == "real"
    assert members["outside"].issym() and members["outside"].linkname == "/etc/passwd"
    assert "dirlink/file" not in members


@pytest.mark.parametrize(("files", "dockerfile", "message"), [
    ({"main.c": ""}, "Dockerfile", "no Dockerfile in {ctx}"),
    ({"main.c": ""}, "Dockerfile.dev", "no Dockerfile.dev in {ctx}"),
    ({"Dockerfile": None}, "Dockerfile", "no Dockerfile in {ctx}: {ctx}/Dockerfile is not a file"),
    ({"Dockerfile": ""}, "/nowhere/Dockerfile", "no Dockerfile at /nowhere/Dockerfile"),
])
def test_a_missing_dockerfile_is_refused_before_anything_is_sent(
    tmp_path: Path, files: dict[str, str | None], dockerfile: str, message: str,
) -> None:
    ctx = make(tmp_path, files)
    with pytest.raises(BuildContextError) as caught:
        locate_dockerfile(ctx, dockerfile)
    assert caught.value.message == message.format(ctx=ctx)
    assert isinstance(caught.value, EngineClientError)  # callers handle it as any refusal


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildContextError, match="no such folder"):
        locate_dockerfile(tmp_path / "nope")
    (tmp_path / "file").write_text("")
    with pytest.raises(BuildContextError, match="must be a folder"):
        locate_dockerfile(tmp_path / "file")


def test_a_bad_pattern_is_named(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"Dockerfile": "FROM scratch\n", ".dockerignore": "[abc\n"})
    with pytest.raises(BuildContextError, match=r"\.dockerignore: invalid \.dockerignore pattern"):
        sent(ctx)


def test_an_unreadable_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = make(tmp_path, {"Dockerfile": "FROM scratch\n", "locked": "x"})
    real_open = open

    def refusing_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        # What a file the user cannot read does (root reads anything: chmod 0 would not do).
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(buildcontext, "open", refusing_open, raising=False)
    with pytest.raises(BuildContextError) as caught:
        sent(ctx)
    assert caught.value.message == f"cannot send {ctx}/locked to the engine: Permission denied"
