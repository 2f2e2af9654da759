from __future__ import annotations

from typing import Any

import pytest

from engine.errors import InvalidArgument
from engine.images.changes import DEFAULT_PATH, apply_changes
from engine.images.platform import Platform, host_platform, parse_platform


def applied(*changes: str) -> dict[str, Any]:
    config: dict[str, Any] = {"Env": [DEFAULT_PATH]}
    apply_changes(config, changes)
    return config


@pytest.mark.unit
def test_cmd_and_entrypoint_exec_and_shell_forms() -> None:
    assert applied('CMD ["/bin/sh", "-c", "echo hi"]')["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert applied("CMD echo hi")["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert applied('entrypoint ["/init"]')["Entrypoint"] == ["/init"]
    assert applied("CMD [not json")["Cmd"] == ["/bin/sh", "-c", "[not json"]


@pytest.mark.unit
def test_env_forms_and_override() -> None:
    env = applied('ENV A=1 B="two words"', "ENV C legacy value", "ENV A=3")["Env"]
    assert env == [DEFAULT_PATH, "B=two words", "C=legacy value", "A=3"]
    assert applied("ENV PATH=/x")["Env"] == ["PATH=/x"]


@pytest.mark.unit
def test_other_instructions() -> None:
    config = applied(
        "EXPOSE 80 53/udp 8000-8001",
        "LABEL a=b 'c d'=e",
        "USER app:app",
        "WORKDIR /srv",
        "WORKDIR data",
        "VOLUME /data /cache",
        'VOLUME ["/logs"]',
        "STOPSIGNAL SIGINT",
        "ONBUILD RUN make",
    )
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert config["Labels"] == {"a": "b", "c d": "e"}
    assert config["User"] == "app:app"
    assert config["WorkingDir"] == "/srv/data"
    assert config["Volumes"] == {"/data": {}, "/cache": {}, "/logs": {}}
    assert config["StopSignal"] == "SIGINT"
    assert config["OnBuild"] == ["RUN make"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN rm -rf /", "not a valid change command"),
        ("CMD", "requires at least one argument"),
        ("EXPOSE 99999", "invalid port range"),
        ("EXPOSE http", "invalid port"),
        ("ENV A=1 B", "expected KEY=VALUE"),
        ('LABEL a="unterminated', "LABEL"),
        ("VOLUME [1]", "array of strings"),
    ],
)
def test_bad_changes_rejected(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        applied(change)


@pytest.mark.unit
def test_platforms() -> None:
    host = host_platform()
    assert host.os == "linux" and host.architecture in {
        "amd64",
        "arm64",
        "arm",
        "386",
        "ppc64le",
        "s390x",
        "riscv64",
    }
    assert parse_platform(None) == host
    assert parse_platform("") == host
    assert parse_platform("linux/arm64") == Platform("linux", "arm64")
    assert parse_platform("linux/x86_64") == Platform("linux", "amd64")
    assert parse_platform("linux/arm/v6") == Platform("linux", "arm", "v6")
    assert str(parse_platform("linux/armhf")) == "linux/arm/v7"
    assert parse_platform("LINUX").architecture == host.architecture
    with pytest.raises(InvalidArgument, match="not supported"):
        parse_platform("windows/amd64")
    with pytest.raises(InvalidArgument, match=r'^"" is an invalid component of "linux//v7"'):
        parse_platform("linux//v7")
    # As containerd's platforms.Parse, which dockerd's words come from: an architecture alone is linux's
    assert parse_platform("arm64") == Platform("linux", "arm64")
    assert parse_platform("aarch64") == Platform("linux", "arm64")
    assert parse_platform("linux/arm64/v8") == Platform("linux", "arm64")
    with pytest.raises(InvalidArgument, match=r'^"foo": unknown operating system or architecture: invalid argument$'):
        parse_platform("foo")
    with pytest.raises(InvalidArgument, match="wildcards"):
        parse_platform("linux/*")
    with pytest.raises(InvalidArgument, match="cannot parse"):
        parse_platform("linux/arm/v7/x")
    with pytest.raises(InvalidArgument, match="not supported"):
        parse_platform("darwin")
