"""The robot with the real chat around it: the writer stores and fans out, the hub pushes to real
sockets of a live uvicorn (test_services.py replaces both to look inside the robot)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from xiaoer.accounts import services as account_services
from xiaoer.assistant import services
from xiaoer.assistant.engine import DATA
from xiaoer.assistant.models import RobotMode
from xiaoer.chat.models import Message
from xiaoer.chat.tests.chatkit import add_conversation, make_scene, recording_client
from xiaoer.knowledge import services as knowledge_services
from xiaoer.knowledge.models import StandardAnswer

pytestmark = pytest.mark.django_db(transaction=True)


def _kb_scene(mode: str):
    scene = make_scene()
    knowledge_services.import_file(scene.shop, "answers", (DATA / "kb_clothing.csv").read_bytes(), "kb.csv")
    cfg = services.settings_for(scene.shop.id)
    cfg.mode = mode
    cfg.save()
    services.forget_active(scene.shop.id)
    return scene


async def _frame(client, predicate, timeout: float = 30.0) -> dict:
    async def wait() -> dict:
        while True:
            for _connection, frame in client.wire:
                if predicate(frame):
                    return frame
            await asyncio.sleep(0.02)
    return await asyncio.wait_for(wait(), timeout)


async def test_suggestion_reaches_the_agents_socket_and_the_shopper_sees_nothing(live_chat_server):  # noqa: F811
    scene = await sync_to_async(_kb_scene)(RobotMode.SUGGEST)
    conv = scene.conversation.pk
    shopper = recording_client(live_chat_server, token=scene.token)
    agent = recording_client(live_chat_server, session=scene.agent_session)
    await shopper.connect()
    await agent.connect()
    await shopper.send("几天能发货呀")
    frame = await _frame(agent, lambda f: f.get("type") == "event" and f.get("event") == "suggestion")
    assert frame["conversation"] == conv and frame["data"]["intent"] == "shipping"
    await asyncio.sleep(0.2)
    assert not any(f.get("type") == "event" for _c, f in shopper.wire)  # suggestions are staff-only
    assert await Message.objects.filter(conversation_id=conv, sender_kind="robot").acount() == 0
    await shopper.close()
    await agent.close()


async def test_unattended_robot_answers_through_the_writer_with_the_shops_words(live_chat_server):  # noqa: F811
    scene = await sync_to_async(_kb_scene)(RobotMode.UNATTENDED)
    # Nobody online (whatever the work hours and the wall clock): a conversation waiting in the queue.
    await sync_to_async(account_services.do_set_seat_online)(scene.seat, False)
    _customer, conv, token = await sync_to_async(add_conversation)(scene.shop, None)
    shopper = recording_client(live_chat_server, token=token)
    await shopper.connect()
    ack = await shopper.send("你们包邮吗")
    answer = await sync_to_async(lambda: StandardAnswer.objects.get(shop=scene.shop, code="C15").answer)()
    frame = await _frame(shopper, lambda f: f.get("type") == "message"
                         and f["message"]["sender_kind"] == "robot")
    robot = frame["message"]
    assert robot["body"] == answer and robot["seq"] > ack["seq"] and robot["conversation"] == conv.pk
    stored = await Message.objects.aget(conversation_id=conv.pk, seq=robot["seq"])
    assert stored.sender_kind == "robot" and stored.body == answer
    await shopper.close()
