"""The Run dialog's form as values: its create body and its `docker run` line (issue 22)."""

from __future__ import annotations

from typing import Any

import pytest

from app.dialogs.run_form import PortRow, RunForm, image_has_command, image_ports

pytestmark = pytest.mark.unit


def test_create_body_of_every_field() -> None:
    form = RunForm(
        image="busybox", name=" web ",
        ports=(PortRow("80", "8080"), PortRow("90/udp", "127.0.0.1:9000"), PortRow("443"),
               PortRow("8000", "", from_image=True), PortRow("5000", "5001", from_image=True)),
        volumes=(("data", "/data"), ("", "")), env=(("A", "1"), ("", ""), ("B", "two words")),
        command="sh -c 'echo hi'", entrypoint="/bin/sh", restart="unless-stopped", network="backend",
        labels=(("team", "web"),), platform="linux/arm64",
    )
    config = form.create_body()
    assert config["Cmd"] == ["sh", "-c", "echo hi"] and config["Entrypoint"] == ["/bin/sh"]
    host = config["HostConfig"]
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                    "90/udp": [{"HostIp": "127.0.0.1", "HostPort": "9000"}],
                                    "443/tcp": [{"HostIp": "", "HostPort": ""}],  # as docker run -p 443
                                    "5000/tcp": [{"HostIp": "", "HostPort": "5001"}]}
    assert "8000/tcp" in config["ExposedPorts"]  # the image's port left without a host port: not published
    assert host["Binds"] == ["data:/data"] and config["Env"] == ["A=1", "B=two words"]
    assert host["RestartPolicy"] == {"Name": "unless-stopped"} and host["NetworkMode"] == "backend"
    assert config["Labels"] == {"team": "web"} and "AutoRemove" not in host
    assert form.docker_run_line() == (
        "docker run -d --name web --restart unless-stopped --network backend --platform linux/arm64 "
        "-p 8080:80 -p 127.0.0.1:9000:90/udp -p 443 -p 5001:5000 -v data:/data -e A=1 -e 'B=two words' "
        "--label team=web --entrypoint /bin/sh busybox sh -c 'echo hi'")


def test_refusals_name_the_field() -> None:
    with pytest.raises(ValueError, match="ports"):
        RunForm("busybox", ports=(PortRow("http"),)).create_body()
    with pytest.raises(ValueError, match="ports: host port"):
        RunForm("busybox", ports=(PortRow("80", "x"),)).create_body()
    with pytest.raises(ValueError, match="volumes"):
        RunForm("busybox", volumes=(("data", "relative"),)).create_body()
    with pytest.raises(ValueError, match="environment"):
        RunForm("busybox", env=(("", "orphan"),)).create_body()
    with pytest.raises(ValueError, match="--rm"):
        RunForm("busybox", restart="always", remove=True).create_body()
    any_port = RunForm("busybox", ports=(PortRow("8080", "0", from_image=True),))
    assert any_port.create_body()["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "", "HostPort": ""}]}
    assert any_port.docker_run_line() == "docker run -d -p 8080 busybox"
    removed = RunForm("busybox", remove=True)
    assert removed.create_body()["HostConfig"] == {"AutoRemove": True}
    assert removed.docker_run_line() == "docker run -d --rm busybox"


def test_image_ports_and_command() -> None:
    image: dict[str, Any] = {"Config": {"ExposedPorts": {"8080/tcp": {}, "53/udp": {}, "443/tcp": {}}, "Cmd": None}}
    assert image_ports(image) == ["53/udp", "443", "8080"]
    assert not image_has_command(image)
    assert image_has_command({"Config": {"Entrypoint": ["/init"]}})
