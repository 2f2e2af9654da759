"""POST /containers/{id}/update, as dockerd's daemon/update.go: resources changed live on a
running container (the runtime's update) and kept in HostConfig, and the restart policy."""

from __future__ import annotations

from typing import Any

from engine.containers.context import ContainerContext
from engine.containers.restart import restart_policy
from engine.errors import InvalidArgument

UPDATABLE = {"CpuShares", "Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuPeriod", "CpuQuota",
             "CpusetCpus", "CpusetMems", "PidsLimit", "BlkioWeight", "KernelMemory", "RestartPolicy",
             "CpuRealtimePeriod", "CpuRealtimeRuntime", "OomKillDisable", "MemorySwappiness"}


async def update(ctx: ContainerContext, ref: str, body: dict[str, Any]) -> list[str]:
    c = ctx.get(ref)
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object (resources to update)")
    # The CLI sends every Resources field; only the ones with a value matter.
    body = {k: v for k, v in body.items() if v not in (None, "", 0, [], {})}
    unknown = set(body) - UPDATABLE
    if unknown:
        raise InvalidArgument(f"cannot update {', '.join(sorted(unknown))}: only resources and RestartPolicy")
    changes = {k: v for k, v in body.items() if v not in (None, "") and not (k != "RestartPolicy" and v == 0)}
    for key, value in changes.items():
        if key not in ("RestartPolicy", "CpusetCpus", "CpusetMems") and not isinstance(value, int):
            raise InvalidArgument(f"{key} must be an integer")
    if "RestartPolicy" in changes:
        policy = restart_policy({"RestartPolicy": changes["RestartPolicy"]})
        if policy.name != "no" and c.spec.auto_remove:
            raise InvalidArgument(
                "Restart policy cannot be updated because AutoRemove is enabled for the container")
    if "Memory" in changes and "MemorySwap" not in changes:
        old_swap = c.spec.resources.memory_swap
        if old_swap > 0 and old_swap < changes["Memory"]:
            raise InvalidArgument("Memory limit should be smaller than already set memoryswap limit, "
                                  "update the memoryswap at the same time")
    # Under the container's lock: an exit being recorded saves the row it loaded before its awaits,
    # and would write the old HostConfig back over this one.
    async with ctx.lock(c.id):
        c = ctx.get(c.id)
        if c.state.is_up:
            await ctx.runtime.update(c.id, {k: v for k, v in changes.items() if k != "RestartPolicy"})
        c.host_config.update(changes)
        c.host_config_changed()
        ctx.store.save(c)
    ctx.publish(c, "update")
    return []
