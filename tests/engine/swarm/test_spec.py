"""Swarm init and update requests, parsed once: swarmkit's defaults merged under what init gives,
update taking the whole spec, and dockerd's words for what is refused."""

from __future__ import annotations

import pytest

from engine.errors import InvalidArgument, NotImplementedHere
from engine.swarm.spec import default_spec, parse_init, parse_update
from engine.swarm.store import base36, new_id

pytestmark = pytest.mark.unit


def test_init_records_addresses_and_merges_the_spec_over_swarmkits_defaults() -> None:
    req = parse_init({"AdvertiseAddr": "127.0.0.1", "ListenAddr": "0.0.0.0:12345",
                      "Spec": {"Labels": {"a": "b"}, "Orchestration": {"TaskHistoryRetentionLimit": 7},
                               "Raft": {"ElectionTick": 0}}})
    assert (req.listen_addr, req.advertise_addr) == ("0.0.0.0:12345", "127.0.0.1:12345")
    assert (req.default_addr_pool, req.subnet_size, req.data_path_port) == (("10.0.0.0/8",), 24, 4789)
    assert req.spec["Labels"] == {"a": "b"} and req.spec["Orchestration"] == {"TaskHistoryRetentionLimit": 7}
    assert req.spec["Raft"] == default_spec()["Raft"]  # a zero given at init leaves the default
    assert parse_init({"ListenAddr": "0.0.0.0:2377"}).advertise_addr == "127.0.0.1:2377"
    assert parse_init({"ListenAddr": "192.0.2.1", "AdvertiseAddr": "192.0.2.1:4000"}).listen_addr == "192.0.2.1:2377"


@pytest.mark.parametrize("body, words", [
    ({"ListenAddr": ""}, 'invalid ListenAddr "": invalid empty address'),
    ({"ListenAddr": "0.0.0.0:2377", "Spec": {"Name": "other"}}, 'swarm spec must be named "default"'),
    ({"ListenAddr": "0.0.0.0:2377", "DefaultAddrPool": ["10.0.0.0/33"]}, "invalid default address pool"),
    ({"ListenAddr": "0.0.0.0:2377", "DefaultAddrPool": ["10.20.0.0/16"], "SubnetSize": 8}, "invalid subnet size"),
    ({"ListenAddr": "0.0.0.0:2377", "DataPathPort": 80}, "data path port 80"),
])
def test_init_refusals(body: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidArgument, match=words.replace("(", r"\(")):
        parse_init(body)


def test_autolock_is_refused_plainly() -> None:
    with pytest.raises(NotImplementedHere, match="autolock"):
        parse_init({"ListenAddr": "0.0.0.0:2377", "Spec": {"EncryptionConfig": {"AutoLockManagers": True}}})


def test_update_takes_the_whole_spec_and_a_version() -> None:
    req = parse_update({"version": "11", "rotateWorkerToken": "true"}, {"Labels": {"x": "y"}})
    assert (req.version, req.rotate_worker_token, req.rotate_manager_token) == (11, True, False)
    assert req.spec == {"Name": "default", "Labels": {"x": "y"}}
    with pytest.raises(InvalidArgument, match="invalid swarm version 'abc'"):
        parse_update({"version": "abc"}, None)


def test_ids_are_swarmkits_shape() -> None:
    assert base36(35, 3) == "00z"
    ident = new_id()
    assert len(ident) == 25 and ident.isalnum() and ident == ident.lower()
