"""Edit and recreate keeps what the form does not show: the networks a container joined after its
create (`docker network connect`, a compose service's second network) with its aliases there, and
an on-failure policy's retry count. Against a real berthd; no window."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from app.dialogs.run_form import form_from_inspect, recreate_body
from app.services.recreate import recreate
from engine.client import EngineClient

pytestmark = pytest.mark.integration

NAME = "berth-recreate-keeps"
NETWORK = "berth-recreate-keeps-net"


def test_a_recreated_container_keeps_its_other_networks_and_retry_count(berthd: Any, busybox_image: str) -> None:
    async def scenario() -> dict[str, Any]:
        async with EngineClient(berthd.url) as engine:
            await engine.request("POST", "networks/create", body={"Name": NETWORK})
            new_id = ""
            try:
                old_id = await engine.create_container({
                    "Image": busybox_image, "Cmd": ["sleep", "300"],
                    "HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}},
                }, name=NAME)
                await engine.request("POST", f"networks/{NETWORK}/connect",
                                     body={"Container": old_id, "EndpointConfig": {"Aliases": ["api"]}})
                await engine.start(old_id)
                old = await engine.inspect_container(old_id)
                form = dataclasses.replace(form_from_inspect(old, await engine.inspect_image(busybox_image)),
                                           env=(("EDITED", "1"),))
                new_id = await recreate(engine, old, recreate_body(form.create_body(), old))
                return await engine.inspect_container(new_id)
            finally:
                for ref in (new_id, NAME):
                    if ref:
                        await _remove(engine, ref)
                await engine.request("DELETE", f"networks/{NETWORK}")

    new = asyncio.run(scenario())
    assert "EDITED=1" in new["Config"]["Env"]
    assert new["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    networks = new["NetworkSettings"]["Networks"]
    assert set(networks) == {"bridge", NETWORK}, networks
    assert "api" in (networks[NETWORK]["Aliases"] or [])


async def _remove(engine: EngineClient, ref: str) -> None:
    from engine.client import EngineClientError

    try:
        await engine.remove(ref, force=True)
    except EngineClientError as exc:
        if not exc.not_found:
            raise
