"""A staff person who loses access while connected is cut off at once (docs/protocol.md, 4003).

Deactivating a person (``Staff.is_active`` or ``User.is_active``, both editable in Django admin),
deleting their Staff row or moving them to a role that may not chat closes every open workbench
socket of theirs after the commit, in every process (a hub ``["k", staff_id, code]`` item, sent
through Redis like the others); reconnecting is then refused at connect. Other people's sockets,
and saves that take nobody's access away, are left alone.
"""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from xiaoer.chat import hub
from xiaoer.chat.client import ChatClient, ChatError
from xiaoer.chat.tests.chatkit import add_conversation, make_scene, session_for

REVOKED = 4003


# --- over real sockets ----------------------------------------------------------------------------

async def _desk(ws_url: str, session: str) -> ClientConnection:
    ws = await connect(f"{ws_url}/ws/desk", additional_headers={"Cookie": f"sessionid={session}"},
                       ping_interval=None)
    assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "welcome"
    return ws


async def _close_code(ws: ClientConnection, timeout: float = 5.0) -> int | None:
    """Read until the server closes WS (fails with TimeoutError if it does not within TIMEOUT)."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
    return ws.close_code


async def _next_message(ws: ClientConnection, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        if frame["type"] == "message":
            return frame["message"]


async def _still_open(ws: ClientConnection) -> None:
    await ws.send('{"type": "ping"}')
    deadline = time.monotonic() + 5
    while True:
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        if frame["type"] == "pong":
            return


def _colleagues(scene):
    """Another agent of the same shop (own seat and conversation) and the shop's owner."""
    from xiaoer.accounts.models import Role
    from xiaoer.testing import make_seat, make_staff, owner_of

    other = make_staff(scene.shop, role=Role.AGENT)
    seat = make_seat(scene.shop, display_name="小丽", operator=other)
    _customer, conv, token = add_conversation(scene.shop, seat)
    return session_for(other), session_for(owner_of(scene.shop)), conv.pk, token


def _deactivate_staff(staff):
    staff.is_active = False
    staff.save()


def _deactivate_user(staff):
    user = staff.user
    user.is_active = False
    user.save()


def _delete_staff(staff):
    staff.delete()


def _make_warehouse(staff):
    from xiaoer.accounts.models import Role

    staff.role = Role.WAREHOUSE
    staff.save()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change, refused_with", [
    (_deactivate_staff, 4401), (_deactivate_user, 4401), (_delete_staff, 4401), (_make_warehouse, 4403),
], ids=["staff-inactive", "user-inactive", "staff-deleted", "role-cannot-chat"])
async def test_revoked_person_is_cut_off_and_colleagues_are_not(ws_url, change, refused_with):
    scene = await sync_to_async(make_scene)()
    other_session, owner_session, other_conv, other_token = await sync_to_async(_colleagues)(scene)
    tabs = [await _desk(ws_url, scene.agent_session), await _desk(ws_url, scene.agent_session)]
    other = await _desk(ws_url, other_session)
    owner = await _desk(ws_url, owner_session)

    await sync_to_async(change)(scene.agent)

    for tab in tabs:  # every socket of the person, promptly, with the documented code
        assert await _close_code(tab) == REVOKED
    again = ChatClient(ws_url, session=scene.agent_session)
    with pytest.raises(ChatError):
        await again.connect()
    assert again.close_code == refused_with

    # The colleague and the owner of the same shop stay connected and keep getting live traffic.
    shopper = ChatClient(ws_url, token=other_token)
    await shopper.connect()
    await shopper.send("还在吗？")
    assert (await _next_message(other))["body"] == "还在吗？"
    assert (await _next_message(owner))["conversation"] == other_conv
    await _still_open(other)
    await _still_open(owner)
    await shopper.close()
    for ws in (other, owner):
        await ws.close()


@pytest.mark.django_db(transaction=True)
async def test_saves_that_revoke_nothing_close_nothing(ws_url):
    from django.utils import timezone

    scene = await sync_to_async(make_scene)()
    agent = await _desk(ws_url, scene.agent_session)

    def unrelated_saves():
        staff = scene.agent
        staff.display_name = "阿杰改名"
        staff.save()
        staff.save(update_fields=["display_name"])
        user = staff.user
        user.first_name = "杰"
        user.save()
        user.last_login = timezone.now()
        user.save(update_fields=["last_login"])

    await sync_to_async(unrelated_saves)()
    shopper = ChatClient(ws_url, token=scene.token)
    await shopper.connect()
    await shopper.send("这件有货吗？")
    assert (await _next_message(agent))["body"] == "这件有货吗？"
    await _still_open(agent)
    assert agent.close_code is None
    await shopper.close()
    await agent.close()


# --- the signals: which saves publish a revocation, and what they cost ----------------------------

@pytest.fixture
def published(monkeypatch):
    items: list[list] = []
    monkeypatch.setattr(hub, "publish_items", lambda batch: items.extend(batch))
    return items


@pytest.mark.django_db
def test_only_revoking_changes_publish_and_only_after_commit(published, django_capture_on_commit_callbacks,
                                                             django_assert_num_queries):
    from xiaoer.accounts.models import Role
    from xiaoer.testing import make_shop, make_staff

    shop = make_shop()
    staff = make_staff(shop, role=Role.AGENT)
    user = staff.user
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with django_assert_num_queries(1):  # the UPDATE itself: no extra query per unrelated save
            staff.display_name = "新名字"
            staff.save()
        with django_assert_num_queries(1):
            user.first_name = "新"
            user.save()
    assert callbacks == [] and published == []

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        staff.is_active = False
        staff.save()
    assert published == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert published == [["k", staff.pk, REVOKED]]

    published.clear()
    staff.is_active = True
    staff.save()
    with django_capture_on_commit_callbacks(execute=True):
        user.is_active = False
        user.save()
    assert published == [["k", staff.pk, REVOKED]]

    published.clear()
    staff_id = staff.pk
    with django_capture_on_commit_callbacks(execute=True):
        staff.delete()
    assert published == [["k", staff_id, REVOKED]]


# --- the hub item, locally and through the Redis bridge --------------------------------------------

async def _noop(message: dict) -> None:
    return None


async def test_hub_apply_k_closes_only_that_persons_sockets():
    h = hub.Hub()
    sent: list[dict] = []

    async def record(message: dict) -> None:
        sent.append(message)

    tab1 = hub.Conn(send=record, role="staff", shop_id=1, staff_id=5, seat_ids=frozenset({7}))
    tab2 = hub.Conn(send=record, role="staff", shop_id=1, staff_id=5, seat_ids=frozenset({7}))
    colleague = hub.Conn(send=_noop, role="staff", shop_id=1, staff_id=6, seat_ids=frozenset({8}))
    boss = hub.Conn(send=_noop, role="staff", shop_id=1, staff_id=9, supervisor=True)
    shopper = hub.Conn(send=_noop, role="shopper", shop_id=1, conversation_id=10)
    for conn in (tab1, tab2, colleague, boss, shopper):
        conn.start(10)
        h.register(conn)
    before = time.monotonic()
    # The item as another process would send it (through JSON and Redis).
    h.apply(orjson.loads(orjson.dumps([["k", 5, REVOKED]])))
    await asyncio.sleep(0.01)
    assert tab1.closed and tab2.closed and tab1.close_code == tab2.close_code == REVOKED
    assert sent == [{"type": "websocket.close", "code": REVOKED}] * 2
    assert not any(c.closed for c in (colleague, boss, shopper))
    # A socket of that person whose credentials were read before the change is refused too.
    assert h.revoked_since(5, before) and not h.revoked_since(5, time.monotonic() + 1)
    assert not h.revoked_since(6, before)
    for conn in (colleague, boss, shopper):
        conn.sender.cancel()


async def test_revocation_is_dispatched_locally_and_to_the_bridge(monkeypatch):
    h = hub.Hub()
    h.bind(asyncio.get_running_loop())

    class Bridge:
        def __init__(self) -> None:
            self.published: list[list] = []

        def publish(self, items: list[list]) -> None:
            self.published.append(items)

    h.bridge = Bridge()
    agent = hub.Conn(send=_noop, role="staff", shop_id=1, staff_id=5)
    agent.start(10)
    h.register(agent)
    monkeypatch.setattr(hub, "HUB", h)
    await asyncio.to_thread(hub.staff_access_revoked, [5])  # from another thread, as on_commit does
    await asyncio.sleep(0.05)
    assert agent.closed and agent.close_code == REVOKED
    assert h.bridge.published == [[["k", 5, REVOKED]]]
    await h.unbind()


def test_revocation_from_a_process_without_a_hub_goes_to_redis(monkeypatch, settings):
    """On the real Redis (skipped when absent): what another process's bridge would receive."""
    import redis

    from xiaoer.chat import pubsub

    url = "redis://127.0.0.1:6379/15"
    try:
        listener = redis.Redis.from_url(url, socket_timeout=5)
        listener.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {url}: {exc.__class__.__name__}")
    settings.REDIS_URL = url
    monkeypatch.setattr(hub, "HUB", hub.Hub())  # no loop: a task worker, a management command
    monkeypatch.setattr(pubsub, "_sync_client", None)  # connect to this URL
    sub = listener.pubsub(ignore_subscribe_messages=True)
    sub.subscribe(pubsub.channel_name())
    try:
        assert sub.get_message(timeout=5) is None  # the subscription is confirmed (and skipped)
        hub.staff_access_revoked([5, 6])
        deadline = time.monotonic() + 5
        message = None
        while message is None and time.monotonic() < deadline:
            message = sub.get_message(timeout=1)
    finally:
        sub.close()
        listener.close()
        if pubsub._sync_client is not None:
            pubsub._sync_client.close()
    assert message is not None, "nothing was published on the hub's channel"
    envelope = orjson.loads(message["data"])
    assert envelope["o"] == pubsub.ORIGIN  # a bridge in another process delivers it (not its own origin)
    assert envelope["i"] == [["k", 5, REVOKED], ["k", 6, REVOKED]]


async def _error_for(ws: ClientConnection, client_id: str, timeout: float = 5.0) -> dict | None:
    """The error frame for CLIENT_ID, or None when the send was acknowledged."""
    deadline = time.monotonic() + timeout
    while True:
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        if frame.get("client_id") == client_id and frame["type"] in ("error", "ack"):
            return frame if frame["type"] == "error" else None


@pytest.mark.django_db(transaction=True)
async def test_a_seat_taken_away_in_admin_stops_sends_for_it_without_reconnecting(ws_url):
    scene = await sync_to_async(make_scene)()
    agent = await _desk(ws_url, scene.agent_session)
    send = {"type": "send", "conversation": scene.conversation.pk, "kind": "text", "body": "您好"}
    await agent.send(orjson.dumps({**send, "client_id": "before"}).decode())
    assert await _error_for(agent, "before") is None

    def take_seat_away():  # what Django admin does: a plain save of the whole row
        seat = scene.seat
        seat.operator = None
        seat.save()

    await sync_to_async(take_seat_away)()
    deadline = time.monotonic() + 5
    while True:  # the reload is asynchronous: within moments the send is refused
        client_id = f"after-{time.monotonic()}"
        await agent.send(orjson.dumps({**send, "client_id": client_id}).decode())
        error = await _error_for(agent, client_id)
        if error is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert error is not None and error["code"] == "forbidden"
    await agent.close()


@pytest.mark.django_db
def test_role_and_seat_changes_reload_seats_after_commit_and_other_saves_do_not(
        published, django_capture_on_commit_callbacks):
    from xiaoer.accounts.models import Role
    from xiaoer.testing import make_seat, make_shop, make_staff

    shop = make_shop()
    staff = make_staff(shop, role=Role.SUPERVISOR)
    seat = make_seat(shop, operator=staff)
    with django_capture_on_commit_callbacks(execute=True):
        staff.display_name = "改名"
        staff.save()
        seat.display_name = "小美2"
        seat.save(update_fields=["display_name"])
    assert published == []
    with django_capture_on_commit_callbacks(execute=True):
        staff.role = Role.AGENT
        staff.save()
    assert published == [["s", shop.pk, [staff.pk]]]  # only that person's sockets reload
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        seat.operator = None
        seat.save()
    assert published[0] == ["s", shop.pk, [staff.pk]]
    # Staff lists and loads reload; shopper pages learn whether anyone is still online (decision 125).
    assert [orjson.loads(item[6])["event"] for item in published[1:]] == ["seat", "staffed"]
