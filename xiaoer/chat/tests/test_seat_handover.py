"""A seat handed over reaches both open workbenches at once (issue 10, broken 2; docs/protocol.md
``seats``): the person who lost it gets a ``seats`` frame without it and can no longer send for it;
the one who got it gets a ``seats`` frame with it and hears its conversations — no reload, no
reconnect. Over real sockets, frames counted raw (no client-side filtering)."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import ClientConnection, connect

from xiaoer.chat.client import ChatClient
from xiaoer.chat.tests.chatkit import make_scene, session_for

pytestmark = pytest.mark.django_db(transaction=True)


async def _desk(ws_url: str, session: str) -> ClientConnection:
    ws = await connect(f"{ws_url}/ws/desk", additional_headers={"Cookie": f"sessionid={session}"},
                       ping_interval=None)
    assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "welcome"
    return ws


async def _until(ws: ClientConnection, kind: str, seen: list[dict], timeout: float = 5.0, **match) -> dict:
    """Read frames into SEEN until one of type KIND (with the MATCH fields) arrives."""
    deadline = time.monotonic() + timeout
    while True:
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        seen.append(frame)
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


async def _send(ws: ClientConnection, conversation: int, client_id: str, body: str) -> None:
    await ws.send(orjson.dumps({"type": "send", "client_id": client_id, "conversation": conversation,
                                "kind": "text", "body": body}).decode())


def _colleagues(scene):
    from xiaoer.accounts.models import Role
    from xiaoer.testing import client_for, make_staff

    newcomer = make_staff(scene.shop, role=Role.AGENT, display_name="小李")
    lead = make_staff(scene.shop, role=Role.SUPERVISOR, display_name="主管")
    return newcomer, session_for(newcomer), client_for(lead)


def _hand_over(client, seat_id: int, staff_id: int | None) -> int:
    """What the supervisor page's API does (POST /api/accounts/seats/{id}/assign)."""
    response = client.post(f"/api/accounts/seats/{seat_id}/assign", {"staff": staff_id},
                           content_type="application/json")
    return response.status_code


async def test_handover_pushes_seats_to_both_workbenches_and_moves_send_rights(ws_url):
    scene = await sync_to_async(make_scene)()
    conv, seat = scene.conversation.pk, scene.seat.pk
    newcomer, newcomer_session, lead = await sync_to_async(_colleagues)(scene)
    leaving = await _desk(ws_url, scene.agent_session)
    arriving = await _desk(ws_url, newcomer_session)
    shopper = ChatClient(ws_url, token=scene.token)
    await shopper.connect()

    assert await sync_to_async(_hand_over)(lead, seat, newcomer.pk) == 200

    lost, got = [], []
    assert await _until(leaving, "seats", lost) == {"type": "seats", "seats": [], "supervisor": False}
    frame = await _until(arriving, "seats", got)
    assert frame["seats"] == [{"id": seat, "display_name": scene.seat.display_name, "online": True}]
    assert frame["supervisor"] is False

    # A send the old workbench still had in its input is refused, with the documented code.
    await _send(leaving, conv, "stale-1", "我还在吗")
    error = await _until(leaving, "error", lost, client_id="stale-1")
    assert error["code"] == "forbidden"
    # The new operator replies at once, and the shopper sees the seat's name.
    await _send(arriving, conv, "fresh-1", "您好，我接着为您服务")
    await _until(arriving, "ack", got, client_id="fresh-1")
    reply = await shopper.next_message()
    assert reply["body"] == "您好，我接着为您服务" and reply["seat"]["id"] == seat
    # The shopper's next message goes to the new operator only.
    await shopper.send("好的谢谢")
    message = await _until(arriving, "message", got)
    assert message["message"]["body"] == "好的谢谢"
    await leaving.send('{"type": "ping"}')
    await _until(leaving, "pong", lost)
    assert not [f for f in lost if f["type"] == "message"]
    assert not [f for f in lost if f["type"] == "ack"]  # the stale send was never stored

    # Handed to nobody: the newcomer's workbench loses it just the same.
    assert await sync_to_async(_hand_over)(lead, seat, None) == 200
    assert (await _until(arriving, "seats", got))["seats"] == []
    await _send(arriving, conv, "fresh-2", "还在")
    assert (await _until(arriving, "error", got, client_id="fresh-2"))["code"] == "forbidden"
    await shopper.close()
    for ws in (leaving, arriving):
        await ws.close()


async def test_a_role_change_reaches_the_open_workbench_as_a_seats_frame(ws_url):
    from xiaoer.accounts.models import Role

    scene = await sync_to_async(make_scene)(Role.SUPERVISOR)
    desk = await _desk(ws_url, scene.agent_session)

    def demote():  # what Django admin does
        staff = scene.agent
        staff.role = Role.AGENT
        staff.save()

    await sync_to_async(demote)()
    frames: list[dict] = []
    frame = await _until(desk, "seats", frames)
    assert frame["supervisor"] is False and [s["id"] for s in frame["seats"]] == [scene.seat.pk]
    await desk.close()
