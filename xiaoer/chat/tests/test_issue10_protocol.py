"""Issue 10 (chat protocol and routing items), over real sockets, counting raw frames."""

from __future__ import annotations

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
    for i, (_scene, _shopper, agent) in enumerate(pairs):
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


async def test_read_and_typing_only_by_the_seat_serving_the_conversation(live_chat_server):
    """Another agent (or a supervisor looking on) can't mark a conversation 已读 or type into it."""
    from xiaoer.accounts.models import Role
    from xiaoer.chat.models import Conversation
    from xiaoer.chat.tests.chatkit import session_for
    from xiaoer.testing import make_seat, make_staff, owner_of

    scene = await sync_to_async(make_scene)()
    conv = scene.conversation.pk
    other = await sync_to_async(make_staff)(scene.shop, role=Role.AGENT)
    await sync_to_async(make_seat)(scene.shop, display_name="小丽", operator=other)
    shopper = await RawSocket.open(live_chat_server, token=scene.token)
    await shopper.recv()
    await shopper.send({"type": "send", "client_id": "s1", "body": "在吗"})
    await shopper.until(lambda f: f.get("type") == "ack")
    owner = await sync_to_async(owner_of)(scene.shop)
    for staff in (other, owner):
        sock = await RawSocket.open(live_chat_server, session=await sync_to_async(session_for)(staff))
        await sock.recv()
        await sock.send({"type": "read", "conversation": conv, "seq": 1})
        assert (await sock.until(lambda f: f.get("type") == "error"))["code"] == "forbidden"
        if staff is other:
            await sock.send({"type": "typing", "conversation": conv})
            assert (await sock.until(lambda f: f.get("type") == "error"))["code"] == "forbidden"
        await sock.close()
    assert not [f for f in await shopper.quiet(0.3) if f.get("type") in ("read", "typing")]
    assert (await Conversation.objects.aget(pk=conv)).agent_read_seq == 0
    agent = await RawSocket.open(live_chat_server, session=scene.agent_session)
    await agent.recv()
    await agent.send({"type": "read", "conversation": conv, "seq": 1})
    assert (await shopper.until(lambda f: f.get("type") == "read"))["seq"] == 1
    await agent.close()
    await shopper.close()


async def test_sync_history_typing_and_read_are_rate_limited(live_chat_server, settings):
    settings.CHAT_SHOPPER_REQUEST_RATE = 0.01
    settings.CHAT_SHOPPER_REQUEST_BURST = 5
    scene = await sync_to_async(make_scene)()
    shopper = await RawSocket.open(live_chat_server, token=scene.token)
    await shopper.recv()
    for frame in ({"type": "sync", "after": 0}, {"type": "history"}, {"type": "typing"},
                  {"type": "read", "seq": 0}):
        for _ in range(3):
            await shopper.send(frame)
    got = await shopper.quiet(0.5)
    limited = [f for f in got if f.get("type") == "error" and f["code"] == "rate_limited"]
    answered = [f for f in got if f.get("type") in ("messages", "history")]
    assert len(limited) == 12 - 5 and len(answered) == 3 + 2
    await shopper.send({"type": "ping"})  # the socket stays up
    assert (await shopper.until(lambda f: f.get("type") == "pong"))["type"] == "pong"
    await shopper.close()


async def test_errors_answering_a_send_carry_its_client_id(live_chat_server):
    scene = await sync_to_async(make_scene)()
    shopper = await RawSocket.open(live_chat_server, token=scene.token)
    await shopper.recv()
    for client_id, code in (("x" * 65, "invalid"), ("sys:mine", "invalid")):
        await shopper.send({"type": "send", "client_id": client_id, "body": "你好"})
        error = await shopper.until(lambda f: f.get("type") == "error")
        assert error == {"type": "error", "code": code, "detail": error["detail"], "client_id": client_id}
    await shopper.close()


async def test_a_product_card_is_built_from_the_database(live_chat_server):
    from xiaoer.chat.models import Message
    from xiaoer.knowledge.models import Product

    scene = await sync_to_async(make_scene)()
    product = await Product.objects.acreate(shop=scene.shop, code="T-1", title="纯棉T恤", price="59.00",
                                            published=True)
    hidden = await Product.objects.acreate(shop=scene.shop, code="T-2", title="未上架", published=False)
    shopper = await RawSocket.open(live_chat_server, token=scene.token)
    await shopper.recv()
    await shopper.send({"type": "send", "client_id": "c1", "kind": "card", "body": "¥0.01 特价",
                        "payload": {"product": "T-1", "title": "假标题", "price": "0.01"}})
    assert (await shopper.until(lambda f: f.get("type") in ("ack", "error")))["type"] == "ack"
    stored = await Message.objects.aget(conversation=scene.conversation, client_id="c1")
    assert stored.payload == {"type": "product", "product": product.pk, "product_code": "T-1",
                              "title": "纯棉T恤", "price": "59.00", "image": None}
    assert stored.body == "纯棉T恤"
    for i, payload in enumerate(({"product": "T-2"}, {"product": hidden.pk + 1000},
                                 {"title": "只有标题", "price": "1.00"})):
        await shopper.send({"type": "send", "client_id": f"bad{i}", "kind": "card", "payload": payload})
        error = await shopper.until(lambda f: f.get("type") == "error")
        assert error["client_id"] == f"bad{i}" and error["code"] in ("not_found", "invalid")
    await shopper.close()
