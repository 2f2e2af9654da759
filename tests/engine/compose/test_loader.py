"""Loading compose files: interpolation, .env and env_file, -f merging, profiles, names, validation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.compose import ConfigError, load_project, normalize_project_name
from engine.compose.interpolation import MissingVariable, interpolate, parse_env_file
from engine.compose.loader import parse_port, parse_volume

pytestmark = pytest.mark.unit


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ("$A-${A}", "a-a"),
    ("${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", "d  d"),
    ("${UNSET:-${A}}", "a"),
    ("$$A $$ a$", "$A $ a$"),
    ("${A:+set}${UNSET:+set}${EMPTY+empty-is-set}", "setempty-is-set"),
    ("${A:?never evaluated ${UNSET:?nor this}}", "a"),
])
def test_interpolation_forms(text: str, expected: str) -> None:
    assert interpolate(text, {"A": "a", "EMPTY": ""}) == expected


def test_required_variable_names_where() -> None:
    with pytest.raises(MissingVariable, match=r"f\.yml: services\.web\.image: set TAG please"):
        interpolate("busybox:${TAG:?set TAG please}", {}, where="f.yml: services.web.image")


def test_env_file_syntax(tmp_path: Path) -> None:
    env = write(tmp_path / "x.env", """\
        # comment
        export A=1
        B = two words # trailing comment
        C="quoted ${A} \\n line"
        D='literal ${A}'
        E=${A}${A}
        FROM_SHELL
        NOT_IN_SHELL
        """)
    assert parse_env_file(env, {"FROM_SHELL": "s"}) == {
        "A": "1", "B": "two words", "C": "quoted 1 \n line", "D": "literal ${A}", "E": "11", "FROM_SHELL": "s"}


def test_dotenv_and_shell_interpolate_and_shell_wins(tmp_path: Path) -> None:
    write(tmp_path / "app" / ".env", "TAG=1.0\nPORT=8080\n")
    write(tmp_path / "app" / "compose.yaml", """\
        services:
          web:
            image: busybox:${TAG}
            ports: ["${PORT}:80"]
            environment: {GREETING: "${MISSING}"}
        """)
    project = load_project(cwd=tmp_path / "app", environ={"PORT": "9090"})
    web = project.services["web"].config
    assert web["image"] == "busybox:1.0"
    assert web["ports"] == [{"target": 80, "protocol": "tcp", "published": "9090"}]
    assert project.warnings == ['The "MISSING" variable is not set. Defaulting to a blank string.']


def test_service_env_file_and_environment(tmp_path: Path) -> None:
    write(tmp_path / "p" / "web.env", "A=from-file\nB=from-file\n")
    write(tmp_path / "p" / "compose.yaml", """\
        services:
          web:
            image: busybox
            env_file: web.env
            environment: [B=from-environment, FROM_SHELL, NOT_SET]
        """)
    project = load_project(cwd=tmp_path / "p", environ={"FROM_SHELL": "shell"})
    assert project.services["web"].config["environment"] == {"A": "from-file", "B": "from-environment",
                                                             "FROM_SHELL": "shell"}


def test_several_files_merge_with_compose_rules(tmp_path: Path) -> None:
    base = write(tmp_path / "p" / "compose.yaml", """\
        services:
          web:
            image: busybox
            command: ["sh", "-c", "one"]
            environment: {A: "1", B: "1"}
            ports: ["80"]
            volumes: ["./src:/src", "data:/data"]
            labels: [x=1]
        volumes:
          data:
        """)
    over = write(tmp_path / "p" / "override.yaml", """\
        services:
          web:
            command: echo two
            environment: [B=2]
            ports: ["81"]
            volumes: ["./other:/src"]
          cache:
            image: busybox
        """)
    project = load_project([base, over], environ={})
    web = project.services["web"].config
    assert web["command"] == ["echo", "two"]
    assert web["environment"] == {"A": "1", "B": "2"}
    assert [p["target"] for p in web["ports"]] == [80, 81]
    assert {v["target"]: v["source"] for v in web["volumes"]} == {
        "/src": str(tmp_path / "p" / "other"), "/data": "data"}
    assert web["labels"] == {"x": "1"}
    assert set(project.services) == {"web", "cache"}
    assert project.config_files == [base, over]


def test_default_override_file_is_merged(tmp_path: Path) -> None:
    write(tmp_path / "p" / "docker-compose.yml", "services: {web: {image: busybox}}\n")
    write(tmp_path / "p" / "docker-compose.override.yml", "services: {web: {image: busybox:2}}\n")
    (tmp_path / "p" / "sub").mkdir()
    project = load_project(cwd=tmp_path / "p" / "sub", environ={})  # found in a parent, as Compose does
    assert project.services["web"].image == "busybox:2"
    assert project.working_dir == tmp_path / "p"


@pytest.mark.parametrize(("directory", "expected"), [("My App.v2", "myappv2"), ("__x-Y_", "x-y_")])
def test_project_name_from_directory(directory: str, expected: str) -> None:
    assert normalize_project_name(directory) == expected


def test_project_name_precedence(tmp_path: Path) -> None:
    write(tmp_path / "Dir.Name" / "compose.yaml", "services: {web: {image: busybox}}\n")
    cwd = tmp_path / "Dir.Name"
    assert load_project(cwd=cwd, environ={}).name == "dirname"
    write(cwd / "compose.yaml", "name: fromfile\nservices: {web: {image: busybox}}\n")
    assert load_project(cwd=cwd, environ={}).name == "fromfile"
    assert load_project(cwd=cwd, environ={"COMPOSE_PROJECT_NAME": "fromenv"}).name == "fromenv"
    assert load_project(cwd=cwd, environ={"COMPOSE_PROJECT_NAME": "fromenv"}, project_name="flag").name == "flag"
    with pytest.raises(ConfigError, match="invalid project name 'Bad Name'"):
        load_project(cwd=cwd, environ={}, project_name="Bad Name")


def test_profiles_enable_services(tmp_path: Path) -> None:
    write(tmp_path / "p" / "compose.yaml", """\
        services:
          web: {image: busybox}
          debug: {image: busybox, profiles: [dev]}
          tools: {image: busybox, profiles: [dev, ops], depends_on: [debug]}
        """)
    cwd = tmp_path / "p"
    assert set(load_project(cwd=cwd, environ={}).services) == {"web"}
    assert set(load_project(cwd=cwd, environ={}, profiles=["dev"]).services) == {"web", "debug", "tools"}
    assert set(load_project(cwd=cwd, environ={"COMPOSE_PROFILES": "dev"}).services) == {"web", "debug", "tools"}
    # Named on the command line: enabled with what it depends on.
    assert set(load_project(cwd=cwd, environ={}, services=["tools"]).services) == {"web", "debug", "tools"}
    with pytest.raises(ConfigError, match="depends on 'debug', which is not enabled"):
        load_project(cwd=cwd, environ={}, profiles=["ops"])


def test_typo_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path / "p" / "compose.yaml", """\
        services:
          web:
            image: busybox
            enviroment: {A: 1}
        """)
    with pytest.raises(ConfigError) as info:
        load_project(cwd=tmp_path / "p", environ={})
    assert str(info.value) == f"{path}: services.web.enviroment: unknown key (not in the Compose Specification)"


def test_typo_in_second_file_names_that_file(tmp_path: Path) -> None:
    base = write(tmp_path / "p" / "compose.yaml", "services: {web: {image: busybox}}\n")
    over = write(tmp_path / "p" / "extra.yaml", "services: {web: {healthcheck: {test: x, intervl: 1s}}}\n")
    with pytest.raises(ConfigError, match=rf"^{over}: services\.web\.healthcheck\.intervl: unknown key"):
        load_project([base, over], environ={})


def test_wrong_type_and_bad_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "p" / "compose.yaml", "services: {web: {image: busybox, ports: 80}}\n")
    with pytest.raises(ConfigError, match=rf"{path}: services\.web\.ports: 80 is not of type 'array'"):
        load_project(cwd=tmp_path / "p", environ={})
    write(path, "services:\n  web: [\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+:\d+: invalid YAML"):
        load_project(cwd=tmp_path / "p", environ={})


def test_undefined_references(tmp_path: Path) -> None:
    path = write(tmp_path / "p" / "compose.yaml", "services: {web: {image: busybox, volumes: ['data:/d']}}\n")
    with pytest.raises(ConfigError, match="undefined volume 'data'"):
        load_project(cwd=tmp_path / "p", environ={})
    write(path, "services: {web: {image: busybox, networks: [front]}}\n")
    with pytest.raises(ConfigError, match="undefined network 'front'"):
        load_project(cwd=tmp_path / "p", environ={})
    write(path, "services: {web: {image: busybox, depends_on: [db]}}\n")
    with pytest.raises(ConfigError, match="depends on 'db', which is not defined"):
        load_project(cwd=tmp_path / "p", environ={})


def test_default_network_and_build_image_name(tmp_path: Path) -> None:
    write(tmp_path / "shop" / "compose.yaml", "services: {api: {build: ./api}}\n")
    project = load_project(cwd=tmp_path / "shop", environ={})
    api = project.services["api"]
    assert api.image == "shop-api"
    assert api.build == {"context": str(tmp_path / "shop" / "api")}
    assert api.networks == {"default": {}}
    assert project.network_name("default") == "shop_default"


def test_config_hash_ignores_scale_only(tmp_path: Path) -> None:
    path = write(tmp_path / "p" / "compose.yaml", "services: {web: {image: busybox, command: a}}\n")
    first = load_project(cwd=tmp_path / "p", environ={}).services["web"].config_hash()
    write(path, "services: {web: {image: busybox, command: a, deploy: {replicas: 3}}}\n")
    assert load_project(cwd=tmp_path / "p", environ={}).services["web"].config_hash() == first
    write(path, "services: {web: {image: busybox, command: b}}\n")
    assert load_project(cwd=tmp_path / "p", environ={}).services["web"].config_hash() != first


@pytest.mark.parametrize(("entry", "expected"), [
    ("80", [{"target": 80, "protocol": "tcp"}]),
    (8080, [{"target": 8080, "protocol": "tcp"}]),
    ("127.0.0.1:8080:80/udp", [{"target": 80, "protocol": "udp", "published": "8080", "host_ip": "127.0.0.1"}]),
    ("127.0.0.1::80", [{"target": 80, "protocol": "tcp", "host_ip": "127.0.0.1"}]),
    ("9000-9001:90-91", [{"target": 90, "protocol": "tcp", "published": "9000"},
                         {"target": 91, "protocol": "tcp", "published": "9001"}]),
    ({"target": 80, "published": 8000}, [{"target": 80, "protocol": "tcp", "published": "8000"}]),
])
def test_ports(entry: object, expected: list[dict[str, object]]) -> None:
    assert parse_port(entry) == expected


def test_volumes(tmp_path: Path) -> None:
    assert parse_volume("data:/d:ro", tmp_path) == {"type": "volume", "source": "data", "target": "/d",
                                                   "read_only": True}
    assert parse_volume("./src:/src", tmp_path)["source"] == str(tmp_path / "src")
    assert parse_volume("/anon", tmp_path) == {"type": "volume", "target": "/anon", "read_only": False}


def test_unsupported_features_are_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path / "p" / "compose.yaml", """\
        services:
          web: {image: busybox, extends: {file: other.yaml, service: base}}
        """)
    with pytest.raises(ConfigError, match=rf"{path}: services\.web\.extends: not supported"):
        load_project(cwd=tmp_path / "p", environ={})
