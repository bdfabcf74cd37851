"""Setup helpers shared by the chat socket tests (data through the factories and the ORM)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from django.test import Client
from django.utils import timezone

from xiaoer.accounts.models import Role, Seat, Shop, Staff
from xiaoer.chat.auth import make_shopper_token
from xiaoer.chat.models import Conversation
from xiaoer.customers.models import Customer
from xiaoer.testing import make_seat, make_shop, make_staff

_n = itertools.count(1)


@dataclass
class Scene:
    shop: Shop
    agent: Staff
    seat: Seat
    customer: Customer
    conversation: Conversation
    token: str
    agent_session: str


def session_for(staff: Staff) -> str:
    client = Client()
    client.force_login(staff.user)
    return client.cookies["sessionid"].value


def add_conversation(shop: Shop, seat: Seat | None) -> tuple[Customer, Conversation, str]:
    customer = Customer.objects.create(shop=shop, visitor_id=f"v{next(_n)}")
    conv = Conversation.objects.create(shop=shop, customer=customer, seat=seat,
                                       status="open" if seat else "queued", queued_at=timezone.now())
    return customer, conv, make_shopper_token(shop, customer)


def make_scene(role: str = Role.AGENT) -> Scene:
    shop = make_shop()
    agent = make_staff(shop, role=role)
    seat = make_seat(shop, operator=agent)
    customer, conv, token = add_conversation(shop, seat)
    return Scene(shop, agent, seat, customer, conv, token, session_for(agent))


async def connect_both(server: str, scene: Scene):
    """The scene's shopper and agent, connected to SERVER: (shopper, agent) ChatClients."""
    from xiaoer.chat.client import ChatClient

    shopper = ChatClient(server, token=scene.token)
    agent = ChatClient(server, session=scene.agent_session)
    await shopper.connect()
    await agent.connect()
    return shopper, agent
