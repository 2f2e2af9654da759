"""docker-py, a real client, against berthd: what it reads back and relies on is what dockerd gives.

Each test is a behaviour docker-py's own suite found short (shared/conformance), written here
with our own containers so it runs on a user's clone too.
"""

from __future__ import annotations

import io
import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import APIError

pytestmark = pytest.mark.integration

LABEL = "berth.test=docker-py-client"


@pytest.fixture
def client(berthd, busybox_image: str) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=berthd.url, version="1.45", timeout=60)
    try:
        yield c
    finally:
        for ctr in c.containers.list(all=True, filters={"label": LABEL}):
            ctr.remove(force=True, v=True)
        for vol in c.volumes.list(filters={"label": LABEL}):
            vol.remove(force=True)
        c.close()


def run(client: docker.DockerClient, command: str | list[str], **kwargs: object) -> bytes:
    out = client.containers.run("busybox", command, labels={"berth.test": "docker-py-client"}, **kwargs)
    assert isinstance(out, bytes)
    return out


def create(client: docker.DockerClient, command: str | list[str],
           **kwargs: object) -> docker.models.containers.Container:
    return client.containers.create("busybox", command, labels={"berth.test": "docker-py-client"}, **kwargs)


def one_file_tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_run_returns_the_output_and_none_keeps_no_log(client: docker.DockerClient) -> None:
    assert run(client, "echo hello world") == b"hello world\n"
    assert run(client, ["sh", "-c", "echo out; echo err >&2"], stderr=True) == b"out\nerr\n"
    # the none driver: run() has no log to read, and logs are refused as dockerd refuses them
    assert client.containers.run("busybox", "echo hi", log_config={"type": "none"},
                                 labels={"berth.test": "docker-py-client"}) is None
    quiet = create(client, "echo hi", log_config={"type": "none"})
    with pytest.raises(APIError) as refused:
        quiet.logs()
    assert refused.value.status_code == 501
    assert refused.value.explanation == "configured logging driver does not support reading"


def test_inspect_reports_host_config_and_config_as_dockerd(client: docker.DockerClient) -> None:
    ctr = create(client, "true", tmpfs={"/scratch": "size=1m"}, environment=["Foo", "Other=one", "Blank="])
    hc, cfg = ctr.attrs["HostConfig"], ctr.attrs["Config"]
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert hc["Runtime"] in ("runc", "crun")
    assert (hc["IpcMode"], hc["PidMode"], hc["UsernsMode"], hc["Privileged"]) == ("private", "", "", False)
    assert hc["ShmSize"] == 64 * 1024 * 1024 and hc["Isolation"] == ""
    assert hc["Tmpfs"] == {"/scratch": "size=1m"}
    assert [m for m in ctr.attrs["Mounts"] if m["Destination"] == "/scratch"] == []  # as dockerd
    assert {"Foo", "Other=one", "Blank="} <= set(cfg["Env"])
    for key in ("Domainname", "User", "WorkingDir", "OnBuild", "Volumes", "Entrypoint"):
        assert key in cfg
    opts = create(client, "true", log_config={"type": "json-file", "config": {"max-file": "100"}})
    assert opts.attrs["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "100"}}


def test_bad_log_driver_and_runtime_refused_in_dockerds_words(client: docker.DockerClient) -> None:
    with pytest.raises(APIError) as bad_driver:
        create(client, "true", log_config={"type": "asdf"})
    assert bad_driver.value.explanation == "logger: no log driver named 'asdf' is registered"
    with pytest.raises(APIError) as bad_runtime:
        create(client, "true", runtime="kata")
    assert bad_runtime.value.status_code == 400
    assert "Unknown runtime specified kata" in str(bad_runtime.value.explanation)


def test_a_bare_variable_name_unsets_it(client: docker.DockerClient) -> None:
    out = run(client, ["sh", "-c", "env | sort"], environment=["HOSTNAME", "Other=one"])
    assert b"Other=one\n" in out and b"HOSTNAME=" not in out


def test_kill_returns_once_the_container_exited_with_137(client: docker.DockerClient) -> None:
    ctr = create(client, "sleep 300")
    ctr.start()
    ctr.kill()
    ctr.reload()
    assert (ctr.status, ctr.attrs["State"]["ExitCode"]) == ("exited", 137)
    assert ctr.wait()["StatusCode"] == 137
    ctr.remove()


def test_archive_of_created_and_exited_containers_includes_their_volumes(client: docker.DockerClient) -> None:
    # into a container that never ran, inside a volume; the file has no final newline
    ctr = create(client, "cat /vol1/song", volumes=["/vol1"])
    assert ctr.put_archive("/vol1", one_file_tar("song", b"Deaf To All But The Song"))
    ctr.start()
    assert ctr.wait()["StatusCode"] == 0
    assert ctr.logs() == b"Deaf To All But The Song"
    # out of an exited one
    writer = create(client, ["sh", "-c", "echo -n data > /vol1/data.txt"], volumes=["/vol1"])
    writer.start()
    writer.wait()
    stream, stat = writer.get_archive("/vol1/data.txt")
    assert (stat["name"], stat["size"]) == ("data.txt", 4)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile("data.txt")
        assert member is not None and member.read() == b"data"


def test_attach_with_logs_replays_what_was_printed(client: docker.DockerClient) -> None:
    ctr = create(client, "echo hello")
    ctr.start()
    ctr.wait()
    assert ctr.attach(stream=False, logs=True) == b"hello\n"


def test_attach_output_waits_for_a_client_that_reads_the_upgrade_late(berthd, client: docker.DockerClient) -> None:
    """docker-py reads the 101 through a buffered file, then takes the bare socket: output that
    arrived together with the headers stayed in that buffer and was lost. The client here reads
    the headers 50 ms late, as a loaded machine does, the way docker-py does."""
    ctr = create(client, "echo hello")
    ctr.start()
    ctr.wait()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    try:
        sock.connect(str(berthd.socket))
        sock.sendall(f"POST /v1.45/containers/{ctr.id}/attach?logs=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                     "Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode())
        time.sleep(0.05)
        with sock.makefile("rb") as headers:  # buffered, as http.client reads a response
            assert headers.readline().startswith(b"HTTP/1.1 101")
            while headers.readline() not in (b"\r\n", b""):
                pass
        data = b""
        while chunk := sock.recv(4096):  # the bare socket, as docker-py's attach reads it
            data += chunk
        assert data == b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n"
    finally:
        sock.close()


def test_exec_terminal_comes_from_create_and_framing_from_start(client: docker.DockerClient) -> None:
    ctr = create(client, "cat", stdin_open=True)
    ctr.start()
    api = client.api
    exec_id = api.exec_create(ctr.id, ["sh", "-c", "echo out; echo err >&2"], tty=True)
    # Tty false at start: multiplexed frames, all on stdout, with a terminal's \r\n
    assert api.exec_start(exec_id, demux=True) == (b"out\r\nerr\r\n", None)
    plain = api.exec_create(ctr.id, ["sh", "-c", "echo out; echo err >&2"])
    assert api.exec_start(plain, demux=True) == (b"out\n", b"err\n")


def test_legacy_links_give_env_hosts_and_names_and_can_be_removed(client: docker.DockerClient) -> None:
    db = create(client, "cat", stdin_open=True, environment={"FOO": "1"}, ports={"5432/tcp": None})
    db.start()
    db.reload()
    address = db.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    app = create(client, ["sh", "-c", "env; cat /etc/hosts; sleep 300"], links={db.name: "mydb"})
    app.start()
    deadline = time.monotonic() + 10
    while b"mydb" not in app.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    out = app.logs().decode()
    assert f"MYDB_NAME=/{app.name}/mydb" in out
    assert "MYDB_ENV_FOO=1" in out
    assert f"MYDB_PORT=tcp://{address}:5432" in out and f"MYDB_PORT_5432_TCP_ADDR={address}" in out
    assert any(line.split()[:2] == [address, "mydb"] for line in out.splitlines())
    app.reload()
    assert app.attrs["HostConfig"]["Links"] == [f"/{db.name}:/{app.name}/mydb"]
    names = {n for c in client.api.containers(all=True) if c["Id"] == db.id for n in c["Names"]}
    assert names == {f"/{db.name}", f"/{app.name}/mydb"}
    client.api.remove_container(f"{app.name}/mydb", link=True)
    names = {n for c in client.api.containers(all=True) if c["Id"] == db.id for n in c["Names"]}
    assert names == {f"/{db.name}"}
    assert {c["Id"] for c in client.api.containers(all=True)} >= {db.id, app.id}


def test_volume_subpath_mounts_the_subdirectory(client: docker.DockerClient) -> None:
    client.volumes.create("berth-subpath-test", labels={"berth.test": "docker-py-client"})
    run(client, ["sh", "-c", "mkdir -p /v/sub && echo inner > /v/sub/file"], remove=True,
        volumes={"berth-subpath-test": {"bind": "/v", "mode": "rw"}})
    mount = docker.types.Mount("/mnt", "berth-subpath-test", type="volume", subpath="sub")
    assert run(client, "cat /mnt/file", mounts=[mount], remove=True) == b"inner\n"
    escape = docker.types.Mount("/mnt", "berth-subpath-test", type="volume", subpath="../..")
    with pytest.raises(APIError, match="must be a relative path within the volume"):
        create(client, "true", mounts=[escape])


def test_body_keys_match_without_regard_to_case_as_in_dockerd(client: docker.DockerClient) -> None:
    # docker-py sends exec's detach keys as `detachKeys` (Go's JSON decoding accepts any case)
    ctr = create(client, "cat", stdin_open=True)
    ctr.start()
    api = client.api
    api._general_configs["detachKeys"] = "ctrl-p"
    exec_id = api.exec_create(ctr.id, "cat", stdin=True, tty=True, stdout=True)
    assert api.exec_inspect(exec_id)["DetachKeys"] == "ctrl-p"
    sock = api.exec_start(exec_id, tty=True, socket=True)
    raw = sock._sock
    try:
        raw.settimeout(10)
        raw.sendall(b"\x10")  # ctrl-p: the client detaches, berthd ends the stream
        deadline = time.monotonic() + 10
        while raw.recv(128) and time.monotonic() < deadline:
            pass
        assert time.monotonic() < deadline
    finally:
        sock.close()
        raw.close()
    lower = api._post_json(api._url("/containers/create"), data={"image": "busybox", "cmd": ["true"],
                                                                 "labels": {"berth.test": "docker-py-client"}})
    assert lower.status_code == 201, lower.text


def test_pid_ipc_and_uts_namespaces_shared_as_asked(client: docker.DockerClient) -> None:
    host = create(client, "sleep 300", network_mode="none", ipc_mode="shareable")
    host.start()
    ps = run(client, "ps -o comm", pid_mode=f"container:{host.id}", ipc_mode=f"container:{host.name}",
             network_mode="none", remove=True)
    assert b"sleep" in ps  # it sees the other container's processes
    host_ns = run(client, ["readlink", "/proc/1/ns/ipc"], pid_mode=f"container:{host.id}",
                  ipc_mode=f"container:{host.id}", network_mode="none", remove=True)
    own_ns = run(client, ["readlink", "/proc/self/ns/ipc"], pid_mode=f"container:{host.id}",
                 ipc_mode=f"container:{host.id}", network_mode="none", remove=True)
    assert host_ns == own_ns
    assert run(client, "hostname", uts_mode="host", network_mode="none", remove=True) == (
        socket.gethostname().encode() + b"\n")
    with pytest.raises(APIError, match="invalid IpcMode 'bogus'"):
        create(client, "true", ipc_mode="bogus")


def test_an_auto_remove_container_that_cannot_start_is_removed(client: docker.DockerClient) -> None:
    ctr = create(client, "/nonexistent", auto_remove=True, network_mode="none")
    with pytest.raises(APIError):
        ctr.start()
    assert ctr.id not in {c.id for c in client.containers.list(all=True)}


def test_healthcheck_reported_with_only_the_keys_sent(client: docker.DockerClient) -> None:
    ctr = create(client, "sleep 1", healthcheck={"test": ["CMD", "true"], "interval": 5_000_000_000})
    assert ctr.attrs["Config"]["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000}


def test_volumes_from_shares_volumes_and_binds(client: docker.DockerClient, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("bound\n")
    src = create(client, "true", volumes={str(tmp_path): {"bind": "/bd", "mode": "rw"}}, network_mode="none")
    src2 = client.api.create_container("busybox", "true", volumes=["/vol1"],
                                       labels={"berth.test": "docker-py-client"},
                                       host_config=client.api.create_host_config(volumes_from=[src.id]))
    out = run(client, ["sh", "-c", "echo hi > /vol1/x && cat /bd/f"], volumes_from=[src2["Id"]],
              network_mode="none", remove=True)
    assert out == b"bound\n"
    ro = client.containers.run("busybox", ["sh", "-c", "cat /vol1/x; echo no > /vol1/y"], stderr=True,
                               volumes_from=[f"{src2['Id']}:ro"], network_mode="none",
                               labels={"berth.test": "docker-py-client"}, detach=True)
    assert ro.wait()["StatusCode"] != 0
    assert b"hi\n" in ro.logs() and b"Read-only file system" in ro.logs()
    with pytest.raises(APIError, match="no such container: nope"):
        create(client, "true", volumes_from=["nope"])


def test_build_step_containers_are_not_listed(client: docker.DockerClient) -> None:
    dockerfile = io.BytesIO(b"FROM busybox\nRUN sleep 2\n")
    done: list[object] = []
    builder = threading.Thread(target=lambda: done.append(client.images.build(
        fileobj=dockerfile, tag="berth-step-hidden:latest", network_mode="none")))
    builder.start()
    seen_running = []
    while builder.is_alive():
        rows = client.api.containers(all=True)
        assert [r["Names"] for r in rows if "sleep 2" in r["Command"]] == []
        seen_running += [c for c in client.api.containers(all=True, filters={"label": "berth.build.step"})]
        time.sleep(0.1)
    builder.join()
    assert done and seen_running == []
    info = client.info()
    assert info["Containers"] == len(client.api.containers(all=True))
    client.images.remove("berth-step-hidden:latest")


def test_info_counts_event_listeners_and_names_the_default_log_driver(client: docker.DockerClient) -> None:
    """dockerd's /info: NEventsListener is the number of open /events streams, LoggingDriver the driver
    a container gets when it asks for none (what its inspect then says)."""
    before = client.info()["NEventsListener"]
    stream = client.events(decode=True)
    try:
        deadline = time.monotonic() + 10
        while (info := client.info())["NEventsListener"] != before + 1:
            assert time.monotonic() < deadline, info["NEventsListener"]
            time.sleep(0.05)
    finally:
        stream.close()
    container = client.containers.create("busybox", "true", labels={"berth.test": "docker-py-client"})
    assert info["LoggingDriver"] == container.attrs["HostConfig"]["LogConfig"]["Type"] == "json-file"
    assert "json-file" in info["Plugins"]["Log"]


def test_attach_over_a_websocket(berthd, client: docker.DockerClient) -> None:
    """GET /containers/{id}/attach/ws, as aiodocker's container.websocket() uses it: stdin from the
    client's frames, the output back in binary frames (text before API 1.28), the logs replayed first;
    closing the socket detaches and leaves the container running."""
    import asyncio

    import aiohttp

    ctr = create(client, "sh -c 'echo ready; cat'", stdin_open=True)
    ctr.start()

    async def talk() -> tuple[bytes, str]:
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(berthd.socket))) as session:
            async with session.ws_connect(f"http://docker/v1.45/containers/{ctr.id}/attach/ws"
                                          "?logs=1&stream=1&stdin=1&stdout=1&stderr=1") as ws:
                got = b""
                while b"ready\n" not in got:
                    msg = await asyncio.wait_for(ws.receive(), 10)
                    assert msg.type == aiohttp.WSMsgType.BINARY, msg
                    got += msg.data
                await ws.send_str("hello over ws\n")
                while b"hello over ws\n" not in got:
                    got += await asyncio.wait_for(ws.receive_bytes(), 10)
            async with session.ws_connect(f"http://docker/v1.27/containers/{ctr.id}/attach/ws?logs=1&stdout=1") as old:
                text = await asyncio.wait_for(old.receive_str(), 10)  # text frames before API 1.28
            return got, text

    got, text = asyncio.run(talk())
    assert got.startswith(b"ready\n") and got.endswith(b"hello over ws\n")
    assert text.startswith("ready\n")
    ctr.reload()
    assert ctr.status == "running"


def test_an_exec_resized_before_its_process_runs_gets_the_size(client: docker.DockerClient) -> None:
    """As dockerd: a resize that comes before the exec's process exists waits for it (aiodocker resizes
    right after starting; berthd answered 409 'is not running')."""
    ctr = create(client, "sleep 60")
    ctr.start()
    exec_id = client.api.exec_create(ctr.id, ["sh", "-c", "sleep 1; stty size"], tty=True)["Id"]
    failures: list[BaseException] = []

    def resize() -> None:
        try:
            client.api.exec_resize(exec_id, height=30, width=100)
        except BaseException as e:  # reported below
            failures.append(e)

    resizer = threading.Thread(target=resize)
    resizer.start()
    time.sleep(0.2)  # the resize is waiting before the start is asked for
    out = client.api.exec_start(exec_id, tty=True)
    resizer.join(15)
    assert not failures, failures
    assert b"30 100" in out
