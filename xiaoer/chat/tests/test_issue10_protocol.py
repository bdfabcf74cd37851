"""Issue 10 (chat protocol and routing items), over real sockets, counting raw frames."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from xiaoer.chat.client import ChatClient
from xiaoer.chat.tests.chatkit import make_scene
from xiaoer.chat.tests.rawws import RawSocket

pytestmark = pytest.mark.django_db(transaction=True)


def _seq(frame: dict) -> int | None:
    if frame.get("type") == "ack":
        return frame["seq"]
    if frame.get("type") == "message":
        return frame["message"]["seq"]
    return None


async def test_staff_socket_gets_its_frames_in_seq_order_in_a_20_pair_run(live_chat_server, settings):
    """A shopper message and the agent's answer stored in one writer batch: the agent's socket
    gets the shopper's `message` (seq n) before the `ack` of its own (seq n+1)."""
    settings.CHAT_BATCH_WAIT_MS = 30  # both sends of a pair land in one batch
    scenes = [await sync_to_async(make_scene)() for _ in range(20)]
    pairs = []
    for scene in scenes:
        shopper = await RawSocket.open(live_chat_server, token=scene.token)
        agent = await RawSocket.open(live_chat_server, session=scene.agent_session)
        await shopper.recv()
        await agent.recv()
        pairs.append((scene, shopper, agent))
    for i, (scene, shopper, agent) in enumerate(pairs):
        await shopper.send({"type": "send", "client_id": f"s{i}", "body": "在吗"})
        await agent.send({"type": "send", "client_id": f"a{i}", "conversation": scene.conversation.pk,
                          "body": "亲，在的"})
    for i, (_scene, shopper, agent) in enumerate(pairs):
        while len([f for f in agent.frames if _seq(f) is not None]) < 2:
            await agent.recv()
        seqs = [s for s in map(_seq, agent.frames) if s is not None]
        assert seqs == [1, 2], f"pair {i}: staff frames out of seq order: {seqs}"
    for _scene, shopper, agent in pairs:
        await shopper.close()
        await agent.close()


async def test_client_treats_a_jump_in_its_own_acks_as_a_gap(live_chat_server):
    """The shipped client's first frame of a conversation is the ack of its own seq 2: seq 1
    (stored before it connected) is a gap to fetch, not something already seen."""
    scene = await sync_to_async(make_scene)()
    conv = scene.conversation.pk
    shopper = ChatClient(live_chat_server, token=scene.token)
    await shopper.connect()
    await shopper.send("第一条")
    agent = ChatClient(live_chat_server, session=scene.agent_session)
    await agent.connect()
    ack = await agent.send("亲，在的", conversation=conv)
    assert ack["seq"] == 2
    got = await agent.next_message()
    assert got["seq"] == 1 and got["body"] == "第一条"
    assert [m["seq"] for m in agent.history[conv]] == [1, 2]
    await agent.close()
    await shopper.close()
