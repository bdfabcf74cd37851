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


# --- raw frames on the wire ----------------------------------------------------------------------
# ChatClient drops every seq it already has and reorders gaps through `sync`, so assertions on
# its history test the client's filter. These record what the server actually put on the socket.

def recording_client(*args, **kwargs):
    """A ChatClient that also records every frame as it came off the socket (``client.wire``: a
    list of (connection number, frame)), before the client's duplicate/gap filter."""
    from xiaoer.chat.client import ChatClient

    class WireRecorder(ChatClient):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.wire: list[tuple[int, dict]] = []
            self.connection = 0  # 1 for the first welcome, +1 per reconnect
            self.sent_on: dict[str, int] = {}  # client_id → the connection it was first sent on
            self.sends: dict[tuple[int, str], int] = {}  # (connection, client_id) → times sent

        def _on_welcome(self, frame: dict) -> None:
            self.connection += 1
            self.wire.append((self.connection, frame))
            super()._on_welcome(frame)

        async def _send_frame(self, frame: dict) -> None:
            if frame.get("type") == "send":
                self.sent_on.setdefault(frame["client_id"], self.connection)
                key = (self.connection, frame["client_id"])
                self.sends[key] = self.sends.get(key, 0) + 1
            await super()._send_frame(frame)

        def _on_frame(self, frame: dict) -> None:
            self.wire.append((self.connection, frame))
            super()._on_frame(frame)

    return WireRecorder(*args, **kwargs)


def assert_exactly_once_on_wire(client, *, ordered: bool = True, with_acks: bool = True) -> dict[int, list[int]]:
    """Assert, on the raw frames CLIENT received: no conversation's seq came twice in `message`
    frames (over all its connections); no client_id was acked more often on a connection than it
    was sent there; each sync
    page is ascending and after its `after`; and, if ORDERED, on each connection the live frames
    of a conversation (`message`s and the acks of sends first made on that connection) rose
    strictly in seq (only the `message`s without WITH_ACKS). Returns the seqs of `message` frames per conversation, in arrival order."""
    live_seqs: dict[int, list[int]] = {}
    acked: dict[tuple[int, str], int] = {}
    stream: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for connection, frame in client.wire:
        kind = frame.get("type")
        if kind == "message":
            m = frame["message"]
            live_seqs.setdefault(m["conversation"], []).append(m["seq"])
            stream.setdefault((connection, m["conversation"]), []).append(("message", m["seq"]))
        elif kind == "ack":
            key = (connection, frame["client_id"])
            acked[key] = acked.get(key, 0) + 1
            assert acked[key] <= client.sends.get(key, 0), (
                f"{frame['client_id']} acked {acked[key]} times on connection {connection}, "
                f"sent {client.sends.get(key, 0)}")
            # A retry's ack (sent first on an earlier connection, or again) repeats an older seq.
            if with_acks and acked[key] == 1 and client.sent_on.get(frame["client_id"]) == connection:
                stream.setdefault((connection, frame["conversation"]), []).append(("ack", frame["seq"]))
        elif kind == "messages":
            page = [m["seq"] for m in frame["messages"]]
            assert page == sorted(set(page)), f"sync page out of order or doubled: {page}"
            assert all(s > frame["after"] for s in page), f"sync page before its after: {page}"
    for conv, seqs in live_seqs.items():
        doubled = sorted({s for s in seqs if seqs.count(s) > 1})
        assert not doubled, f"conversation {conv}: seqs {doubled[:10]} arrived twice on the wire"
    if ordered:
        for (connection, conv), items in stream.items():
            for before, after in zip(items, items[1:], strict=False):
                assert after[1] > before[1], (
                    f"conversation {conv}, connection {connection}: {after[0]} {after[1]} "
                    f"after {before[0]} {before[1]}")
    return live_seqs


def two_seats_scene() -> tuple[Shop, Staff, Seat, Seat, Conversation, Conversation]:
    """A shop with two agents, each operating one seat that serves one conversation: (shop, me,
    my seat, the other seat, my conversation, theirs) — for the one-access-rule tests."""
    shop = make_shop()
    me = make_staff(shop, Role.AGENT)
    my_seat = make_seat(shop, display_name="阿杰", operator=me)
    other_seat = make_seat(shop, display_name="小美", operator=make_staff(shop, Role.AGENT))
    _c, mine, _t = add_conversation(shop, my_seat)
    _c, theirs, _t = add_conversation(shop, other_seat)
    return shop, me, my_seat, other_seat, mine, theirs
