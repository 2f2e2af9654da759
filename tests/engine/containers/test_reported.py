"""Settings as dockerd reports and reads them: inspect's defaults, log drivers, environments."""

from __future__ import annotations

import pytest

from engine.containers import reported
from engine.containers.create import merge_env, process_env
from engine.containers.logs import LogSettings
from engine.errors import InvalidArgument

pytestmark = pytest.mark.unit


def test_a_sparse_host_config_is_reported_with_dockerds_defaults() -> None:
    hc = reported.host_config({"NetworkMode": "none"}, runtime="runc", cgroupns="host")
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert hc["Runtime"] == "runc"
    assert hc["IpcMode"] == "private"
    assert (hc["PidMode"], hc["UsernsMode"], hc["UTSMode"], hc["Isolation"]) == ("", "", "", "")
    assert hc["Privileged"] is False
    assert hc["ShmSize"] == 64 * 1024 * 1024
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert hc["CgroupnsMode"] == "host"
    assert "/proc/kcore" in hc["MaskedPaths"] and "/proc/sys" in hc["ReadonlyPaths"]
    assert hc["NetworkMode"] == "none"


def test_what_the_client_sent_is_returned_as_sent() -> None:
    sent = {"LogConfig": {"Type": "json-file", "Config": {"max-file": "100"}}, "Tmpfs": {"/t": "size=1m"},
            "Binds": ["/a:/b:ro"], "IpcMode": "shareable", "CpuRealtimePeriod": 1000, "Privileged": True,
            "Dns": []}
    hc = reported.host_config(sent, runtime="runc", cgroupns="private")
    assert hc["LogConfig"] == sent["LogConfig"]
    assert hc["Tmpfs"] == {"/t": "size=1m"} and hc["Binds"] == ["/a:/b:ro"]
    assert hc["IpcMode"] == "shareable" and hc["CpuRealtimePeriod"] == 1000 and hc["Dns"] == []
    assert hc["MaskedPaths"] is None and hc["ReadonlyPaths"] is None  # privileged: nothing masked
    assert hc["CgroupnsMode"] == "private"


def test_no_log_driver_named_means_json_file() -> None:
    hc = reported.host_config({"LogConfig": {"Type": "", "Config": {"max-file": "100"}}}, runtime="runc",
                              cgroupns="host")
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "100"}}


def test_config_lists_dockerds_keys_and_leaves_out_the_empty_optional_ones() -> None:
    cfg = reported.config({"Image": "busybox", "Cmd": ["true"], "ExposedPorts": None, "NetworkDisabled": False,
                           "Env": ["Foo"]})
    for key in ("Domainname", "User", "WorkingDir", "Volumes", "OnBuild", "Entrypoint", "Labels", "Tty"):
        assert key in cfg
    assert "ExposedPorts" not in cfg and "NetworkDisabled" not in cfg
    assert cfg["Env"] == ["Foo"]


@pytest.mark.parametrize(("log_config", "driver", "kept", "max_size", "max_files"), [
    ({}, "json-file", True, 0, 1),
    ({"Type": "json-file", "Config": {"max-file": "100"}}, "json-file", True, 0, 1),
    ({"Type": "json-file", "Config": {"max-size": "1k", "max-file": "3", "compress": "true",
                                      "labels": "a", "env": "B"}}, "json-file", True, 1024, 3),
    ({"Type": "local"}, "local", True, 20 * 1024 * 1024, 5),
    ({"Type": "none"}, "none", False, 0, 1),
])
def test_log_drivers_as_dockerd_names_them(log_config: dict[str, object], driver: str, kept: bool,
                                           max_size: int, max_files: int) -> None:
    s = LogSettings.from_host_config({"LogConfig": log_config})
    assert (s.driver, s.kept, s.max_size, s.max_files) == (driver, kept, max_size, max_files)


def test_an_unknown_log_driver_is_refused_in_dockerds_words() -> None:
    with pytest.raises(InvalidArgument, match=r"^logger: no log driver named 'asdf' is registered$"):
        LogSettings.from_host_config({"LogConfig": {"Type": "asdf"}})
    with pytest.raises(InvalidArgument, match="unknown log opt 'colour' for json-file log driver"):
        LogSettings.from_host_config({"LogConfig": {"Type": "json-file", "Config": {"colour": "red"}}})
    with pytest.raises(InvalidArgument, match="use json-file, local or none"):
        LogSettings.from_host_config({"LogConfig": {"Type": "syslog"}})


def test_environment_merged_and_built_as_dockerd_does() -> None:
    assert merge_env(["Foo", "Other=one", "PATH=/x"], ["PATH=/usr/bin", "LANG=C"]) == [
        "Foo", "Other=one", "PATH=/x", "LANG=C"]
    env = process_env(["Foo", "Other=one", "Blank=", "HOME=/h"], home="/root", hostname="abc")
    assert env == ["HOSTNAME=abc", "HOME=/h", "Other=one", "Blank="]
    assert process_env(["HOSTNAME"], home="/root", hostname="abc") == ["HOME=/root"]


def test_healthcheck_lists_only_what_was_sent() -> None:
    cfg = reported.config({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 5_000_000_000, "Timeout": None,
                                           "Retries": None, "StartPeriod": 0}})
    assert cfg["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000}
