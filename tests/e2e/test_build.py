"""Dockerfile builds: a corpus built by berthd and by a stock dockerd must give the same images (files
and config); the real CLI's classic builder (`DOCKER_BUILDKIT=0`) against berthd, cache included."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import docker, ok
from tests.support.daemon import Berthd
from tests.support.peers import PrivateDockerd, dockerd_missing

pytestmark = pytest.mark.e2e

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONFIG_KEYS = ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Labels", "Volumes", "StopSignal",
               "Healthcheck", "OnBuild", "Shell")
# What the runtime makes in every container, never part of an image.
RUNTIME_PATHS = ("etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab", ".dockerenv")
RUNTIME_DIRS = ("dev", "proc", "sys")


def _tar_gz(entries: list[tuple[str, bytes | None, int, int, str]]) -> bytes:
    """(name, data or None for a dir, mode, uid, linkname) -> a gzipped tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data, mode, uid, link in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid, info.mtime = mode, uid, uid, 1_700_000_000
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# name -> (context files, build args, target); a file value of None is a directory.
CORPUS: dict[str, tuple[dict[str, bytes | str | None], dict[str, str], str]] = {
    "multistage": ({
        "Dockerfile": """\
FROM busybox AS build
WORKDIR /src
COPY src/ ./
RUN mkdir -p /out && cat a.txt sub/b.txt > /out/combined.txt && chmod 640 /out/combined.txt
RUN ln -s combined.txt /out/link && mkdir /out/empty

FROM busybox AS unused
RUN echo never > /never

FROM busybox
COPY --from=build /out/combined.txt /app/
COPY --from=build /out /copied-out
COPY --from=0 /src/sub /from-index/
CMD ["cat", "/app/combined.txt"]
""",
        "src/a.txt": "alpha\n", "src/sub/b.txt": "beta\n", "src/run.sh": "#!/bin/sh\necho run\n",
    }, {}, ""),
    "args": ({
        "Dockerfile": """\
ARG BASE=busybox
ARG VERSION=1.0
FROM ${BASE}
ARG VERSION
ARG EXTRA=default
ARG UNSET
ENV APP_VERSION=$VERSION OTHER="${UNSET:-fallback}"
RUN echo "$VERSION $EXTRA ${UNSET:-none}" > /version.txt
LABEL version=$VERSION extra="$EXTRA" 'quoted label'="a b"
ENV VERSION=from-env
RUN echo "$VERSION" > /shadowed.txt
""",
    }, {"EXTRA": "given"}, ""),
    "dockerignore": ({
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\nCOPY *.txt /glob/\n",
        ".dockerignore": "*.log\n!keep.log\nsecret/\ndocs/**/*.md\n!docs/important.md\n# a comment\n\n",
        "a.log": "a", "keep.log": "keep", "secret/x": "x", "docs/a/b.md": "b", "docs/important.md": "i",
        "docs/other.txt": "o", "main.txt": "main", "second.txt": "2", "empty-dir": None,
    }, {}, ""),
    "add-tar": ({
        "Dockerfile": """\
FROM busybox
ADD files.tar.gz /opt/
ADD plain.txt /opt/plain.txt
ADD raw.tar /raw/
COPY files.tar.gz /not-extracted/
""",
        "files.tar.gz": _tar_gz([("pkg", None, 0o750, 0, ""), ("pkg/bin.sh", b"#!/bin/sh\n", 0o755, 1000, ""),
                                 ("pkg/data.txt", b"data\n", 0o600, 0, ""), ("pkg/link", None, 0o777, 0, "data.txt")]),
        "plain.txt": "plain\n",
        "raw.tar": b"",
    }, {}, ""),
    "user-workdir": ({
        "Dockerfile": """\
FROM busybox
RUN mkdir /home/guest/work && chown guest:guest /home/guest/work
USER guest
WORKDIR /home/guest/work
RUN echo "$(id -u):$(id -g) $(pwd)" > whoami.txt && touch mine
USER root
WORKDIR sub/dir
COPY --chown=guest:users f.txt ./
COPY --chown=1000 f.txt /data/numeric/
WORKDIR /home/guest/work
USER guest:users
EXPOSE 8080 53/udp 9000-9001
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat whoami.txt"]
HEALTHCHECK --interval=5s --retries=2 CMD true
""",
        "f.txt": "file\n",
    }, {}, ""),
    "directives": ({
        "Dockerfile": """\
# escape=`
# a comment after the directive

FROM busybox
# comments between instructions
RUN echo first `
    second `
# a comment inside a continuation
    third > /continued.txt
SHELL ["/bin/sh", "-ec"]
RUN echo "shell form via SHELL" > /shell.txt
ENV A=1 `
    B=2
VOLUME ["/vol/a", "/vol/b"]
ONBUILD RUN echo triggered
CMD echo shell form cmd
""",
    }, {}, ""),
    "target": ({
        "Dockerfile": """\
FROM busybox AS base
RUN echo base > /base.txt
FROM base AS tested
RUN echo tested > /tested.txt
FROM busybox AS final
RUN echo final > /final.txt
""",
    }, {}, "tested"),
}

HEREDOC_CASE: dict[str, bytes | str | None] = {
    "Dockerfile": """\
FROM busybox
RUN <<EOF
echo one > /one.txt
echo two >> /one.txt
EOF
RUN cat > /two.txt <<'END'
literal $HOME
END
COPY <<EOF /etc/greeting
hello
EOF
""",
}
HEREDOC_EQUIVALENT: dict[str, bytes | str | None] = {
    "Dockerfile": """\
FROM busybox
RUN echo one > /one.txt && echo two >> /one.txt
RUN printf '%s\\n' 'literal $HOME' > /two.txt
COPY greeting /etc/greeting
""",
    "greeting": "hello\n",
}


def _write_context(dest: Path, files: dict[str, bytes | str | None]) -> Path:
    for name, content in files.items():
        path = dest / name
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "raw.tar":
            with tarfile.open(path, "w") as tar:
                info = tarfile.TarInfo("inner/raw.txt")
                info.size, info.mode = 4, 0o644
                tar.addfile(info, io.BytesIO(b"raw\n"))
            continue
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    if (dest / "src/run.sh").exists():
        os.chmod(dest / "src/run.sh", 0o755)
    return dest


def _env(url: str, base: Path, buildkit: bool = False) -> dict[str, str]:
    env = dict(os.environ, DOCKER_HOST=url, DOCKER_CONFIG=str(base / "docker-config"))
    env.pop("DOCKER_CONTEXT", None)
    env["DOCKER_BUILDKIT"] = "1" if buildkit else "0"
    return env


def _build(env: dict[str, str], ctx: Path, tag: str, args: dict[str, str], target: str = "",
           extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    cmd = ["build", "-t", tag, *extra]
    for k, v in args.items():
        cmd += ["--build-arg", f"{k}={v}"]
    if target:
        cmd += ["--target", target]
    return docker(env, *cmd, str(ctx), timeout=180)


def _files(env: dict[str, str], image: str) -> dict[str, tuple[Any, ...]]:
    """The image's files as `docker export` gives them: path -> (type, mode, uid, gid, link, content hash)."""
    cid = ok(env, "create", image, "true")
    try:
        data = subprocess.run(["docker", "export", cid], env=env, capture_output=True, timeout=60, check=True).stdout
    finally:
        docker(env, "rm", "-f", cid)
    out: dict[str, tuple[Any, ...]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            name = m.name.removeprefix("./").strip("/")
            if not name or name in RUNTIME_PATHS or name.split("/")[0] in RUNTIME_DIRS:
                continue
            digest = ""
            if m.isreg():
                f = tar.extractfile(m)
                digest = hashlib.sha256(f.read() if f else b"").hexdigest()[:16]
            link = m.linkname if m.issym() else ""
            kind = "file" if m.isreg() or m.islnk() else m.type.decode()
            out[name] = (kind, oct(m.mode & 0o7777), m.uid, m.gid, link, digest)
    return out


def _config(env: dict[str, str], image: str) -> dict[str, Any]:
    cfg = json.loads(ok(env, "image", "inspect", image))[0]["Config"]
    return {k: cfg.get(k) or None for k in CONFIG_KEYS}


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path, docker_cli: str) -> Iterator[PrivateDockerd]:
    missing = dockerd_missing()
    if missing:
        pytest.skip(missing)
    peer = PrivateDockerd(Path(tmp_path_factory.mktemp("dockerd", numbered=True)))
    try:
        peer.start()
        env = _env(peer.url, peer.base)
        ok(env, "import", "--change", f"ENV {PATH_ENV}", str(busybox_tar), "busybox:latest")
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def berth_env(berthd: Berthd, busybox_image: str) -> Iterator[dict[str, str]]:
    env = _env(berthd.url, berthd.base)
    yield env
    for tag in ok(env, "images", "--format", "{{.Repository}}:{{.Tag}}").split():
        if tag.startswith(("corpus-", "cli-build")):
            docker(env, "rmi", tag)


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_corpus_matches_dockerd(case: str, dockerd: PrivateDockerd, berth_env: dict[str, str],
                                tmp_path: Path) -> None:
    files, args, target = CORPUS[case]
    ctx = _write_context(tmp_path / "ctx", files)
    docker_env = _env(dockerd.url, dockerd.base)
    tag = f"corpus-{case}:latest"
    theirs = _build(docker_env, ctx, tag, args, target)
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    ours = _build(berth_env, ctx, tag, args, target)
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert _config(berth_env, tag) == _config(docker_env, tag)
    _same_files(_files(berth_env, tag), _files(docker_env, tag))


def _same_files(ours: dict[str, tuple[Any, ...]], theirs: dict[str, tuple[Any, ...]]) -> None:
    differ = {k: (ours.get(k), theirs.get(k)) for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)}
    assert not differ, "\n".join(f"{k}: berth {a} dockerd {b}" for k, (a, b) in differ.items())


def test_heredoc_matches_dockerd_equivalent(dockerd: PrivateDockerd, berth_env: dict[str, str],
                                            tmp_path: Path) -> None:
    """Heredocs are BuildKit syntax: dockerd's classic builder refuses them, and its BuildKit needs the buildx
    plugin this CLI lacks. So dockerd builds the heredoc-free translation, which must give the same files."""
    ctx = _write_context(tmp_path / "ctx", HEREDOC_CASE)
    ours = _build(berth_env, ctx, "corpus-heredoc", {})
    assert ours.returncode == 0, ours.stdout + ours.stderr
    plain = _write_context(tmp_path / "plain", HEREDOC_EQUIVALENT)
    docker_env = _env(dockerd.url, dockerd.base)
    theirs = _build(docker_env, plain, "corpus-heredoc", {})
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    _same_files(_files(berth_env, "corpus-heredoc"), _files(docker_env, "corpus-heredoc"))
    assert ok(berth_env, "run", "--rm", "corpus-heredoc", "cat", "/one.txt", "/two.txt", "/etc/greeting").split(
        "\n") == ["one", "two", "literal $HOME", "hello"]


CLI_DOCKERFILE = """\
FROM busybox
ARG NAME=berth
ENV GREETING="hello $NAME"
WORKDIR /app
COPY app/ ./
ADD data.txt /data/
RUN echo "$GREETING" > out.txt
LABEL stage=cli
USER guest
CMD ["cat", "/app/out.txt"]
"""


def _steps(output: str) -> tuple[int, int]:
    """(steps after FROM, steps reported as cached)."""
    lines = output.splitlines()
    steps = sum(1 for line in lines if line.startswith("Step ") and " : FROM " not in line)
    return steps, sum(1 for line in lines if line.strip() == "---> Using cache")


def test_cli_build_then_rebuild_is_all_cached(berth_env: dict[str, str], docker_cli: str, tmp_path: Path) -> None:
    ctx = _write_context(tmp_path / "ctx", {"Dockerfile": CLI_DOCKERFILE, "app/main.sh": "echo main\n",
                                            "data.txt": "data\n"})
    first = _build(berth_env, ctx, "cli-build:1", {}, extra=("-t", "cli-build:2", "--label", "extra=yes"))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Successfully tagged cli-build:1" in first.stdout and "Successfully tagged cli-build:2" in first.stdout
    assert " ---> Running in " in first.stdout
    assert ok(berth_env, "run", "--rm", "cli-build:1") == "hello berth"
    inspect = json.loads(ok(berth_env, "image", "inspect", "cli-build:2"))[0]
    assert inspect["Config"]["Labels"] == {"stage": "cli", "extra": "yes"}
    assert inspect["Config"]["User"] == "guest"
    # Same context, fresh mtimes: content decides, every step after FROM comes from the cache.
    os.utime(ctx / "app/main.sh", (1, 1))
    second = _build(berth_env, ctx, "cli-build:1", {}, extra=("-t", "cli-build:2", "--label", "extra=yes"))
    assert second.returncode == 0, second.stderr
    steps, cached = _steps(second.stdout)
    assert steps == 10 and cached == steps, second.stdout
    assert " ---> Running in " not in second.stdout
    assert ok(berth_env, "image", "inspect", "-f", "{{.Id}}", "cli-build:1") == inspect["Id"]
    # A changed file: the cache holds up to the COPY, not after it.
    (ctx / "app/main.sh").write_text("echo changed\n")
    third = _build(berth_env, ctx, "cli-build:1", {})
    steps, cached = _steps(third.stdout)
    assert third.returncode == 0 and cached == 3, third.stdout
    # --no-cache and a build arg: nothing from the cache.
    fourth = _build(berth_env, ctx, "cli-build:1", {"NAME": "you"}, extra=("--no-cache", "-q"))
    assert fourth.returncode == 0, fourth.stderr
    assert fourth.stdout.strip().startswith("sha256:")
    assert ok(berth_env, "run", "--rm", "cli-build:1") == "hello you"


def test_cli_build_errors_name_the_line(berth_env: dict[str, str], docker_cli: str, tmp_path: Path) -> None:
    ctx = _write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN true\nRUN exit 3\n"})
    out = _build(berth_env, ctx, "cli-build:fail", {})
    assert out.returncode != 0
    # The classic builder's exact words for a failed RUN (tools match them); other errors name the line.
    assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3\n" in out.stderr
    ctx2 = _write_context(tmp_path / "ctx2", {"Dockerfile": "FROM busybox\n\nCOPY missing.txt /\n"})
    out = _build(berth_env, ctx2, "cli-build:fail", {})
    assert out.returncode != 0
    assert "missing.txt" in out.stderr and "Dockerfile line 3" in out.stderr
    ctx3 = _write_context(tmp_path / "ctx3", {"Dockerfile": "FROM busybox\nBOGUS x\n"})
    out = _build(berth_env, ctx3, "cli-build:fail", {})
    assert "Dockerfile parse error line 2: unknown instruction: BOGUS" in out.stderr
    ctx4 = _write_context(tmp_path / "ctx4", {"Dockerfile": "FROM busybox\nADD http://192.0.2.1/file /\n"})
    out = _build(berth_env, ctx4, "cli-build:fail", {})
    assert "downloads only from loopback" in out.stderr
    # No build container is left behind.
    assert ok(berth_env, "ps", "-a", "-q") == ""


def test_a_build_whose_client_left_stops_and_leaves_no_container(berth_env: dict[str, str],
                                                                  berthd: Berthd) -> None:
    """A client gone during a quiet RUN step: the build ends within seconds, not at its next line,
    and its step container is removed."""
    import socket
    import time

    token = os.urandom(6).hex()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        text = f"FROM busybox:latest\nRUN echo {token} && sleep 60\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    body = context.getvalue()
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(berthd.socket))
        client.sendall(f"POST /v1.45/build?t=cli-build-abandoned:{token} HTTP/1.1\r\nHost: berthd\r\n"
                       f"Content-Type: application/x-tar\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        client.settimeout(30)
        seen = b""
        while token.encode() not in seen.split(b"Step 2/2", 1)[-1].replace(b"RUN echo " + token.encode(), b""):
            chunk = client.recv(65536)
            assert chunk, seen
            seen += chunk
    # The step is sleeping now and writes nothing more: its client is gone.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        steps = [c for c in berthd.api.json("GET", "/containers/json?all=1") if token in json.dumps(c)]
        running = subprocess.run(["pgrep", "-f", f"echo {token}"], capture_output=True).returncode == 0
        if not steps and not running:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the abandoned build still runs: containers {steps}, process alive {running}")


def _api_build(berthd: Berthd, dockerfile: str, query: str = "") -> list[dict[str, Any]]:
    """POST /build with a context holding only `dockerfile`: the stream's JSON lines."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    status, _, body = berthd.api.request("POST", f"/v1.45/build?{query}", context.getvalue(),
                                         {"Content-Type": "application/x-tar"})
    assert status == 200, body
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def _using_cache(lines: list[dict[str, Any]]) -> int:
    return sum(" ---> Using cache" in str(line.get("stream", "")) for line in lines)


def test_run_stderr_and_failures_as_the_classic_builder_streams_them(berth_env: dict[str, str],
                                                                      berthd: Berthd) -> None:
    """A RUN's stderr is painted red write by write; a failed RUN's last line carries its exit
    status as errorDetail.code and the classic builder's exact words (docker-py reads both)."""
    lines = _api_build(berthd, "FROM busybox\nRUN sh -c '>&2 echo to-stderr; echo to-stdout'\nRUN exit 3\n",
                       "nocache=1")
    streams = [str(line.get("stream", "")) for line in lines]
    assert "\x1b[91mto-stderr\n\x1b[0m" in streams
    assert "to-stdout\n" in streams
    message = "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    assert lines[-1] == {"errorDetail": {"code": 3, "message": message}, "error": message}
    # Header and newline apart; the failed step's container is not announced as removed.
    header = streams.index("Step 3/3 : RUN exit 3")
    assert streams[header + 1] == "\n" and streams[header + 2].startswith(" ---> Running in ")
    assert lines[header + 3] == lines[-1]


def test_run_steps_networking(berth_env: dict[str, str], berthd: Berthd) -> None:
    """`docker build --network` (a user network's aliases resolve, none has no network, an unknown
    one fails with dockerd's words) and `--add-host` in RUN steps' /etc/hosts."""
    net = f"build-net-{os.urandom(3).hex()}"
    ok(berth_env, "network", "create", net)
    target = ok(berth_env, "run", "-d", "--network", net, "--network-alias", "pingtarget.build", "busybox",
                "sleep", "300")
    try:
        ping = "FROM busybox\nRUN ping -c1 -W2 pingtarget.build\n"
        out = docker(berth_env, "build", "--no-cache", "--network", net, "-t", "cli-build:net", "-", input=ping)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "1 packets received" in out.stdout
        lines = _api_build(berthd, ping, "nocache=1&networkmode=none")
        assert lines[-1]["errorDetail"]["code"] == 1, lines
        lines = _api_build(berthd, ping, "nocache=1&networkmode=no-such-network")
        assert lines[-1] == {"errorDetail": {"message": "network no-such-network not found"},
                             "error": "network no-such-network not found"}, lines
    finally:
        docker(berth_env, "rm", "-f", target)
        docker(berth_env, "network", "rm", net)
    hosts = "FROM busybox\nRUN ping -c1 -W2 extrahost.build.test && cp /etc/hosts /hosts-file\n"
    out = docker(berth_env, "build", "--no-cache", "--add-host", "extrahost.build.test:127.0.0.1",
                 "-t", "cli-build:hosts", "-", input=hosts)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "127.0.0.1\textrahost.build.test" in ok(berth_env, "run", "--rm", "cli-build:hosts", "cat", "/hosts-file")


def test_cache_from_limits_and_restores_the_cache(berth_env: dict[str, str], berthd: Berthd,
                                                  tmp_path: Path) -> None:
    """`--cache-from`: only the given images' chains are cache (an unknown name: nothing cached),
    and an image loaded from an archive, without its step images, answers every step by its
    history, ending on that very image."""
    dockerfile = f"FROM busybox\nENV TOKEN={os.urandom(4).hex()}\nRUN echo one > /one\nRUN echo two > /two\n"
    first = _api_build(berthd, dockerfile, "t=cli-build:cache-src")
    assert "error" not in first[-1], first
    source_id = ok(berth_env, "image", "inspect", "-f", "{{.Id}}", "cli-build:cache-src")
    assert _using_cache(_api_build(berthd, dockerfile, "cachefrom=%5B%22cli-build%3Acache-src%22%5D")) == 3
    assert _using_cache(_api_build(berthd, dockerfile, "cachefrom=%5B%22no-such-tag%22%5D")) == 0
    # Away with the image and every step image, then back from an archive: the image alone.
    archive = tmp_path / "src.tar"
    ok(berth_env, "save", "-o", str(archive), "cli-build:cache-src")
    ok(berth_env, "rmi", "cli-build:cache-src")
    assert source_id not in ok(berth_env, "images", "-a", "-q", "--no-trunc")
    ok(berth_env, "load", "-i", str(archive))
    assert ok(berth_env, "image", "inspect", "-f", "{{.Parent}}", "cli-build:cache-src") == ""
    out = docker(berth_env, "build", "--cache-from", "cli-build:cache-src", "-t", "cli-build:cache-dst", "-",
                 input=dockerfile)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(" ---> Using cache") == 3, out.stdout
    assert ok(berth_env, "image", "inspect", "-f", "{{.Id}}", "cli-build:cache-dst") == source_id
    assert ok(berth_env, "run", "--rm", "cli-build:cache-dst", "cat", "/one", "/two") == "one\ntwo"


def test_step_images_hidden_from_images_and_inspected_as_dockerd_20_10(berth_env: dict[str, str],
                                                                          berthd: Berthd) -> None:
    """The classic builder's step images: hidden from `docker images` but not `-a`; inspected
    with the step's Container and ContainerConfig at every API version (docker-compose 1.29
    negotiates the newest and reads them); history in the classic builder's words."""
    dockerfile = f"FROM busybox\nARG X\nENV TOKEN={os.urandom(4).hex()}\nRUN echo x > /x\nCMD [\"echo\", \"hi\"]\n"
    out = docker(berth_env, "build", "--build-arg", "X=1", "-t", "cli-build:steps", "-", input=dockerfile)
    assert out.returncode == 0, out.stdout + out.stderr
    final = berthd.api.json("GET", "/v1.41/images/cli-build:steps/json")
    run_step = berthd.api.json("GET", f"/v1.41/images/{final['Parent']}/json")
    listed = ok(berth_env, "images", "-q", "--no-trunc").split()
    assert final["Id"] in listed and run_step["Id"] not in listed
    every = set(ok(berth_env, "images", "-a", "-q", "--no-trunc").split())
    assert run_step["Id"] in every
    assert berthd.api.json("GET", "/info")["Images"] == len(every)  # dockerd counts step images too

    assert final["Container"] == "" and final["ContainerConfig"]["Cmd"] == ["/bin/sh", "-c", "#(nop) ",
                                                                            'CMD ["echo" "hi"]']
    assert final["ContainerConfig"]["Image"] == run_step["Id"] and final["VirtualSize"] == final["Size"]
    assert final["DockerVersion"]
    assert run_step["ContainerConfig"]["Cmd"] == ["|1", "X=1", "/bin/sh", "-c", "echo x > /x"]
    assert run_step["Container"] and run_step["ContainerConfig"]["Hostname"] == run_step["Container"][:12]
    newest = berthd.api.json("GET", "/v1.45/images/cli-build:steps/json")
    assert newest["ContainerConfig"] == final["ContainerConfig"] and "VirtualSize" not in newest
    summary = berthd.api.json("GET", "/v1.43/images/json?filters=%7B%22reference%22%3A%5B%22cli-build%3Asteps%22%5D%7D")
    assert [s["VirtualSize"] for s in summary] == [final["Size"]]
    assert "VirtualSize" not in berthd.api.json("GET", "/v1.44/images/json")[0]
    assert ok(berth_env, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "cli-build:steps").split("\n")[:2] == [
        '/bin/sh -c #(nop)  CMD ["echo" "hi"]', "|1 X=1 /bin/sh -c echo x > /x"]
