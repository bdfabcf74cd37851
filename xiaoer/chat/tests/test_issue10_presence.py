"""Issue 10, Broken 1: shoppers go only to seats a person operates at a connected workbench;
opening the chat page is a visitor, not a conversation. Raw frames over real sockets."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from xiaoer.accounts.models import Role
from xiaoer.chat.models import Conversation
from xiaoer.chat.tests.chatkit import session_for
from xiaoer.chat.tests.rawws import RawSocket
from xiaoer.testing import make_seat, make_shop, make_staff

pytestmark = pytest.mark.django_db(transaction=True)


def _absent_seat():
    shop = make_shop()
    agent = make_staff(shop, Role.AGENT)
    seat = make_seat(shop, display_name="阿杰", operator=agent, present=False)
    return shop, agent, seat, session_for(agent)


def _open_chat(shop) -> dict:
    return Client().post(f"/s/{shop.slug}/chat/session", "{}", content_type="application/json").json()


async def _shopper_writes(server: str, session: dict, text: str = "在吗") -> RawSocket:
    sock = await RawSocket.open(server, token=session["token"])
    await sock.recv()
    await sock.send({"type": "send", "client_id": "first", "body": text})
    await sock.until(lambda f: f.get("type") == "ack")
    return sock


async def _status(conv_id: int) -> tuple[str, int | None]:
    conv = await Conversation.objects.aget(pk=conv_id)
    return conv.status, conv.seat_id


async def _eventually(check, timeout: float = 5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_a_seat_nobody_operates_gets_no_shopper_until_its_person_connects(live_chat_server):
    shop, _agent, seat, agent_session = await sync_to_async(_absent_seat)()
    session = await sync_to_async(_open_chat)(shop)
    assert session["seat"] is None
    shopper = await _shopper_writes(live_chat_server, session)
    conv = session["conversation"]
    assert await _eventually(lambda: _is(conv, "queued", None)), "routed to a seat nobody operates"
    queue = await shopper.until(lambda f: f.get("type") == "queue" and f["status"] == "queued")
    assert queue["position"] == 1 and queue["seat"] is None
    # the person opens the workbench: the seat takes the queue
    desk = await RawSocket.open(live_chat_server, session=agent_session)
    await desk.recv()
    served = await shopper.until(lambda f: f.get("type") == "queue" and f["status"] == "open")
    assert served["seat"] == {"id": seat.pk, "display_name": "阿杰"} and served["position"] == 0
    await desk.close()
    await shopper.close()


async def _is(conv: int, status: str, seat_id: int | None) -> bool:
    return await _status(conv) == (status, seat_id)


async def test_a_closed_workbench_stops_routing_after_the_grace_period(live_chat_server, settings):
    settings.CHAT_PRESENCE_GRACE_SECONDS = 0.3
    shop, _agent, seat, agent_session = await sync_to_async(_absent_seat)()
    desk = await RawSocket.open(live_chat_server, session=agent_session)
    await desk.recv()
    # a reconnect inside the grace period keeps the seat online
    await desk.close()
    desk = await RawSocket.open(live_chat_server, session=agent_session)
    await desk.recv()
    await asyncio.sleep(0.5)
    first = await sync_to_async(_open_chat)(shop)
    one = await _shopper_writes(live_chat_server, first)
    assert await _eventually(lambda: _is(first["conversation"], "open", seat.pk))
    await desk.close()
    await asyncio.sleep(0.6)  # past the grace period
    second = await sync_to_async(_open_chat)(shop)
    two = await _shopper_writes(live_chat_server, second)
    assert await _eventually(lambda: _is(second["conversation"], "queued", None))
    await asyncio.sleep(0.3)
    assert await _is(second["conversation"], "queued", None)
    await one.close()
    await two.close()


async def test_an_agent_sets_away_with_a_frame_and_gets_no_new_shoppers(live_chat_server):
    shop, _agent, seat, agent_session = await sync_to_async(_absent_seat)()
    desk = await RawSocket.open(live_chat_server, session=agent_session)
    await desk.recv()
    await desk.send({"type": "availability", "available": False})
    answer = await desk.until(lambda f: f.get("type") in ("availability", "error"))
    assert answer == {"type": "availability", "available": False, "seats": [seat.pk]}
    session = await sync_to_async(_open_chat)(shop)
    shopper = await _shopper_writes(live_chat_server, session)
    assert await _eventually(lambda: _is(session["conversation"], "queued", None))
    await desk.send({"type": "availability", "available": True})
    await desk.until(lambda f: f.get("type") == "availability")
    assert await _eventually(lambda: _is(session["conversation"], "open", seat.pk))
    await desk.send({"type": "availability", "available": "yes"})
    assert (await desk.until(lambda f: f.get("type") == "error"))["code"] == "invalid"
    await desk.close()
    await shopper.close()


async def test_opening_the_page_is_a_visitor_until_the_first_message(live_chat_server):
    """No seat, no load, not in the queue, no `conversation` frame; the first message makes it a
    conversation, announced with exactly one `conversation` frame."""
    from xiaoer.chat import services

    shop = await sync_to_async(make_shop)()
    agent = await sync_to_async(make_staff)(shop, Role.AGENT)
    seat = await sync_to_async(make_seat)(shop, operator=agent)
    desk = await RawSocket.open(live_chat_server, session=await sync_to_async(session_for)(agent))
    await desk.recv()
    session = await sync_to_async(_open_chat)(shop)
    conv = session["conversation"]
    assert session["status"] == "visitor" and session["seat"] is None and session["queue_position"] == 0
    assert await sync_to_async(services.seat_loads)(shop.pk) == {}
    assert not [f for f in await desk.quiet(0.4) if f.get("type") == "conversation"]
    api = Client()
    await sync_to_async(api.force_login)(agent.user)
    listed = await sync_to_async(api.get)("/api/chat/conversations?tab=all")
    assert conv not in [c["id"] for c in json.loads(listed.content)]
    shopper = await _shopper_writes(live_chat_server, session)
    assert await _eventually(lambda: _is(conv, "open", seat.pk))
    await desk.quiet(0.5)
    frames = [f for f in desk.frames if f.get("type") == "conversation" and f["conversation"]["id"] == conv]
    assert len(frames) == 1 and frames[0]["conversation"]["status"] == "open"
    await desk.close()
    await shopper.close()
