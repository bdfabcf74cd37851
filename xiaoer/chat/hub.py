"""The hub: who is connected where, and the fan-out of frames to them.

In-process registry (docs/design.md "The chat hot path"): conversation → shopper sockets, seat →
staff sockets, shop → supervisor/owner sockets and all chat staff sockets, staff → sockets.
Delivering a frame is a few dict lookups; nothing scans all sockets per message. Each socket has
a bounded send queue; a socket that cannot keep up is closed with 4008 and catches up by seq on
reconnect, never silently skipped.

Between processes (REDIS_URL set) every delivery is also published, after commit, on one Redis
channel; each process delivers to its own sockets. Pub/sub only wakes sockets: the database is
the record, and clients fill any gap with ``sync``.

All hub state lives on the event loop's thread. The public functions (``publish_event``,
``conversation_changed``, ``staff_access_revoked``, ``publish_items``) may be called from any
thread or from a process without a loop (a task worker): they hop onto the loop with
``call_soon_threadsafe``, or publish straight to Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from xiaoer.chat import frames

log = logging.getLogger(__name__)

# Delivery modes (bit flags) of a "d" item.
TO_CONV_STAFF = 1  # staff of the conversation's seat + supervisors (+ all chat staff while unassigned)
TO_SHOPPER = 2  # the conversation's shopper sockets
TO_SHOP_STAFF = 4  # every chat staff socket of the shop
TO_SEAT = 8  # the sockets operating seat_id
TO_STAFF = 16  # the sockets of staff_id
TO_SHOP_SHOPPERS = 32  # every shopper socket of the shop (whether anyone is online to answer)

CLOSE_SLOW = 4008
CLOSE_RESYNC = 1012
CLOSE_REVOKED = 4003  # the person was deactivated, deleted or may no longer chat
REVOKED_MEMORY = 300.0  # seconds a revocation is remembered (refuses sockets authenticated just before)
# The heartbeat walks a tenth of the sockets every HEARTBEAT_TICK seconds, and each socket is pinged
# after its own jittered silence: sockets opened together (a page of widgets, a reconnect storm)
# are not pinged, nor answer, in the same loop turn (docs/decisions/180-spread-heartbeats.md).
HEARTBEAT_TICK = 0.1
HEARTBEAT_SLICES = 10
HEARTBEAT_JITTER = 0.5  # a socket is pinged after interval × (1 + up to this) of silence

_ids = itertools.count(1)


@dataclass(slots=True)
class ConvInfo:
    shop_id: int
    seat_id: int | None
    status: str
    customer_id: int | None = None


@dataclass(eq=False)
class Conn:
    """One accepted socket. Only touched on the loop thread."""

    send: Any
    role: str  # "shopper" | "staff"
    shop_id: int
    conversation_id: int | None = None  # shopper
    customer_id: int | None = None  # shopper
    staff_id: int | None = None
    seat_ids: frozenset[int] = frozenset()
    supervisor: bool = False
    id: int = field(default_factory=lambda: next(_ids))
    queue: asyncio.Queue | None = None
    closed: bool = False
    close_code: int | None = None
    last_recv: float = field(default_factory=time.monotonic)
    ping_jitter: float = field(default_factory=lambda: random.random() * HEARTBEAT_JITTER)
    pinged_at: float = 0.0
    sender: asyncio.Task | None = None
    inflight: int = 0
    tokens: float = 0.0  # shopper rate limit (token bucket)
    tokens_at: float = 0.0
    last_typing: float = 0.0
    req_tokens: float = 0.0  # sync/history/typing/read rate limit (token bucket)
    req_tokens_at: float = 0.0

    def start(self, maxsize: int) -> None:
        self.queue = asyncio.Queue(maxsize=maxsize)
        self.sender = asyncio.get_running_loop().create_task(self._send_loop())

    def push(self, text: str) -> None:
        """Queue TEXT for this socket; a full queue closes it (4008) instead of skipping."""
        if self.closed:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("socket %s too slow (queue full), closing", self.id)
            self.close(CLOSE_SLOW)

    def close(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        if self.sender is not None:
            self.sender.cancel()
        asyncio.get_running_loop().create_task(self._send_close(code))

    async def _send_close(self, code: int) -> None:
        try:
            await self.send({"type": "websocket.close", "code": code})
        except Exception:  # noqa: BLE001 - already gone
            pass

    async def _send_loop(self) -> None:
        queue, send = self.queue, self.send
        try:
            while True:
                text = await queue.get()
                await send({"type": "websocket.send", "text": text})
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the peer went away; the receive loop cleans up
            self.closed = True


class Hub:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread: int | None = None
        self.conns: dict[int, Conn] = {}
        self.by_conv: dict[int, set[Conn]] = {}
        self.by_seat: dict[int, set[Conn]] = {}
        self.by_staff: dict[int, set[Conn]] = {}
        self.supervisors: dict[int, set[Conn]] = {}
        self.shop_staff: dict[int, set[Conn]] = {}
        self.shop_shoppers: dict[int, set[Conn]] = {}
        self.convs: dict[int, ConvInfo] = {}
        self.revoked: dict[int, float] = {}  # staff id → monotonic time of their last revocation here
        self.bridge = None  # pubsub.RedisBridge when REDIS_URL is set
        self._heartbeat: asyncio.Task | None = None

    # --- lifecycle --------------------------------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.loop_thread = threading.get_ident()
        self._heartbeat = loop.create_task(self._heartbeat_loop())

    async def unbind(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for conn in list(self.conns.values()):
            conn.close(1001)
        await asyncio.sleep(0)
        self.loop = None
        self.loop_thread = None

    def running(self) -> bool:
        return self.loop is not None and not self.loop.is_closed()

    # --- registry ---------------------------------------------------------------------------
    def register(self, conn: Conn) -> None:
        self.conns[conn.id] = conn
        if conn.role == "shopper":
            self.by_conv.setdefault(conn.conversation_id, set()).add(conn)
            self.shop_shoppers.setdefault(conn.shop_id, set()).add(conn)
            return
        self._register_staff(conn)

    def _register_staff(self, conn: Conn) -> None:
        for seat_id in conn.seat_ids:
            self.by_seat.setdefault(seat_id, set()).add(conn)
        self.by_staff.setdefault(conn.staff_id, set()).add(conn)
        self.shop_staff.setdefault(conn.shop_id, set()).add(conn)
        if conn.supervisor:
            self.supervisors.setdefault(conn.shop_id, set()).add(conn)

    def unregister(self, conn: Conn) -> None:
        self.conns.pop(conn.id, None)
        if conn.role == "shopper":
            _discard(self.by_conv, conn.conversation_id, conn)
            _discard(self.shop_shoppers, conn.shop_id, conn)
            return
        for seat_id in conn.seat_ids:
            _discard(self.by_seat, seat_id, conn)
        _discard(self.by_staff, conn.staff_id, conn)
        _discard(self.shop_staff, conn.shop_id, conn)
        _discard(self.supervisors, conn.shop_id, conn)

    def set_staff_seats(self, conn: Conn, seat_ids: frozenset[int], supervisor: bool) -> None:
        self.unregister(conn)
        conn.seat_ids, conn.supervisor = seat_ids, supervisor
        self.conns[conn.id] = conn
        self._register_staff(conn)

    # --- conversation routing cache ---------------------------------------------------------
    def remember(self, conversation_id: int, info: ConvInfo) -> None:
        if len(self.convs) > 200_000:  # a crude bound; entries reload from the database on demand
            self.convs.clear()
        self.convs[conversation_id] = info

    # --- delivery ---------------------------------------------------------------------------
    def audience(self, shop_id: int, conv_id: int | None, seat_id: int | None, mode: int,
                 staff_id: int | None = None) -> set[Conn]:
        out: set[Conn] = set()
        if mode & TO_CONV_STAFF:
            if seat_id is not None:
                out.update(self.by_seat.get(seat_id, ()))
                out.update(self.supervisors.get(shop_id, ()))
            else:
                out.update(self.shop_staff.get(shop_id, ()))
        if mode & TO_SHOPPER and conv_id is not None:
            out.update(self.by_conv.get(conv_id, ()))
        if mode & TO_SHOP_STAFF:
            out.update(self.shop_staff.get(shop_id, ()))
        if mode & TO_SEAT and seat_id is not None:
            out.update(self.by_seat.get(seat_id, ()))
        if mode & TO_STAFF and staff_id is not None:
            out.update(self.by_staff.get(staff_id, ()))
        if mode & TO_SHOP_SHOPPERS:
            out.update(self.shop_shoppers.get(shop_id, ()))
        return out

    def apply(self, items: list[list], exclude: dict[int, int] | None = None,
              answers: list[tuple[int, Any, str]] | None = None) -> None:
        """Deliver ITEMS to local sockets (loop thread). EXCLUDE maps item index → socket id.
        ANSWERS are (index, conn, text): TEXT is pushed to CONN just before item INDEX (the
        writer's acks, in seq order with the message frames)."""
        pending = iter(answers or ())
        answer = next(pending, None)
        for index, item in enumerate(items):
            while answer is not None and answer[0] <= index:
                answer[1].push(answer[2])
                answer = next(pending, None)
            op = item[0]
            if op == "d":
                _, shop_id, conv_id, seat_id, mode, staff_id, text = item
                skip = exclude.get(index) if exclude else None
                for conn in self.audience(shop_id, conv_id, seat_id, mode, staff_id):
                    if conn.id != skip and conn.shop_id == shop_id:
                        conn.push(text)
            elif op == "c":
                _, conv_id, shop_id, seat_id, status = item
                old = self.convs.get(conv_id)
                customer_id = old.customer_id if old else None
                self.remember(conv_id, ConvInfo(shop_id, seat_id, status, customer_id))
            elif op == "s":  # seats changed operator: reload staff sockets' seats (of these people)
                self.loop.create_task(_reload_seats(self, item[1], item[2] if len(item) > 2 else None))
            elif op == "k":  # a staff person lost access: close every socket of theirs
                self.revoke(item[1], item[2])
        while answer is not None:
            answer[1].push(answer[2])
            answer = next(pending, None)

    # --- revoked access ---------------------------------------------------------------------
    def revoke(self, staff_id: int, code: int = CLOSE_REVOKED) -> None:
        self.revoked[staff_id] = time.monotonic()
        for conn in list(self.by_staff.get(staff_id, ())):
            conn.close(code)  # the receive loop unregisters it when the peer is gone

    def revoked_since(self, staff_id: int, since: float) -> bool:
        """Was STAFF_ID revoked here at or after SINCE (monotonic)? A socket whose credentials were
        read before that moment may have read them before the change committed."""
        at = self.revoked.get(staff_id)
        return at is not None and at >= since

    def dispatch(self, items: list[list], exclude: dict[int, int] | None = None,
                 answers: list[tuple[int, Any, str]] | None = None) -> None:
        """Deliver locally now and, with Redis, to the other processes (loop thread)."""
        if not items:
            for _index, conn, text in answers or ():
                conn.push(text)
            return
        self.apply(items, exclude, answers)
        if self.bridge is not None:
            self.bridge.publish(items)

    def close_all(self, code: int) -> None:
        for conn in list(self.conns.values()):
            conn.close(code)

    # --- heartbeat --------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        ping = frames.dumps({"type": "ping"})
        batch: list[Conn] = []
        tick = 0
        while True:
            await asyncio.sleep(HEARTBEAT_TICK)
            slot = tick % HEARTBEAT_SLICES
            tick += 1
            if slot == 0:  # a new round: a snapshot, walked one slice per tick
                batch = list(self.conns.values())
                self._forget_old_revocations()
            self._ping_or_close(batch[slot::HEARTBEAT_SLICES], ping)

    def _ping_or_close(self, conns: list[Conn], ping: str) -> None:
        interval = float(settings.CHAT_HEARTBEAT_SECONDS)
        now = time.monotonic()
        for conn in conns:
            if conn.closed:
                continue
            if conn.pinged_at > conn.last_recv:  # asked, no answer yet
                if now - conn.pinged_at > interval:
                    conn.close(4000)  # presumed dead
            elif now - conn.last_recv > interval * (1 + conn.ping_jitter):
                conn.push(ping)
                conn.pinged_at = now

    def _forget_old_revocations(self) -> None:
        if self.revoked:
            now = time.monotonic()
            self.revoked = {k: t for k, t in self.revoked.items() if now - t < REVOKED_MEMORY}


def _discard(index: dict, key, conn: Conn) -> None:
    bucket = index.get(key)
    if bucket is not None:
        bucket.discard(conn)
        if not bucket:
            del index[key]


HUB = Hub()


# --- public, thread-safe API ---------------------------------------------------------------------

def publish_items(items: list[list]) -> None:
    """Deliver hub ITEMS from any thread or process (after the caller's commit)."""
    if not items:
        return
    hub = HUB
    loop = hub.loop
    if loop is not None and not loop.is_closed():
        if threading.get_ident() == hub.loop_thread:
            hub.dispatch(items)
        else:
            loop.call_soon_threadsafe(hub.dispatch, items)
        return
    if settings.REDIS_URL:
        from xiaoer.chat import pubsub

        pubsub.publish_sync(items)
    # Otherwise no socket can be connected to this process: nothing to wake.


def load_conv(conversation_id: int) -> ConvInfo | None:
    """A conversation's routing facts, read from the database (one indexed statement)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT shop_id, seat_id, status, customer_id FROM chat_conversation WHERE id = %s",
                    [conversation_id])
        row = cur.fetchone()
    return ConvInfo(*row) if row else None


def _conv_route(conversation_id: int) -> ConvInfo | None:
    return HUB.convs.get(conversation_id) or load_conv(conversation_id)


def publish_event(shop_id: int, event: str, data: dict, *, conversation_id: int | None = None,
                  seat_id: int | None = None, staff_id: int | None = None, to_shopper: bool = False) -> None:
    """Send an ``event`` frame (call after commit, from any thread).

    Audience: the staff of CONVERSATION_ID (its seat, supervisors) and, with TO_SHOPPER, its
    shopper; the sockets of SEAT_ID; the sockets of STAFF_ID. With none of the three given, every
    chat staff socket of the shop (a broadcast).
    """
    frame: dict[str, Any] = {"type": "event", "event": event, "data": data}
    if conversation_id is not None:
        frame["conversation"] = conversation_id
    text = frames.dumps(frame)
    items: list[list] = []
    if conversation_id is not None:
        info = _conv_route(conversation_id)
        if info is None or info.shop_id != shop_id:
            return
        mode = TO_CONV_STAFF | (TO_SHOPPER if to_shopper else 0)
        items.append(["d", shop_id, conversation_id, info.seat_id, mode, None, text])
    if seat_id is not None:
        items.append(["d", shop_id, None, seat_id, TO_SEAT, None, text])
    if staff_id is not None:
        items.append(["d", shop_id, None, None, TO_STAFF, staff_id, text])
    if conversation_id is None and seat_id is None and staff_id is None:
        items.append(["d", shop_id, None, None, TO_SHOP_STAFF, None, text])
    publish_items(_dedupe(items))


def publish_to_shoppers(shop_id: int, event: str, data: dict) -> None:
    """Send an ``event`` frame to every shopper socket of SHOP_ID (call after commit, any thread)."""
    text = frames.dumps({"type": "event", "event": event, "data": data})
    publish_items([["d", shop_id, None, None, TO_SHOP_SHOPPERS, None, text]])


def _dedupe(items: list[list]) -> list[list]:
    # One socket may be in several audiences (seat and staff id): merge into one delivery.
    if len(items) <= 1:
        return items
    shop_id, conv_id, seat_id, staff_id, text = items[0][1], None, None, None, items[0][6]
    mode = 0
    for item in items:
        mode |= item[4]
        conv_id = conv_id if item[2] is None else item[2]
        seat_id = seat_id if item[3] is None else item[3]
        staff_id = staff_id if item[5] is None else item[5]
    if (mode & TO_SEAT) and (mode & TO_CONV_STAFF) and len({i[3] for i in items if i[3] is not None}) > 1:
        return items  # two different seats: keep separate (rare; a socket may get it twice)
    return [["d", shop_id, conv_id, seat_id, mode, staff_id, text]]


def conversation_changed(conversation_id: int) -> None:
    """Call after a commit that changed a conversation's seat or status (transfer, claim,
    resolve, reopen, a new conversation). Every process refreshes its routing cache; every chat
    staff socket of the shop gets a ``conversation`` summary frame; the shopper gets ``queue``
    (position and seat)."""
    from xiaoer.chat import services
    from xiaoer.chat.models import Conversation

    conv = Conversation.objects.select_related("seat", "customer").filter(pk=conversation_id).first()
    if conv is None:
        return
    summary = services.conversation_json(conv)
    shop_id, seat_id = conv.shop_id, conv.seat_id
    position = services.queue_position(conv)
    queue = {"type": "queue", "conversation": conversation_id, "position": position,
             "seat": summary["seat"], "status": summary["status"]}
    publish_items([
        ["c", conversation_id, shop_id, seat_id, summary["status"]],
        ["d", shop_id, conversation_id, seat_id, TO_SHOP_STAFF, None,
         frames.dumps({"type": "conversation", "conversation": summary})],
        ["d", shop_id, conversation_id, seat_id, TO_SHOPPER, None, frames.dumps(queue)],
    ])


def seats_changed(shop_id: int, staff_ids=None) -> None:
    """Call after a commit that handed seats of SHOP_ID to other persons: connected staff sockets
    of the shop (of STAFF_IDS only, when given) reload which seats they operate; those whose seats
    changed get a ``seats`` frame."""
    publish_items([["s", shop_id] if staff_ids is None else ["s", shop_id, sorted(set(staff_ids))]])


def staff_access_revoked(staff_ids, code: int = CLOSE_REVOKED) -> None:
    """Call after a commit that took chat access away from STAFF_IDS (deactivated, deleted, a role
    that may not chat; the chat listens to accounts.StaffAccessChanged): every socket of theirs, in
    every process, is closed with CODE. Reconnecting is refused at connect, as for anyone."""
    publish_items([["k", int(staff_id), code] for staff_id in staff_ids])


async def _reload_seats(hub: Hub, shop_id: int, staff_ids: list[int] | None = None) -> None:
    from xiaoer.chat import socket

    wanted = None if staff_ids is None else set(staff_ids)
    conns = [c for c in hub.shop_staff.get(shop_id, ()) if not c.closed and (wanted is None or c.staff_id in wanted)]
    loaded: dict[int, tuple[list[dict], bool]] = {}
    for conn in conns:
        if conn.staff_id not in loaded:
            loaded[conn.staff_id] = await socket.load_staff_seats(conn.staff_id)
        seats, supervisor = loaded[conn.staff_id]
        seat_ids = frozenset(s["id"] for s in seats)
        changed = seat_ids != conn.seat_ids or supervisor != conn.supervisor
        hub.set_staff_seats(conn, seat_ids, supervisor)
        if changed:  # the workbench updates its seat toggles, lists and send rights
            conn.push(frames.dumps({"type": "seats", "seats": seats, "supervisor": supervisor}))


def hub_health() -> str:
    """"ok", or what is wrong (used by /healthz)."""
    if not settings.REDIS_URL:
        return "ok"
    from xiaoer.chat import pubsub

    return pubsub.health()
