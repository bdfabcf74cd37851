"""Sockets opened together are not pinged together (docs/decisions/180-spread-heartbeats.md).

A shop page full of widgets, or every socket reconnecting after a restart, opens hundreds of
sockets within a second. Pinging them in one loop turn, and reading all their answers in the
next, stalls every live chat for that long; the heartbeat walks a slice of the sockets per tick
and each socket waits its own jittered silence."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from xiaoer.chat.tests.chatkit import make_scene

pytestmark = pytest.mark.django_db(transaction=True)

SOCKETS = 30


async def test_sockets_opened_together_are_pinged_at_different_moments(live_chat_server, settings):
    import orjson
    from websockets.asyncio.client import connect

    settings.CHAT_HEARTBEAT_SECONDS = 1
    scene = await sync_to_async(make_scene)()
    url = live_chat_server.replace("http://", "ws://") + f"/ws/chat?token={scene.token}"
    sockets = [await connect(url, ping_interval=None) for _ in range(SOCKETS)]
    try:
        for ws in sockets:
            assert orjson.loads(await ws.recv())["type"] == "welcome"

        async def first_ping(ws) -> float:
            while orjson.loads(await asyncio.wait_for(ws.recv(), 10)) != {"type": "ping"}:
                pass
            return time.monotonic()

        moments = sorted(await asyncio.gather(*(first_ping(ws) for ws in sockets)))
    finally:
        for ws in sockets:
            await ws.close()
    # The most sockets pinged within any 50 ms: all of them in one turn before; a few slices now.
    crowd = max(sum(1 for t in moments if start <= t < start + 0.05) for start in moments)
    assert crowd <= SOCKETS // 3, (crowd, [round(t - moments[0], 3) for t in moments])
