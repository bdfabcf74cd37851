"""Chat protocol over real sockets against a live uvicorn (docs/protocol.md)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from xiaoer.chat.client import ChatClient, ChatError
from xiaoer.chat.tests.chatkit import assert_exactly_once_on_wire, connect_both, make_scene, recording_client

pytestmark = pytest.mark.django_db(transaction=True)


async def test_shopper_and_agent_exchange(live_chat_server):
    scene = await sync_to_async(make_scene)()
    shopper = ChatClient(live_chat_server, token=scene.token)
    agent = ChatClient(live_chat_server, session=scene.agent_session)
    welcome = await shopper.connect()
    assert welcome["role"] == "shopper" and welcome["conversation"] == scene.conversation.pk
    assert welcome["seat"] == {"id": scene.seat.pk, "display_name": scene.seat.display_name}
    staff_welcome = await agent.connect()
    assert staff_welcome["role"] == "staff"
    ack = await shopper.send("你好，这件衣服会起球吗？")
    assert ack["seq"] == 1 and ack["conversation"] == scene.conversation.pk
    got = await agent.next_message()
    assert got["body"] == "你好，这件衣服会起球吗？" and got["sender_kind"] == "shopper" and got["seq"] == 1
    ack2 = await agent.send("亲，不会的", conversation=scene.conversation.pk)
    assert ack2["seq"] == 2
    reply = await shopper.next_message()
    assert reply["body"] == "亲，不会的" and reply["seat"]["id"] == scene.seat.pk
    await shopper.close()
    await agent.close()


@pytest.fixture
def fast_shoppers(settings):
    settings.CHAT_SHOPPER_RATE = 1_000_000
    settings.CHAT_SHOPPER_BURST = 1_000_000


def _check_history(history: list[dict], expected_ids: set[str]) -> None:
    seqs = [m["seq"] for m in history]
    assert seqs == sorted(set(seqs)), "out of order or doubled"
    ids = [m["client_id"] for m in history]
    assert len(ids) == len(set(ids)), "a message arrived twice"
    assert set(ids) == expected_ids, "a message is missing"


async def test_thousand_messages_with_forced_disconnect_exactly_once(live_chat_server, fast_shoppers):
    from xiaoer.chat.models import Message

    scene = await sync_to_async(make_scene)()
    conv = scene.conversation.pk
    shopper = recording_client(live_chat_server, token=scene.token)
    agent = recording_client(live_chat_server, session=scene.agent_session)
    await shopper.connect()
    await agent.connect()
    agent.follow(conv)
    pending = []
    for i in range(500):
        pending.append(await shopper.send(f"顾客 {i}", wait=False))
        pending.append(await agent.send(f"客服 {i}", conversation=conv, wait=False))
        if i == 250:
            await shopper.drop()  # in the middle, with sends in flight and unacknowledged
        if i == 300:
            await agent.drop()
    acks = await asyncio.wait_for(asyncio.gather(*pending), 60)
    assert shopper.reconnects >= 1 and agent.reconnects >= 1
    await shopper.sync(conv)
    await agent.sync(conv)
    all_ids = {a["client_id"] for a in acks}
    assert len(all_ids) == 1000
    assert sorted(a["seq"] for a in acks) == list(range(1, 1001))
    _check_history(shopper.history[conv], all_ids)
    _check_history(agent.history[conv], all_ids)
    assert [m["seq"] for m in shopper.history[conv]] == list(range(1, 1001))
    assert await Message.objects.filter(conversation_id=conv).acount() == 1000
    # What the server put on the sockets, before the client's filter: nothing twice, in order.
    for side in (shopper, agent):
        assert_exactly_once_on_wire(side)
    # The live frames really carried the traffic (the check above is not vacuous).
    assert len(assert_exactly_once_on_wire(agent).get(conv, [])) >= 200
    await shopper.close()
    await agent.close()


async def test_live_frames_reach_each_socket_in_seq_order(live_chat_server, fast_shoppers):
    """Raw frames, no reconnects: on each socket a conversation's `message` frames and the acks of
    its own sends rise strictly in seq (docs/protocol.md: nothing to reorder, nothing twice)."""
    scene = await sync_to_async(make_scene)()
    conv = scene.conversation.pk
    shopper = recording_client(live_chat_server, token=scene.token)
    agent = recording_client(live_chat_server, session=scene.agent_session)
    await shopper.connect()
    await agent.connect()
    agent.follow(conv)
    pending = []
    for i in range(300):  # both sides at once, so batches mix their messages
        pending.append(await shopper.send(f"顾客 {i}", wait=False))
        pending.append(await agent.send(f"客服 {i}", conversation=conv, wait=False))
        if i % 20 == 0:
            await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(*pending), 60)
    await shopper.sync(conv)
    await agent.sync(conv)
    assert shopper.reconnects == agent.reconnects == 0
    for side in (shopper, agent):
        live = assert_exactly_once_on_wire(side)
        assert len(live[conv]) == 300  # every one of the other side's messages came live
    await shopper.close()
    await agent.close()


async def test_retry_with_same_client_id_stores_nothing_and_gets_same_ack(live_chat_server):
    from xiaoer.chat.models import Message

    scene = await sync_to_async(make_scene)()
    shopper = recording_client(live_chat_server, token=scene.token)
    await shopper.connect()
    first = await shopper.send("在吗", client_id="retry-1")
    again = await shopper.send("在吗", client_id="retry-1")
    other_device = ChatClient(live_chat_server, token=scene.token)
    await other_device.connect()
    third = await other_device.send("在吗", client_id="retry-1")
    assert first == again == third
    assert await Message.objects.filter(conversation=scene.conversation).acount() == 1
    # Another party's client_id, or the server's namespace, answers nothing about their message.
    agent = ChatClient(live_chat_server, session=scene.agent_session)
    await agent.connect()
    for client_id in ("retry-1", "sys:reminder-7"):
        with pytest.raises(ChatError) as err:
            await agent.send("抢先", conversation=scene.conversation.pk, client_id=client_id)
        assert err.value.code == "invalid"
    assert await Message.objects.filter(conversation=scene.conversation).acount() == 1
    # On the wire: the retries were answered with acks only, never fanned out again. A later
    # message reaching the first socket means anything sent before it has arrived too.
    await agent.send("好的", conversation=scene.conversation.pk)
    assert (await shopper.next_message())["body"] == "好的"
    relayed = [f["message"]["client_id"] for _c, f in shopper.wire if f.get("type") == "message"]
    assert "retry-1" not in relayed and len(relayed) == 1
    assert_exactly_once_on_wire(shopper)
    await agent.close()
    await shopper.close()
    await other_device.close()


async def test_offline_shopper_gets_what_was_sent_on_return(live_chat_server):
    scene = await sync_to_async(make_scene)()
    conv = scene.conversation.pk
    shopper = ChatClient(live_chat_server, token=scene.token)
    await shopper.connect()
    await shopper.send("我先下线了")
    await shopper.close()
    agent = ChatClient(live_chat_server, session=scene.agent_session)
    await agent.connect()
    for text in ("亲，在的", "已经帮您改好地址", "明天发货"):
        await agent.send(text, conversation=conv)
    await shopper.connect()  # same client, knows it has seq 1
    await shopper.sync(conv)
    assert [m["body"] for m in shopper.history[conv]] == ["我先下线了", "亲，在的", "已经帮您改好地址", "明天发货"]
    fresh_device = ChatClient(live_chat_server, token=scene.token)
    await fresh_device.connect()
    await fresh_device.sync(conv)
    assert [m["seq"] for m in fresh_device.history[conv]] == [1, 2, 3, 4]
    await shopper.close()
    await agent.close()
    await fresh_device.close()


async def test_internal_notes_never_reach_the_shopper(live_chat_server):
    from xiaoer.chat import writer

    scene = await sync_to_async(make_scene)()
    conv = scene.conversation.pk
    shopper, agent = await connect_both(live_chat_server, scene)
    await shopper.send("衣服有色差")
    await agent.next_message()
    note = await agent.send("这位顾客上次也投诉过，小心处理", conversation=conv, kind="note")
    await sync_to_async(writer.post_message_sync)(conv, sender_kind="system", kind="event", body="转接给小美",
                                                  internal=True)
    await agent.send("亲，抱歉，给您换一件", conversation=conv)
    reply = await shopper.next_message()
    assert reply["body"] == "亲，抱歉，给您换一件" and reply["seq"] == 4
    await shopper.sync(conv, after=0)
    bodies = [m["body"] for m in shopper.history[conv]]
    assert bodies == ["衣服有色差", "亲，抱歉，给您换一件"]
    assert all(not m["internal"] for m in shopper.history[conv])
    fresh = ChatClient(live_chat_server, token=scene.token)
    await fresh.connect()
    await fresh.sync(conv)
    assert [m["seq"] for m in fresh.history[conv]] == [1, 4]
    assert shopper.inbox.empty()
    staff_view = ChatClient(live_chat_server, session=scene.agent_session)
    await staff_view.connect()
    await staff_view.sync(conv)
    assert [m["seq"] for m in staff_view.history[conv]] == [1, 2, 3, 4]
    assert staff_view.history[conv][1]["internal"] and staff_view.history[conv][1]["seq"] == note["seq"]
    for c in (shopper, agent, fresh, staff_view):
        await c.close()


async def test_bad_frames_get_errors_and_socket_stays_up(live_chat_server, settings):
    settings.CHAT_SHOPPER_BURST = 3
    settings.CHAT_SHOPPER_RATE = 0.01
    scene = await sync_to_async(make_scene)()
    shopper = ChatClient(live_chat_server, token=scene.token)
    await shopper.connect()
    for body, code in (("", "empty"), ("   ", "empty"), ("好" * 5001, "too_long")):
        with pytest.raises(ChatError) as err:
            await shopper.send(body)
        assert err.value.code == code
    await shopper.send_raw("{not json")
    assert (await shopper.next_frame("error"))["code"] == "bad_json"
    await shopper.send_raw('{"type": "dance"}')
    assert (await shopper.next_frame("error"))["code"] == "unknown_type"
    with pytest.raises(ChatError) as err:
        await shopper.send("hi", conversation=scene.conversation.pk + 1000)
    assert err.value.code == "not_found"
    with pytest.raises(ChatError) as err:
        await shopper.send("hi", kind="note")
    assert err.value.code == "invalid"
    ok = await shopper.send("好" * 5000)
    assert ok["seq"] == 1
    codes = []
    for i in range(5):
        try:
            await shopper.send(f"刷屏 {i}")
            codes.append("ok")
        except ChatError as exc:
            codes.append(exc.code)
    assert "rate_limited" in codes
    await shopper.request({"type": "ping"})
    assert (await shopper.next_frame("pong"))["type"] == "pong"
    assert shopper.reconnects == 0
    await shopper.close()


async def test_other_shops_conversation_is_not_found(live_chat_server):
    from xiaoer.chat.models import Message

    mine = await sync_to_async(make_scene)()
    theirs = await sync_to_async(make_scene)()
    await sync_to_async(__import__("xiaoer.chat.writer", fromlist=["x"]).post_message_sync)(
        theirs.conversation.pk, sender_kind="shopper", body="秘密订单号 123")
    agent = ChatClient(live_chat_server, session=mine.agent_session)
    await agent.connect()
    with pytest.raises(ChatError) as err:
        await agent.send("偷看", conversation=theirs.conversation.pk)
    assert err.value.code == "not_found"
    await agent.request({"type": "sync", "conversation": theirs.conversation.pk, "after": 0})
    frame = await agent.next_frame("error")
    assert frame["code"] == "not_found" and "123" not in str(frame)
    await agent.request({"type": "typing", "conversation": theirs.conversation.pk})
    assert (await agent.next_frame("error"))["code"] == "not_found"
    shopper = ChatClient(live_chat_server, token=mine.token)
    await shopper.connect()
    await shopper.request({"type": "sync", "conversation": theirs.conversation.pk, "after": 0})
    assert (await shopper.next_frame("error"))["code"] == "not_found"
    assert await Message.objects.filter(conversation=theirs.conversation).acount() == 1
    await agent.close()
    await shopper.close()


async def test_credentials_and_roles(live_chat_server):
    from xiaoer.accounts.models import Role
    from xiaoer.chat.tests.chatkit import session_for
    from xiaoer.testing import make_staff

    scene = await sync_to_async(make_scene)()
    warehouse = await sync_to_async(make_staff)(scene.shop, role=Role.WAREHOUSE)
    session = await sync_to_async(session_for)(warehouse)
    for client, code in ((ChatClient(live_chat_server, session=session), 4403),
                         (ChatClient(live_chat_server, session="nope"), 4401),
                         (ChatClient(live_chat_server, session=None), 4401),
                         (ChatClient(live_chat_server, token=scene.token + "x"), 4401),
                         (ChatClient(live_chat_server, token="garbage"), 4401)):
        with pytest.raises(ChatError):
            await client.connect()
        assert client.close_code == code
    evil = ChatClient(live_chat_server, session=scene.agent_session, origin="http://evil.example")
    with pytest.raises(ChatError):
        await evil.connect()
    assert evil.close_code == 4403


async def test_staff_may_only_send_into_their_seats_conversations(live_chat_server):
    from xiaoer.accounts.models import Role
    from xiaoer.chat.tests.chatkit import add_conversation, session_for
    from xiaoer.testing import make_seat, make_staff, owner_of

    scene = await sync_to_async(make_scene)()
    other = await sync_to_async(make_staff)(scene.shop, role=Role.AGENT)
    other_seat = await sync_to_async(make_seat)(scene.shop, display_name="小丽", operator=other)
    _c, other_conv, _t = await sync_to_async(add_conversation)(scene.shop, other_seat)
    agent = ChatClient(live_chat_server, session=scene.agent_session)
    await agent.connect()
    with pytest.raises(ChatError) as err:
        await agent.send("插话", conversation=other_conv.pk)
    assert err.value.code == "forbidden"
    owner = await sync_to_async(owner_of)(scene.shop)
    boss = ChatClient(live_chat_server, session=await sync_to_async(session_for)(owner))
    await boss.connect()
    ack = await boss.send("主管来了", conversation=other_conv.pk)
    assert ack["seq"] == 1
    await agent.close()
    await boss.close()


async def test_queued_conversation_reaches_every_chat_staff(live_chat_server):
    from xiaoer.chat.tests.chatkit import add_conversation

    scene = await sync_to_async(make_scene)()
    _c, queued, token = await sync_to_async(add_conversation)(scene.shop, None)
    agent = ChatClient(live_chat_server, session=scene.agent_session)
    await agent.connect()
    shopper = ChatClient(live_chat_server, token=token)
    welcome = await shopper.connect()
    assert welcome["seat"] is None and welcome["queue_position"] >= 1
    await shopper.send("有人吗")
    got = await agent.next_message()
    assert got["conversation"] == queued.pk
    await agent.close()
    await shopper.close()


async def test_conversation_bookkeeping_and_read(live_chat_server):
    from xiaoer.chat.models import Conversation

    scene = await sync_to_async(make_scene)()
    conv = scene.conversation.pk
    shopper, agent = await connect_both(live_chat_server, scene)
    await shopper.send("<script>alert(1)</script>")
    c = await Conversation.objects.aget(pk=conv)
    assert c.waiting_since is not None and c.last_shopper_seq == 1 and c.last_seq == 1
    assert c.last_message_preview == "<script>alert(1)</script>"
    await agent.next_message()
    await agent.request({"type": "read", "conversation": conv, "seq": 1})
    assert (await shopper.next_frame("read")) == {"type": "read", "conversation": conv, "by": "agent", "seq": 1}
    await agent.request({"type": "typing", "conversation": conv})
    assert (await shopper.next_frame("typing"))["who"] == "agent"
    await agent.send("亲" * 300, conversation=conv)
    for _ in range(100):
        c = await Conversation.objects.aget(pk=conv)
        if c.agent_read_seq == 1:
            break
        await asyncio.sleep(0.02)
    assert c.agent_read_seq == 1 and c.waiting_since is None and c.last_seq == 2
    assert c.last_message_preview == "亲" * 200
    await shopper.close()
    await agent.close()


async def test_post_message_sync_fans_out_and_emits_events(live_chat_server):
    from xiaoer.chat import writer
    from xiaoer.chat.events import MessagesCommitted
    from xiaoer.events.models import OutboxEvent
    from xiaoer.events.testing import subscribed

    scene = await sync_to_async(make_scene)()
    conv = scene.conversation.pk
    seen: list[MessagesCommitted] = []
    with subscribed(MessagesCommitted, seen.append, name="test.seen", live=True):
        shopper = ChatClient(live_chat_server, token=scene.token)
        await shopper.connect()
        msg = await sync_to_async(writer.post_message_sync)(conv, sender_kind="robot", body="亲，这款是纯棉的",
                                                            client_id="robot-1")
        got = await shopper.next_message()
        assert got == {k: v for k, v in msg.items()}
        again = await sync_to_async(writer.post_message_sync)(conv, sender_kind="robot", body="亲，这款是纯棉的",
                                                              client_id="robot-1")
        assert again["id"] == msg["id"]  # a retry stores nothing and emits nothing
        sent = await shopper.send("好的")  # through the socket and the group-commit writer
        await sync_to_async(writer.EVENTS.wait_idle)()
        live = [m for event in seen for m in event.live]
        assert [m["sender_kind"] for m in live] == ["robot", "shopper"]
        assert live[1]["shop"] == scene.shop.pk and live[1]["conversation_status"] == "open"
        rows = [r async for r in OutboxEvent.objects.filter(name="chat.MessagesCommitted").order_by("id")]
        assert [r.payload["messages"] for r in rows] == [
            [[conv, msg["seq"], msg["id"], "robot", False, None, msg["seat"]["id"]]],
            [[conv, sent["seq"], sent["id"], "shopper", False, None, None]]]
        assert rows[1].shop_id == scene.shop.pk and rows[1].payload["conversations"] == [
            [conv, scene.shop.pk, scene.seat.pk, "open"]]
        await shopper.close()


async def test_heartbeat(live_chat_server, settings):
    import orjson
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    scene = await sync_to_async(make_scene)()
    url = live_chat_server.replace("http://", "ws://") + f"/ws/chat?token={scene.token}"
    async with connect(url, ping_interval=None) as ws:
        assert orjson.loads(await ws.recv())["type"] == "welcome"
        await ws.send('{"type": "ping"}')
        assert orjson.loads(await ws.recv()) == {"type": "pong"}
    settings.CHAT_HEARTBEAT_SECONDS = 1
    async with connect(url, ping_interval=None) as ws:
        await ws.recv()
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame == {"type": "ping"}  # idle: the server asks
        with pytest.raises(ConnectionClosed):  # and a socket that never answers is closed
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 4000


async def test_conversation_changed_and_seats_changed_reroute_live_traffic(live_chat_server):
    from xiaoer.accounts import services as account_services
    from xiaoer.chat import hub
    from xiaoer.chat.models import Conversation
    from xiaoer.chat.tests.chatkit import session_for
    from xiaoer.testing import make_seat, make_staff

    scene = await sync_to_async(make_scene)()
    conv = scene.conversation.pk
    newcomer = await sync_to_async(make_staff)(scene.shop)
    seat2 = await sync_to_async(make_seat)(scene.shop, display_name="小丽")
    shopper = ChatClient(live_chat_server, token=scene.token)
    other = ChatClient(live_chat_server, session=await sync_to_async(session_for)(newcomer))
    await shopper.connect()
    await other.connect()
    # The newcomer is handed seat 2 while connected; then the conversation moves to seat 2.
    await sync_to_async(account_services.do_assign_seat)(seat2, newcomer)
    await sync_to_async(hub.seats_changed)(scene.shop.pk)
    await Conversation.objects.filter(pk=conv).aupdate(seat=seat2)
    await sync_to_async(hub.conversation_changed)(conv)
    summary = await other.next_frame("conversation")
    assert summary["conversation"]["id"] == conv and summary["conversation"]["seat"]["id"] == seat2.pk
    queue = await shopper.next_frame("queue")
    assert queue["position"] == 0 and queue["seat"] == {"id": seat2.pk, "display_name": "小丽"}
    await shopper.send("换人了吗")
    got = await other.next_message()
    assert got["body"] == "换人了吗"
    ack = await other.send("您好，我是小丽", conversation=conv)
    assert ack["seq"] == 2
    reply = await shopper.next_message()
    assert reply["seat"]["display_name"] == "小丽"
    await shopper.close()
    await other.close()


async def test_publish_event_reaches_its_audience_only(live_chat_server):
    from xiaoer.chat import hub

    scene = await sync_to_async(make_scene)()
    stranger = await sync_to_async(make_scene)()
    shopper = ChatClient(live_chat_server, token=scene.token)
    agent = ChatClient(live_chat_server, session=scene.agent_session)
    outsider = ChatClient(live_chat_server, session=stranger.agent_session)
    for c in (shopper, agent, outsider):
        await c.connect()
    await sync_to_async(hub.publish_event)(scene.shop.pk, "assistant.suggestion", {"answer": "亲～"},
                                           conversation_id=scene.conversation.pk)
    frame = await agent.next_frame("event")
    assert frame["event"] == "assistant.suggestion" and frame["data"] == {"answer": "亲～"}
    await sync_to_async(hub.publish_event)(scene.shop.pk, "notice", {"n": 1}, conversation_id=scene.conversation.pk,
                                           to_shopper=True)
    assert (await shopper.next_frame("event"))["event"] == "notice"
    # another shop's id with this conversation: nobody
    await sync_to_async(hub.publish_event)(stranger.shop.pk, "leak", {}, conversation_id=scene.conversation.pk,
                                           to_shopper=True)
    await sync_to_async(hub.publish_event)(scene.shop.pk, "broadcast", {"k": "新品上架"})
    assert (await agent.next_frame("event"))["event"] == "notice"  # staff see what the shopper is told
    assert (await agent.next_frame("event"))["event"] == "broadcast"
    await outsider.request({"type": "ping"})
    await outsider.next_frame("pong")
    assert outsider.frames.empty()
    await shopper.request({"type": "ping"})
    await shopper.next_frame("pong")
    assert shopper.frames.empty()  # neither the suggestion, the leak nor the staff broadcast
    for c in (shopper, agent, outsider):
        await c.close()


# --- history: paging back from the newest (docs/protocol.md `history`) ----------------------------

async def _stored(conv: int, n: int, *, note_every: int = 0) -> None:
    """N messages alternating shopper / agent; with NOTE_EVERY, an internal note after every
    NOTE_EVERY-th (seqs the shopper never sees)."""
    from xiaoer.chat import writer

    def post() -> None:
        for i in range(1, n + 1):
            writer.post_message_sync(conv, sender_kind="shopper" if i % 2 else "agent", body=f"第 {i} 条")
            if note_every and i % note_every == 0:
                writer.post_message_sync(conv, sender_kind="system", kind="event", body="转接", internal=True)
    await sync_to_async(post)()


async def test_history_newest_page_then_back_to_the_beginning(live_chat_server):
    scene = await sync_to_async(make_scene)()
    conv = scene.conversation.pk
    await _stored(conv, 120, note_every=7)  # 120 visible + 17 internal: seqs 1..137
    shopper = ChatClient(live_chat_server, token=scene.token)
    welcome = await shopper.connect()
    assert welcome["last_seq"] == 137

    newest = await shopper.history_page(limit=50)
    assert newest["type"] == "history" and newest["conversation"] == conv
    assert newest["before"] is None and newest["limit"] == 50 and newest["earlier"] is True
    bodies = [m["body"] for m in newest["messages"]]
    assert bodies == [f"第 {i} 条" for i in range(71, 121)]  # the last 50, in order
    seqs = [m["seq"] for m in newest["messages"]]
    assert seqs == sorted(seqs) and not any(m["internal"] for m in newest["messages"])
    assert newest["upto"] == 137  # covers the internal seqs after the newest visible one

    seen = list(newest["messages"])
    before, pages = seqs[0], 1
    while True:
        page = await shopper.history_page(before, 50)
        pages += 1
        assert page["before"] == before and page["upto"] is None
        assert all(m["seq"] < before for m in page["messages"])
        seen = page["messages"] + seen
        if not page["earlier"]:
            break
        before = page["messages"][0]["seq"]
    assert pages == 3 and len(page["messages"]) == 20
    assert [m["body"] for m in seen] == [f"第 {i} 条" for i in range(1, 121)]  # each exactly once, in order
    assert len({m["id"] for m in seen}) == 120
    # the very first message: nothing before it
    first = await shopper.history_page(seen[0]["seq"], 10)
    assert first["messages"] == [] and first["earlier"] is False
    # exactly LIMIT left before BEFORE: earlier is false
    exact = await shopper.history_page(seen[5]["seq"], 5)
    assert [m["body"] for m in exact["messages"]] == [f"第 {i} 条" for i in range(1, 6)]
    assert exact["earlier"] is False

    # staff see the internal seqs too; limit defaults to 50
    agent = ChatClient(live_chat_server, session=scene.agent_session)
    await agent.connect()
    await agent.request({"type": "history", "conversation": conv})
    staff_page = await agent.next_frame("history")
    assert [m["seq"] for m in staff_page["messages"]] == list(range(88, 138))
    assert staff_page["earlier"] is True and staff_page["limit"] == 50
    # history pages only read: the client's own sync on connect (running beside them) still holds
    # every message exactly once, and nothing was drawn from the history pages into it
    assert shopper.last_seq[conv] == 137
    assert [m["body"] for m in shopper.history[conv]] == [f"第 {i} 条" for i in range(1, 121)]
    await shopper.close()
    await agent.close()


async def test_history_of_an_empty_conversation(live_chat_server):
    scene = await sync_to_async(make_scene)()
    shopper = ChatClient(live_chat_server, token=scene.token)
    await shopper.connect()
    page = await shopper.history_page()
    assert page["messages"] == [] and page["earlier"] is False and page["upto"] == 0
    await shopper.close()


async def test_history_bad_input_is_an_error_and_the_socket_stays_up(live_chat_server):
    scene = await sync_to_async(make_scene)()
    await _stored(scene.conversation.pk, 3)
    shopper = ChatClient(live_chat_server, token=scene.token)
    await shopper.connect()
    for before, limit in ((None, 0), (None, 201), (None, -1), (None, "50"), (None, True), (None, 2.5), (None, None),
                          (0, 10), (-3, 10), ("5", 10), (True, 10), (1.5, 10), ([1], 10)):
        with pytest.raises(ChatError) as err:
            await shopper.history_page(before, limit)
        assert err.value.code == "invalid", (before, limit)
    assert (await shopper.history_page(None, 200))["earlier"] is False
    assert [m["seq"] for m in (await shopper.history_page(2, 1))["messages"]] == [1]
    assert [m["seq"] for m in (await shopper.history_page(10**12, 1))["messages"]] == [3]
    ack = await shopper.send("还在吗")
    assert ack["seq"] == 4 and shopper.reconnects == 0 and shopper.close_code is None
    await shopper.close()


async def test_history_of_another_conversation_is_not_found(live_chat_server):
    from xiaoer.chat.tests.chatkit import add_conversation

    mine = await sync_to_async(make_scene)()
    theirs = await sync_to_async(make_scene)()
    await _stored(theirs.conversation.pk, 3)
    _c, neighbour, _t = await sync_to_async(add_conversation)(mine.shop, mine.seat)
    await _stored(neighbour.pk, 2)
    shopper = ChatClient(live_chat_server, token=mine.token)
    await shopper.connect()
    for other in (theirs.conversation.pk, neighbour.pk, 10**9, 0, "x"):
        with pytest.raises(ChatError) as err:
            await shopper.history_page(conversation=other)
        assert err.value.code == "not_found"
        assert "第" not in err.value.detail
    # another shop's staff: not found either, whatever the conversation holds
    agent = ChatClient(live_chat_server, session=mine.agent_session)
    await agent.connect()
    with pytest.raises(ChatError) as err:
        await agent.history_page(conversation=theirs.conversation.pk)
    assert err.value.code == "not_found"
    with pytest.raises(ChatError) as err:
        await agent.history_page()  # staff must name the conversation
    assert err.value.code == "not_found"
    assert [m["body"] for m in (await agent.history_page(conversation=neighbour.pk))["messages"]] == ["第 1 条", "第 2 条"]
    assert (await shopper.history_page(conversation=mine.conversation.pk))["messages"] == []
    await shopper.close()
    await agent.close()
