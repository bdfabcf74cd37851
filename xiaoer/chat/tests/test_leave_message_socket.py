"""Over the real socket (docs/decisions/125-leave-a-message.md): a shopper page learns whether
anyone is online from `welcome`, and live from `staffed` events when a person opens or closes
their workbench; another shop's shoppers hear nothing."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from xiaoer.accounts.models import Role
from xiaoer.chat.tests.chatkit import session_for
from xiaoer.chat.tests.rawws import RawSocket
from xiaoer.testing import make_seat, make_shop, make_staff

pytestmark = pytest.mark.django_db(transaction=True)


def _world():
    shop, other = make_shop(), make_shop()
    agent = make_staff(shop, Role.AGENT)
    make_seat(shop, display_name="阿杰", operator=agent, present=False)
    open_chat = [Client().post(f"/s/{s.slug}/chat/session", "{}", content_type="application/json").json()
                 for s in (shop, other)]
    return session_for(agent), open_chat


async def test_welcome_says_nobody_is_online_and_staffed_events_follow_the_workbench(live_chat_server, settings):
    settings.CHAT_PRESENCE_GRACE_SECONDS = 0.2
    agent_session, (mine, theirs) = await sync_to_async(_world)()
    assert mine["staffed"] is False
    shopper = await RawSocket.open(live_chat_server, token=mine["token"])
    welcome = await shopper.recv()
    assert welcome["type"] == "welcome" and welcome["staffed"] is False and welcome["status"] == "visitor"
    stranger = await RawSocket.open(live_chat_server, token=theirs["token"])
    await stranger.recv()

    desk = await RawSocket.open(live_chat_server, session=agent_session)
    await desk.recv()
    staffed = await shopper.until(lambda f: f.get("type") == "event" and f.get("event") == "staffed")
    assert staffed["data"] == {"staffed": True}
    await desk.close()  # the last workbench closes: after the grace period nobody is online
    gone = await shopper.until(lambda f: f.get("type") == "event" and f.get("event") == "staffed")
    assert gone["data"] == {"staffed": False}
    assert not [f for f in await stranger.quiet(0.3) if f.get("event") == "staffed"]
    assert json.dumps(stranger.frames).count("staffed") == 1  # its own welcome only
    await shopper.close()
    await stranger.close()
