"""The chat WebSocket handler: plain ASGI, mounted by xiaoer/asgi.py for every websocket scope.

``/ws/chat?token=...`` is a shopper (signed token, bound to their conversation); ``/ws/desk`` is
staff (Django session cookie). Credentials are checked once, at connect, on a thread; a staff
person who later loses access (deactivated, deleted) is closed with 4003 by the hub's ``k`` item
(accounts.StaffAccessChanged, xiaoer.chat.listeners). After that no frame touches the ORM or hops to a thread, except ``sync`` and
``history`` (reads) and the first use of a conversation this process has not seen (one small query). Frames:
docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import close_old_connections, connection
from django.http.cookie import parse_cookie

from xiaoer.chat import access, frames, hub, presence, runtime, services, writer
from xiaoer.chat.auth import read_shopper_token
from xiaoer.chat.frames import FrameError
from xiaoer.chat.hub import HUB, Conn, ConvInfo

log = logging.getLogger(__name__)

CLOSE_BAD_CREDENTIALS = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
MAX_INFLIGHT = 256  # sends of one socket awaiting their commit before we stop reading it

POOL_WORKERS = 4
_pool: ThreadPoolExecutor | None = None


def _db_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=POOL_WORKERS, thread_name_prefix="chat-db")
    return _pool


def close_thread_connections(pool: ThreadPoolExecutor, workers: int) -> None:
    """Close the database connection of every worker thread of POOL (each thread owns its own;
    a PostgreSQL database cannot be dropped while they stay open)."""
    import threading

    from django.db import connections

    barrier = threading.Barrier(workers, timeout=5)

    def close() -> None:
        connections.close_all()
        try:
            barrier.wait()  # one task per thread: nobody takes a second one before all took one
        except threading.BrokenBarrierError:
            pass

    for future in [pool.submit(close) for _ in range(workers)]:
        future.result(timeout=10)


def shutdown_pool() -> None:
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        close_thread_connections(pool, POOL_WORKERS)
        pool.shutdown(wait=False)


def _in_db_thread(fn, *args):
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


async def _db(fn, *args):
    """Run FN (ORM or raw SQL) on the chat's small read pool, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_db_pool(), _in_db_thread, fn, *args)


# --- connect: who is this? -------------------------------------------------------------------------

def _shopper_identity(shop_id: int, customer_id: int) -> dict | int:
    from xiaoer.chat.models import Conversation

    conv = (Conversation.objects.select_related("seat").filter(shop_id=shop_id, customer_id=customer_id)
            .order_by("-id").first())
    if conv is None:
        return CLOSE_NOT_FOUND
    seat = {"id": conv.seat_id, "display_name": conv.seat.display_name} if conv.seat else None
    return {"conversation": conv.pk, "shop": shop_id, "customer": customer_id, "status": conv.status,
            "seat": seat, "last_seq": conv.last_seq, "agent_read_seq": conv.agent_read_seq,
            "queue_position": services.queue_position(conv), "staffed": services.seats_available(shop_id)}


def _staff_seats(staff) -> list[tuple[int, str]]:
    from xiaoer.accounts.models import Seat

    return list(Seat.objects.filter(shop_id=staff.shop_id, operator=staff, is_active=True)
                .order_by("id").values_list("id", "display_name"))


def _staff_identity(session_key: str) -> dict | int:
    from django.contrib.auth import get_user

    from xiaoer.accounts import services as account_services

    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(SimpleNamespace(session=store))
    staff = account_services.staff_for_user(user)
    if staff is None:
        return CLOSE_BAD_CREDENTIALS
    if not staff.can_chat:
        return CLOSE_FORBIDDEN
    return {"staff": staff.pk, "shop": staff.shop_id, "role": staff.role, "display_name": staff.display_name,
            "supervisor": staff.is_supervisor, "seats": _staff_seats(staff)}


def _load_staff_seats(staff_id: int) -> tuple[list[dict], bool]:
    from xiaoer.accounts.models import Seat, Staff

    staff = Staff.objects.filter(pk=staff_id, is_active=True).first()
    if staff is None:
        return [], False
    seats = (Seat.objects.filter(shop_id=staff.shop_id, operator=staff, is_active=True).order_by("id")
             .values("id", "display_name", "is_online"))
    return ([{"id": s["id"], "display_name": s["display_name"], "online": s["is_online"]} for s in seats],
            staff.is_supervisor)


async def load_staff_seats(staff_id: int) -> tuple[list[dict], bool]:
    """The seats STAFF_ID operates now (the ``seats`` frame's list) and whether they supervise."""
    return await _db(_load_staff_seats, staff_id)


def _origin_ok(scope) -> bool:
    """Refuse cross-site sockets riding on a staff session cookie."""
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin")
    if not origin:
        return True  # not a browser
    origin_s = origin.decode("latin-1")
    host = headers.get(b"host", b"").decode("latin-1")
    if urlsplit(origin_s).netloc == host:
        return True
    return origin_s in settings.CSRF_TRUSTED_ORIGINS


async def _authenticate(scope) -> tuple[str, dict | int]:
    path = scope.get("path", "").rstrip("/")
    if path == "/ws/chat":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        claims = read_shopper_token((query.get("token") or [""])[0])
        if claims is None:
            return "shopper", CLOSE_BAD_CREDENTIALS
        return "shopper", await _db(_shopper_identity, *claims)
    if path == "/ws/desk":
        cookies = {}
        for name, value in scope.get("headers") or []:
            if name == b"cookie":
                cookies.update(parse_cookie(value.decode("latin-1")))
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        if not session_key or len(session_key) > 64:
            return "staff", CLOSE_BAD_CREDENTIALS
        if not _origin_ok(scope):
            return "staff", CLOSE_FORBIDDEN
        return "staff", await _db(_staff_identity, session_key)
    return "unknown", CLOSE_NOT_FOUND


# --- the socket ----------------------------------------------------------------------------------

async def chat_socket(scope, receive, send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await runtime.ensure_started()
    started = time.monotonic()
    try:
        role, ident = await _authenticate(scope)
    except Exception:  # noqa: BLE001 - a failed lookup is a refused socket, not a crash
        log.exception("chat socket: authentication failed")
        role, ident = "unknown", 1011
    # Accept first, then close with the code: a browser cannot see the code of a refused handshake.
    await send({"type": "websocket.accept"})
    if isinstance(ident, int):
        await send({"type": "websocket.close", "code": ident})
        return
    if role == "staff" and HUB.revoked_since(ident["staff"], started):
        # Access was revoked while we read the credentials: the read may predate the commit.
        await send({"type": "websocket.close", "code": hub.CLOSE_REVOKED})
        return
    # No await from here to register(): a revocation applied now finds this socket.
    conn = _make_conn(send, role, ident)
    conn.start(int(settings.CHAT_SEND_QUEUE))
    HUB.register(conn)
    conn.push(_welcome(conn, ident))
    if conn.role == "staff":  # presence: event-driven, on a person's first and last socket here
        presence.TRACKER.arrived(conn.staff_id, first_here=len(HUB.by_staff.get(conn.staff_id, ())) == 1)
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                conn.last_recv = time.monotonic()
                if conn.closed:
                    continue
                await _on_frame(conn, message.get("text") if message.get("text") is not None
                                else message.get("bytes"))
            elif kind == "websocket.disconnect":
                break
    finally:
        HUB.unregister(conn)
        conn.closed = True
        if conn.role == "staff":
            presence.TRACKER.left(conn.staff_id, still_here=bool(HUB.by_staff.get(conn.staff_id)))
        if conn.sender is not None:
            conn.sender.cancel()


def _make_conn(send, role: str, ident: dict) -> Conn:
    if role == "shopper":
        HUB.remember(ident["conversation"], ConvInfo(ident["shop"], ident["seat"]["id"] if ident["seat"] else None,
                                                     ident["status"], ident["customer"]))
        conn = Conn(send=send, role="shopper", shop_id=ident["shop"], conversation_id=ident["conversation"],
                    customer_id=ident["customer"])
        conn.tokens = float(settings.CHAT_SHOPPER_BURST)
        conn.tokens_at = time.monotonic()
        return conn
    return Conn(send=send, role="staff", shop_id=ident["shop"], staff_id=ident["staff"],
                seat_ids=frozenset(s for s, _ in ident["seats"]), supervisor=ident["supervisor"])


def _welcome(conn: Conn, ident: dict) -> str:
    heartbeat = int(settings.CHAT_HEARTBEAT_SECONDS)
    if conn.role == "shopper":
        return frames.dumps({"type": "welcome", "role": "shopper", "conversation": ident["conversation"],
                             "shop": ident["shop"], "status": ident["status"], "last_seq": ident["last_seq"],
                             "heartbeat": heartbeat, "seat": ident["seat"],
                             "queue_position": ident["queue_position"],
                             "agent_read_seq": ident["agent_read_seq"], "staffed": ident["staffed"]})
    return frames.dumps({"type": "welcome", "role": "staff", "shop": ident["shop"], "last_seq": None,
                         "heartbeat": heartbeat, "supervisor": ident["supervisor"],
                         "staff": {"id": ident["staff"], "display_name": ident["display_name"],
                                   "role": ident["role"]},
                         "seats": [{"id": s, "display_name": n} for s, n in ident["seats"]]})


async def _on_frame(conn: Conn, raw) -> None:
    if raw is None or len(raw) > frames.MAX_FRAME_CHARS:
        conn.push(frames.error_frame("too_long", "frame too large"))
        return
    try:
        frame = frames.loads(raw)
    except Exception:  # noqa: BLE001 - orjson.JSONDecodeError and friends
        conn.push(frames.error_frame("bad_json", "frame is not valid JSON"))
        return
    if not isinstance(frame, dict):
        conn.push(frames.error_frame("bad_json", "frame must be a JSON object"))
        return
    handler = _HANDLERS.get(frame.get("type"))
    if handler is None:
        conn.push(frames.error_frame("unknown_type", "unknown frame type"))
        return
    try:
        await handler(conn, frame)
    except FrameError as exc:
        conn.push(frames.error_frame(exc.code, exc.detail, exc.client_id))
    except Exception:  # noqa: BLE001 - a database hiccup on a read must not drop the socket
        log.exception("chat socket: %s frame failed", frame.get("type"))
        client_id = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
        conn.push(frames.error_frame("unavailable", "try again", client_id))


# --- access to a conversation ----------------------------------------------------------------------

async def _conversation(conn: Conn, frame: dict, client_id: str | None = None) -> tuple[int, ConvInfo]:
    """The conversation a frame names, if the socket may see it; else FrameError not_found."""
    raw = frame.get("conversation")
    if conn.role == "shopper":
        if raw is not None and raw != conn.conversation_id:
            raise FrameError("not_found", "conversation not found", client_id)
        conv_id = conn.conversation_id
    else:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
            raise FrameError("not_found", "conversation not found", client_id)
        conv_id = raw
    info = HUB.convs.get(conv_id)
    if info is None:
        info = await _db(hub.load_conv, conv_id)
        if info is not None:
            HUB.remember(conv_id, info)
    if info is None or info.shop_id != conn.shop_id:
        raise FrameError("not_found", "conversation not found", client_id)
    return conv_id, info


# --- frame handlers ------------------------------------------------------------------------------

def _rate_ok(conn: Conn) -> bool:
    now = time.monotonic()
    rate, burst = float(settings.CHAT_SHOPPER_RATE), float(settings.CHAT_SHOPPER_BURST)
    conn.tokens = min(burst, conn.tokens + (now - conn.tokens_at) * rate)
    conn.tokens_at = now
    if conn.tokens < 1.0:
        return False
    conn.tokens -= 1.0
    return True


def _request_ok(conn: Conn) -> bool:
    """The token bucket of the other frames a client may repeat at will (sync, history, typing,
    read): every socket, shopper or staff, with its own rate."""
    now = time.monotonic()
    if conn.role == "shopper":
        rate, burst = float(settings.CHAT_SHOPPER_REQUEST_RATE), float(settings.CHAT_SHOPPER_REQUEST_BURST)
    else:
        rate, burst = float(settings.CHAT_STAFF_REQUEST_RATE), float(settings.CHAT_STAFF_REQUEST_BURST)
    if conn.req_tokens_at == 0.0:
        conn.req_tokens = burst
    else:
        conn.req_tokens = min(burst, conn.req_tokens + (now - conn.req_tokens_at) * rate)
    conn.req_tokens_at = now
    if conn.req_tokens < 1.0:
        return False
    conn.req_tokens -= 1.0
    return True


def _limit_requests(conn: Conn) -> None:
    if not _request_ok(conn):
        raise FrameError("rate_limited", "too many requests, slow down")


async def _on_send(conn: Conn, frame: dict) -> None:
    staff = conn.role == "staff"
    client_id, kind, body, payload = frames.check_send(frame, staff=staff)
    conv_id, info = await _conversation(conn, frame, client_id)
    if staff:
        if not access.may_reply(conn.seat_ids, conn.supervisor, info.seat_id):
            raise FrameError("forbidden", str(access.REPLY_REFUSED), client_id)
        draft = writer.Draft(conv_id, info.shop_id, client_id, "agent", kind, kind == "note", info.seat_id,
                             conn.staff_id, body, payload, origin=conn)
    else:
        if not _rate_ok(conn):
            raise FrameError("rate_limited", "too many messages, slow down", client_id)
        draft = writer.Draft(conv_id, info.shop_id, client_id, "shopper", kind, False, None, None, body,
                             payload, origin=conn)
    if kind == "card":  # built from the database, never from what the client claims
        draft.body, draft.payload = await _card(conv_id, payload, client_id, shopper=not staff)
    w = writer.WRITER
    if w is None:
        raise FrameError("unavailable", "server is shutting down, retry", client_id)
    future = w.submit(draft)
    conn.inflight += 1
    future.add_done_callback(lambda _f: _done(conn))
    if conn.inflight > MAX_INFLIGHT:
        await future  # back-pressure: stop reading this socket until its oldest sends commit


async def _card(conv_id: int, payload: dict, client_id: str, *, shopper: bool) -> tuple[str, dict]:
    from xiaoer.chat import cards

    try:
        return await _db(functools.partial(cards.build, shopper=shopper), conv_id, payload)
    except ValueError as exc:
        raise FrameError("invalid", str(exc), client_id) from None
    except LookupError:
        raise FrameError("not_found", "no such order or product", client_id) from None


def _done(conn: Conn) -> None:
    conn.inflight -= 1


_MESSAGE_COLS = ["m.id", "m.conversation_id", "m.shop_id", "m.seq", "m.client_id", "m.sender_kind", "m.kind",
                 "m.internal", "m.body", "m.payload", "m.seat_id", "m.created_at", "s.display_name"]


def _message_rows(cur, where: str, params: list, order: str, limit: int) -> list[dict]:
    """Messages matching WHERE (on ``m``), ORDER BY seq ORDER, at most LIMIT, as message dicts in
    ascending seq order."""
    rows = writer._Sql(connection.vendor).rows(
        cur, _MESSAGE_COLS, "FROM chat_message m LEFT JOIN accounts_seat s ON s.id = m.seat_id "
        f"WHERE {where} ORDER BY m.seq {order} LIMIT %s", params + [limit])
    rows = sorted(rows, key=lambda r: r[3])  # (SQLite's JSON aggregate need not keep the order)
    return [frames.message_dict(
        id=r[0], conversation=r[1], shop=r[2], seq=r[3], client_id=r[4], sender_kind=r[5], kind=r[6],
        internal=r[7], body=r[8], payload=r[9], seat={"id": r[10], "display_name": r[12]} if r[10] else None,
        created_at=r[11]) for r in rows]


def _conv_last_seq(cur, conv_id: int) -> int:
    cur.execute("SELECT last_seq FROM chat_conversation WHERE id = %s", [conv_id])
    row = cur.fetchone()
    return row[0] if row else 0


def _read_page(conv_id: int, after: int, shopper: bool) -> tuple[list[dict], int, bool]:
    with connection.cursor() as cur:
        last_seq = _conv_last_seq(cur, conv_id)
        hidden = " AND m.internal = %s" if shopper else ""
        params = [conv_id, after] + ([False] if shopper else [])
        messages = _message_rows(cur, f"m.conversation_id = %s AND m.seq > %s{hidden}", params, "ASC",
                                 frames.SYNC_PAGE + 1)
    more = len(messages) > frames.SYNC_PAGE
    messages = messages[:frames.SYNC_PAGE]
    if more:
        upto = messages[-1]["seq"]
    else:
        upto = max([last_seq, after] + [m["seq"] for m in messages])
    return messages, upto, more


def _read_history(conv_id: int, before: int | None, limit: int, shopper: bool) -> tuple[list[dict], bool, int | None]:
    """The LIMIT newest messages with seq < BEFORE (all when None), ascending; whether earlier ones
    exist; and, for the newest page only, the highest seq it covers (as a sync page's ``upto``)."""
    with connection.cursor() as cur:
        last_seq = _conv_last_seq(cur, conv_id) if before is None else None
        where = "m.conversation_id = %s"
        params: list = [conv_id]
        if before is not None:
            where += " AND m.seq < %s"
            params.append(before)
        if shopper:
            where += " AND m.internal = %s"
            params.append(False)
        messages = _message_rows(cur, where, params, "DESC", limit + 1)
    earlier = len(messages) > limit
    messages = messages[-limit:] if earlier else messages  # the newest LIMIT of them
    upto = None if last_seq is None else max([last_seq] + [m["seq"] for m in messages])
    return messages, earlier, upto


async def _on_sync(conn: Conn, frame: dict) -> None:
    _limit_requests(conn)
    conv_id, _info = await _conversation(conn, frame)
    after = frame.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise FrameError("invalid", "after must be a non-negative integer")
    messages, upto, more = await _db(_read_page, conv_id, after, conn.role == "shopper")
    conn.push(frames.dumps({"type": "messages", "conversation": conv_id, "after": after, "messages": messages,
                            "upto": upto, "more": more}))


async def _on_history(conn: Conn, frame: dict) -> None:
    _limit_requests(conn)
    conv_id, _info = await _conversation(conn, frame)
    before = frame.get("before")
    if before is not None and (isinstance(before, bool) or not isinstance(before, int) or before <= 0):
        raise FrameError("invalid", "before must be a positive integer or null")
    limit = frame.get("limit", frames.HISTORY_PAGE)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= frames.SYNC_PAGE:
        raise FrameError("invalid", f"limit must be an integer from 1 to {frames.SYNC_PAGE}")
    messages, earlier, upto = await _db(_read_history, conv_id, before, limit, conn.role == "shopper")
    conn.push(frames.dumps({"type": "history", "conversation": conv_id, "before": before, "limit": limit,
                            "messages": messages, "earlier": earlier, "upto": upto}))


async def _on_typing(conn: Conn, frame: dict) -> None:
    _limit_requests(conn)
    conv_id, info = await _conversation(conn, frame)
    now = time.monotonic()
    if now - conn.last_typing < 0.5:  # a client may send one per keystroke; relay at most 2/s
        return
    if conn.role == "staff" and not access.may_reply(conn.seat_ids, conn.supervisor, info.seat_id):
        raise FrameError("forbidden", str(access.REPLY_REFUSED))
    conn.last_typing = now
    if conn.role == "shopper":
        text = frames.dumps({"type": "typing", "conversation": conv_id, "who": "shopper"})
        mode = hub.TO_CONV_STAFF
    else:
        text = frames.dumps({"type": "typing", "conversation": conv_id, "who": "agent"})
        mode = hub.TO_SHOPPER
    HUB.dispatch([["d", info.shop_id, conv_id, info.seat_id, mode, None, text]], {0: conn.id})


async def _on_read(conn: Conn, frame: dict) -> None:
    _limit_requests(conn)
    conv_id, info = await _conversation(conn, frame)
    seq = frame.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise FrameError("invalid", "seq must be a non-negative integer")
    by = "shopper" if conn.role == "shopper" else "agent"
    if by == "agent" and not access.may_mark_read(conn.seat_ids, info.seat_id):
        raise FrameError("forbidden", str(access.READ_REFUSED))
    w = writer.WRITER
    if w is not None:
        w.mark_read(conv_id, by, seq)
    text = frames.dumps({"type": "read", "conversation": conv_id, "by": by, "seq": seq})
    mode = hub.TO_CONV_STAFF if by == "shopper" else hub.TO_CONV_STAFF | hub.TO_SHOPPER
    HUB.dispatch([["d", info.shop_id, conv_id, info.seat_id, mode, None, text]], {0: conn.id})


def _set_availability(staff_id: int, seat_id: int | None, available: bool) -> list[int] | str:
    """The person's seats (or SEAT_ID) available or 挂起; the seat ids changed, or an error code."""
    from django.core.exceptions import PermissionDenied, ValidationError
    from django.db import transaction

    from xiaoer.accounts.models import Seat, Staff
    from xiaoer.chat import services

    staff = Staff.objects.filter(pk=staff_id, is_active=True).first()
    if staff is None:
        return "forbidden"
    seats = Seat.objects.filter(shop_id=staff.shop_id, operator=staff, is_active=True)
    if seat_id is not None:
        seats = seats.filter(pk=seat_id)
    changed = []
    try:
        with transaction.atomic():
            for seat in seats:
                services.do_set_seat_online(staff, seat, available)
                changed.append(seat.pk)
    except (PermissionDenied, ValidationError):
        return "forbidden"
    return changed if changed else "not_found"


async def _on_availability(conn: Conn, frame: dict) -> None:
    """Staff: 接待中 (available) or 挂起 (busy/away) for their seats; docs/protocol.md."""
    if conn.role != "staff":
        raise FrameError("forbidden", "staff only")
    _limit_requests(conn)
    available = frame.get("available")
    seat_id = frame.get("seat")
    if not isinstance(available, bool):
        raise FrameError("invalid", "available must be true or false")
    if seat_id is not None and (isinstance(seat_id, bool) or not isinstance(seat_id, int)):
        raise FrameError("invalid", "seat must be a seat id or absent")
    result = await _db(_set_availability, conn.staff_id, seat_id, available)
    if isinstance(result, str):
        raise FrameError(result, "not a seat you operate")
    conn.push(frames.dumps({"type": "availability", "available": available, "seats": result}))


_PONG = frames.dumps({"type": "pong"})


async def _on_ping(conn: Conn, frame: dict) -> None:
    conn.push(_PONG)


async def _on_pong(conn: Conn, frame: dict) -> None:
    return None  # last_recv is already updated


_HANDLERS = {"availability": _on_availability, "send": _on_send, "sync": _on_sync, "history": _on_history, "typing": _on_typing, "read": _on_read, "ping": _on_ping,
             "pong": _on_pong}
