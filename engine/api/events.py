"""/events: past events (since/until) then, unless `until` is given, live ones."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from engine.api.app import Routes, backend
from engine.api.params import filters
from engine.api.streams import json_stream, write_json_line
from engine.events import EventFilter
from engine.formats import now_ns
from engine.formats import timestamp_ns as parse_timestamp


async def events(request: web.Request) -> web.StreamResponse:
    bus = backend(request).events
    flt = EventFilter(filters(request))
    since = request.query.get("since")
    until = request.query.get("until")
    until_ns = parse_timestamp(until) if until else None
    resp = await json_stream(request)
    if since:
        for ev in bus.since(parse_timestamp(since), until_ns):
            if flt.matches(ev):
                await write_json_line(resp, ev.to_api())
    if until_ns is not None and until_ns <= now_ns():
        return resp
    timeout = (until_ns - now_ns()) / 1e9 if until_ns is not None else None
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        async with asyncio.timeout(timeout):
            async for ev in bus.subscribe():
                if flt.matches(ev):
                    await write_json_line(resp, ev.to_api())
    return resp


def register(routes: Routes) -> None:
    routes.add("GET", "/events", events)
