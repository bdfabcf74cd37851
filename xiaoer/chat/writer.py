"""The group-commit writer: the chat's one write path for messages, in raw SQL.

Socket handlers hand drafts to the process's one ``Writer``. It takes everything queued (a batch
closes at CHAT_BATCH_MAX rows or CHAT_BATCH_WAIT_MS after its first row) and writes it in ONE
transaction on its own thread, in a constant number of statements whatever the batch size:

1. look up (conversation, client_id) pairs already stored — a retry stores nothing and is
   answered with the original id and seq;
2. one ``UPDATE chat_conversation ... FROM (VALUES ...) RETURNING`` allocates each
   conversation's seqs (last_seq + n; the row lock makes it safe across processes on
   PostgreSQL) and updates preview, last_message_at, last_shopper_seq and waiting_since;
3. one multi-row ``INSERT ... ON CONFLICT (conversation_id, client_id) DO NOTHING RETURNING``.

Not ``executemany`` and not a statement per row: each statement releases and retakes the GIL,
and beside a busy event loop every retake can wait a whole switch interval (docs/decisions/010: a
256-row executemany took 1.4 s). Only after the commit are senders acked and frames fanned out.

``post_message_sync`` runs the same ``store_batch`` in the caller's thread and transaction (for
services, the robot, task workers) and fans out after the caller's commit.

Every batch that stores something also writes ONE outbox row, a ``chat.MessagesCommitted`` event
(xiaoer/chat/events.py), in the same transaction and with one statement whatever the batch size
(docs/decisions/110-one-outbox-row-per-batch.md). After the commit its live listeners (the robot,
reopen-on-message) run on the writer's event thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from xiaoer.chat import frames, hub
from xiaoer.chat.events import MessagesCommitted
from xiaoer.conf import bool_setting
from xiaoer.events import after_commit, outbox_insert

log = logging.getLogger(__name__)
_STATS = bool_setting("CHAT_STATS", False)


class EventThread:
    """Runs the after-commit delivery of the writer's batch events on one thread, in batch order:
    the event loop never waits for a listener (the robot, reopen-on-message)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set = set()

    def submit(self, event, outbox_id: int | None) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-events")
        future = self._pool.submit(self._deliver, event, outbox_id)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    @staticmethod
    def _deliver(event, outbox_id: int | None) -> None:
        close_old_connections()
        try:
            after_commit(event, outbox_id)
        except Exception:  # noqa: BLE001 - the batch is committed; a listener's bug is logged
            log.exception("chat writer: delivering %s #%s failed", event.name, outbox_id)
        finally:
            close_old_connections()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until the events submitted so far were delivered (tests, shutdown)."""
        for future in list(self._pending):
            future.result(timeout=timeout)

    def shutdown(self) -> None:
        """Deliver what is queued, then close the thread's database connection."""
        pool, self._pool = self._pool, None
        if pool is not None:
            self.wait_idle(timeout=30)
            pool.submit(_close_connection).result(timeout=10)
            pool.shutdown(wait=False)


EVENTS = EventThread()


@dataclass(slots=True, eq=False)
class Draft:
    conversation_id: int
    shop_id: int
    client_id: str
    sender_kind: str
    kind: str
    internal: bool
    seat_id: int | None
    staff_id: int | None
    body: str
    payload: dict
    origin: Any = None  # the hub.Conn to ack, if any
    future: Any = None


@dataclass(slots=True, eq=False)
class Outcome:
    draft: Draft
    message: dict | None = None
    duplicate: bool = False
    error: tuple[str, str] | None = None


@dataclass(slots=True)
class BatchResult:
    outcomes: list[Outcome]
    # conversation id → (shop_id, seat_id, status) as of the commit
    conversations: dict[int, tuple[int, int | None, str]] = field(default_factory=dict)
    event: MessagesCommitted | None = None  # written to the outbox with the batch
    outbox_id: int | None = None


_MSG_COLUMNS = ("id, conversation_id, shop_id, seq, client_id, sender_kind, kind, internal, body, payload, "
                "seat_id, created_at")

# seat id → (display_name, loaded at): seat names change rarely; a minute of staleness is fine.
_seat_names: dict[int, tuple[str, float]] = {}
SEAT_NAME_TTL = 60.0


class _Sql:
    """Placeholders with the casts PostgreSQL needs inside VALUES lists (SQLite needs none)."""

    def __init__(self, vendor: str):
        self.pg = vendor == "postgresql"

    def p(self, cast: str) -> str:
        return f"%s::{cast}" if self.pg else "%s"

    def row(self, casts: tuple[str, ...]) -> str:
        return "(" + ", ".join(self.p(c) for c in casts) + ")"

    def rows(self, cur, cols: list[str], rest: str, params: list) -> list:
        """``SELECT cols rest`` → list of row tuples.

        On SQLite the rows come back as ONE JSON array, in one ``sqlite3_step``: the sqlite3
        module releases the GIL around every step, and beside a busy event loop each retake can
        wait a whole switch interval — per row, that is the 1.4 s "executemany" trap of
        docs/decisions/010 again. PostgreSQL (psycopg) fetches the whole result in one call anyway."""
        if self.pg:
            cur.execute(f"SELECT {', '.join(cols)} {rest}", params)
            return cur.fetchall()
        aliases = [f"a{i}" for i in range(len(cols))]
        inner = ", ".join(f"{c} AS {a}" for c, a in zip(cols, aliases, strict=True))
        cur.execute(f"SELECT json_group_array(json_array({', '.join(aliases)})) FROM (SELECT {inner} {rest})",
                    params)
        return [tuple(r) for r in orjson.loads(cur.fetchone()[0])]


class _QmarkCursor:
    """The raw sqlite3 cursor under Django's: Django rewrites ``%s`` to ``?`` with a regex on
    every execute, which on a 3,000-parameter batch statement is real time on the GIL."""

    def __init__(self, cur):
        self.cur = cur.connection.cursor() if hasattr(cur, "connection") else cur

    def execute(self, query: str, params=()):
        return self.cur.execute(query.replace("%s", "?"), params)

    def fetchall(self):
        return self.cur.fetchall()

    def fetchone(self):
        return self.cur.fetchone()


def _in(n: int) -> str:
    return ", ".join(["%s"] * n)


def _seat_map(cur, seat_ids: set[int]) -> dict[int, dict]:
    now = time.monotonic()
    missing = [s for s in seat_ids if s not in _seat_names or now - _seat_names[s][1] > SEAT_NAME_TTL]
    if missing:
        for seat_id, name in _Sql(connection.vendor).rows(
                cur, ["id", "display_name"], f"FROM accounts_seat WHERE id IN ({_in(len(missing))})", missing):
            _seat_names[seat_id] = (name, now)
    return {s: {"id": s, "display_name": _seat_names[s][0]} for s in seat_ids if s in _seat_names}


def _row_to_message(row, seats: dict[int, dict]) -> dict:
    (id_, conv, shop, seq, client_id, sender_kind, kind, internal, body, payload, seat_id, created_at) = row
    return frames.message_dict(id=id_, conversation=conv, shop=shop, seq=seq, client_id=client_id,
                               sender_kind=sender_kind, kind=kind, internal=internal, body=body,
                               payload=payload, seat=seats.get(seat_id) if seat_id else None,
                               created_at=created_at)


def _fetch_existing(cur, sql: _Sql, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], tuple]:
    if not pairs:
        return {}
    # Drive the lookup from the VALUES list, one probe of the unique index per pair. (Two IN
    # lists would probe every combination: 256 × 250 probes for one full batch.)
    params = [x for pair in sorted(pairs) for x in pair]
    cols = [f"m.{c.strip()}" for c in _MSG_COLUMNS.split(",")]
    rows = sql.rows(cur, cols, "FROM (VALUES " + ", ".join([sql.row(("bigint", "text"))] * len(pairs)) +
                    ") AS v JOIN chat_message m ON m.conversation_id = v.column1 AND m.client_id = v.column2",
                    params)
    return {(r[1], r[4]): r for r in rows}


def _check_attachments(cur, drafts: list[Draft]) -> dict[int, dict | None]:
    """Draft index → enriched image payload, or None when the token is not this shop's upload."""
    wanted = {i: d for i, d in enumerate(drafts) if d.kind == "image"}
    if not wanted:
        return {}
    tokens = sorted({str(d.payload.get("attachment", "")) for d in wanted.values()})
    rows = _Sql(connection.vendor).rows(cur, ["token", "shop_id", "content_type", "width", "height", "size"],
                                        f"FROM chat_attachment WHERE token IN ({_in(len(tokens))})", tokens)
    found = {r[0]: r for r in rows}
    out: dict[int, dict | None] = {}
    for i, d in wanted.items():
        row = found.get(str(d.payload.get("attachment", "")))
        if row is None or row[1] != d.shop_id:
            out[i] = None
        else:
            out[i] = {"attachment": row[0], "url": f"/files/{row[0]}", "content_type": row[2],
                      "width": row[3], "height": row[4], "size": row[5]}
    return out


def store_batch(cur, vendor: str, drafts: list[Draft]) -> BatchResult:
    """Store DRAFTS inside the caller's open transaction; returns one Outcome per draft, in order."""
    sql = _Sql(vendor)
    if not sql.pg:
        cur = _QmarkCursor(cur)
    now = timezone.now()
    db_now = connection.ops.adapt_datetimefield_value(now)
    now_iso = frames.iso(now)
    outcomes = [Outcome(d) for d in drafts]
    payloads: list[dict] = [d.payload for d in drafts]

    for i, enriched in _check_attachments(cur, drafts).items():
        if enriched is None:
            outcomes[i].error = ("not_found", "attachment not found")
        else:
            payloads[i] = enriched

    # 1. retries of stored messages, and repeats inside this batch
    existing = _fetch_existing(cur, sql, {(d.conversation_id, d.client_id) for o, d in zip(outcomes, drafts, strict=True)
                                     if o.error is None})
    first_of: dict[tuple[int, str], int] = {}
    repeats: list[tuple[int, int]] = []  # (index, index of the first draft with that key)
    fresh: dict[int, list[int]] = {}  # conversation → draft indexes, in arrival order
    for i, d in enumerate(drafts):
        if outcomes[i].error:
            continue
        key = (d.conversation_id, d.client_id)
        if key in existing:
            outcomes[i].duplicate = True
        elif key in first_of:
            repeats.append((i, first_of[key]))
        else:
            first_of[key] = i
            fresh.setdefault(d.conversation_id, []).append(i)

    conv_state: dict[int, tuple[int, int | None, str]] = {}
    seq_of: dict[int, int] = {}
    if fresh:
        conv_state, seq_of = _allocate(cur, sql, drafts, fresh, db_now)
        for conv_id, indexes in fresh.items():
            if conv_id not in conv_state:
                for i in indexes:
                    outcomes[i].error = ("not_found", "conversation not found")

    # 3. one multi-row INSERT for everything new
    rows = [i for i in seq_of if outcomes[i].error is None]
    inserted: dict[tuple[int, int], int] = {}
    if rows:
        casts = ("bigint", "bigint", "bigint", "text", "text", "text", "boolean", "bigint", "bigint", "text",
                 "jsonb", "timestamptz")
        params: list[Any] = []
        for i in rows:
            d = drafts[i]
            seat_id = d.seat_id if d.seat_id is not None or d.sender_kind == "shopper" else \
                conv_state[d.conversation_id][1]
            params += [d.conversation_id, d.shop_id, seq_of[i], d.client_id, d.sender_kind, d.kind,
                       bool(d.internal), seat_id, d.staff_id, d.body, orjson.dumps(payloads[i]).decode() if payloads[i] else "{}",
                       db_now]
        row_sql = sql.row(casts)
        insert = ("INSERT INTO chat_message (conversation_id, shop_id, seq, client_id, sender_kind, kind, internal, "
                  "seat_id, staff_id, body, payload, created_at) VALUES " + ", ".join([row_sql] * len(rows)) +
                  " ON CONFLICT (conversation_id, client_id) DO NOTHING")
        if sql.pg:
            cur.execute(insert + " RETURNING id, conversation_id, seq", params)
            inserted = {(r[1], r[2]): r[0] for r in cur.fetchall()}
        else:  # RETURNING would step (and retake the GIL) once per row: read the ids back in one step
            cur.execute(insert, params)
            keys = [x for i in rows for x in (drafts[i].conversation_id, seq_of[i])]
            found = sql.rows(cur, ["m.id", "m.conversation_id", "m.seq"],
                             "FROM (VALUES " + ", ".join(["(%s, %s)"] * len(rows)) + ") AS v JOIN chat_message m "
                             "ON m.conversation_id = v.column1 AND m.seq = v.column2", keys)
            inserted = {(r[1], r[2]): r[0] for r in found}

    lost_race = {(drafts[i].conversation_id, drafts[i].client_id) for i in rows
                 if (drafts[i].conversation_id, seq_of[i]) not in inserted}
    if lost_race:  # another process stored the same client_id meanwhile: answer with its row
        existing.update(_fetch_existing(cur, sql, lost_race))

    seat_ids = {r[10] for r in existing.values() if r[10]}
    for i in rows:
        d = drafts[i]
        seat_ids.add(d.seat_id if d.seat_id is not None or d.sender_kind == "shopper"
                     else conv_state[d.conversation_id][1])
    seat_ids.discard(None)
    seats = _seat_map(cur, seat_ids) if seat_ids else {}

    for i in rows:
        d = drafts[i]
        key = (d.conversation_id, seq_of[i])
        if key not in inserted:
            outcomes[i].duplicate = True
            continue
        seat_id = d.seat_id if d.seat_id is not None or d.sender_kind == "shopper" else \
            conv_state[d.conversation_id][1]
        outcomes[i].message = frames.message_dict(
            id=inserted[key], conversation=d.conversation_id, shop=d.shop_id, seq=seq_of[i],
            client_id=d.client_id, sender_kind=d.sender_kind, kind=d.kind, internal=d.internal, body=d.body,
            payload=payloads[i], seat=seats.get(seat_id) if seat_id else None, created_at=now_iso)
    for o in outcomes:
        if o.duplicate:
            row = existing.get((o.draft.conversation_id, o.draft.client_id))
            if row is None or row[2] != o.draft.shop_id:
                o.duplicate, o.error = False, ("not_found", "conversation not found")
            elif row[5] != o.draft.sender_kind:
                # Someone else's client_id: answer nothing about their message.
                o.duplicate, o.error = False, ("invalid", "client_id already used in this conversation")
            else:
                o.message = _row_to_message(row, seats)
    for i, first in repeats:
        src = outcomes[first]
        outcomes[i].message, outcomes[i].error, outcomes[i].duplicate = src.message, src.error, True
    result = BatchResult(outcomes, conv_state)
    result.event = _batch_event(result, now_iso)
    if result.event is not None:  # 4. one outbox row for the whole batch
        result.outbox_id = outbox_insert(cur, result.event, vendor=vendor)
    return result


def _batch_event(result: BatchResult, created_at: str) -> MessagesCommitted | None:
    """The batch's MessagesCommitted (None when it stored nothing new)."""
    rows: list[list] = []
    live: list[dict] = []
    for o in result.outcomes:
        if o.message is None or o.duplicate or o.error is not None:
            continue
        m, d = o.message, o.draft
        seat = m["seat"]["id"] if m["seat"] else None
        _shop, conv_seat, status = result.conversations[d.conversation_id]
        rows.append([d.conversation_id, m["seq"], m["id"], d.sender_kind, d.internal, d.staff_id, seat])
        live.append(dict(m, staff=d.staff_id, conversation_status=status, conversation_seat=conv_seat))
    if not rows:
        return None
    written = {row[0] for row in rows}
    convs = [[conv_id, shop, seat, status] for conv_id, (shop, seat, status) in result.conversations.items()
             if conv_id in written]
    shops = sorted({c[1] for c in convs})
    return MessagesCommitted(shop_id=shops[0] if len(shops) == 1 else None, shop_ids=shops,
                             conversations=convs, messages=rows, created_at=created_at, live=tuple(live))


def _allocate(cur, sql: _Sql, drafts: list[Draft], fresh: dict[int, list[int]], db_now):
    """2. Per-conversation seq allocation and conversation bookkeeping, one statement."""
    values: list[Any] = []
    for conv_id, indexes in fresh.items():
        batch = [drafts[i] for i in indexes]
        n = len(batch)
        visible = [d for d in batch if not d.internal]
        last_visible = visible[-1] if visible else None
        shopper_back = None
        wait_action = 0  # 0 keep, 1 set if empty, 2 clear, 3 set to now
        for pos, d in enumerate(batch):
            if d.sender_kind == "shopper":
                shopper_back = n - 1 - pos
                if wait_action in (0,):
                    wait_action = 1
                elif wait_action == 2:
                    wait_action = 3
            elif d.sender_kind in ("agent", "robot") and not d.internal and not frames.is_greeting(d.client_id):
                wait_action = 2  # an answer; a seat's greeting is none (docs/decisions/120)
        values += [conv_id, batch[0].shop_id, n, db_now if last_visible else None,
                   frames.preview(last_visible.kind, last_visible.body) if last_visible else None,
                   shopper_back, wait_action, db_now]
    casts = ("bigint", "bigint", "bigint", "timestamptz", "text", "bigint", "integer", "timestamptz")
    row_sql = sql.row(casts)
    if sql.pg:  # lock in id order so two processes' batches cannot deadlock
        ids = sorted(fresh)
        cur.execute(f"SELECT id FROM chat_conversation WHERE id IN ({_in(len(ids))}) ORDER BY id FOR UPDATE", ids)
    update = (
        "UPDATE chat_conversation SET "
        "last_seq = last_seq + v.column3, "
        "last_message_at = COALESCE(v.column4, last_message_at), "
        "last_message_preview = COALESCE(v.column5, last_message_preview), "
        "last_shopper_seq = CASE WHEN v.column6 IS NULL THEN last_shopper_seq "
        "ELSE last_seq + v.column3 - v.column6 END, "
        "waiting_since = CASE v.column7 WHEN 1 THEN COALESCE(waiting_since, v.column8) WHEN 2 THEN NULL "
        "WHEN 3 THEN v.column8 ELSE waiting_since END "
        "FROM (VALUES " + ", ".join([row_sql] * len(fresh)) + ") AS v "
        "WHERE chat_conversation.id = v.column1 AND chat_conversation.shop_id = v.column2")
    if sql.pg:
        cur.execute(update + " RETURNING chat_conversation.id, chat_conversation.last_seq, "
                    "chat_conversation.seat_id, chat_conversation.status, chat_conversation.shop_id", values)
        state = cur.fetchall()
    else:  # see _Sql.rows: no per-row RETURNING on SQLite
        cur.execute(update, values)
        ids = list(fresh)
        shop_of = {conv_id: drafts[indexes[0]].shop_id for conv_id, indexes in fresh.items()}
        state = [r for r in sql.rows(cur, ["id", "last_seq", "seat_id", "status", "shop_id"],
                                     f"FROM chat_conversation WHERE id IN ({_in(len(ids))})", ids)
                 if shop_of.get(r[0]) == r[4]]
    conv_state: dict[int, tuple[int, int | None, str]] = {}
    seq_of: dict[int, int] = {}
    for conv_id, last_seq, seat_id, status, shop_id in state:
        conv_state[conv_id] = (shop_id, seat_id, status)
        indexes = fresh[conv_id]
        first = last_seq - len(indexes) + 1
        for offset, i in enumerate(indexes):
            seq_of[i] = first + offset
    return conv_state, seq_of


def apply_reads(cur, vendor: str, reads: dict[int, list[int]]) -> None:
    """Raise agent_read_seq / shopper_read_seq (never lower, never past last_seq), one statement."""
    if not reads:
        return
    sql = _Sql(vendor)
    values: list[Any] = []
    for conv_id, (agent_seq, shopper_seq) in reads.items():
        values += [conv_id, agent_seq, shopper_seq]
    row_sql = sql.row(("bigint", "bigint", "bigint"))

    def bump(col: str, v: str) -> str:
        return (f"{col} = CASE WHEN {v} > {col} THEN (CASE WHEN {v} < last_seq THEN {v} ELSE last_seq END) "
                f"ELSE {col} END")

    cur.execute("UPDATE chat_conversation SET " + bump("agent_read_seq", "v.column2") + ", " +
                bump("shopper_read_seq", "v.column3") + " FROM (VALUES " + ", ".join([row_sql] * len(reads)) +
                ") AS v WHERE chat_conversation.id = v.column1", values)


# --- fan-out after commit ------------------------------------------------------------------------

def fanout_items(result: BatchResult) -> tuple[list[list], dict[int, int], list[tuple[int, Any, str]]]:
    """Hub items for a committed batch, the origin socket to skip per item, and the answers
    (acks and errors) for the senders as (number of items to deliver before it, conn, frame).

    Outcomes are in arrival order, which is seq order within each conversation: delivering the
    items and the answers interleaved in that order gives every socket its frames in seq order
    (an agent never gets the ack of seq n+1 before the shopper's seq n)."""
    items: list[list] = []
    exclude: dict[int, int] = {}
    answers: list[tuple[int, Any, str]] = []
    for conv_id, (shop_id, seat_id, status) in result.conversations.items():
        items.append(["c", conv_id, shop_id, seat_id, status])
    for o in result.outcomes:
        d = o.draft
        if o.error is not None:
            if d.origin is not None:
                answers.append((len(items), d.origin, frames.error_frame(o.error[0], o.error[1], d.client_id)))
            continue
        if d.origin is not None:
            answers.append((len(items), d.origin, frames.ack_frame(o.message)))
        if o.duplicate:
            continue
        m = o.message
        mode = hub.TO_CONV_STAFF if m["internal"] else hub.TO_CONV_STAFF | hub.TO_SHOPPER
        seat_id = result.conversations.get(d.conversation_id, (None, None, None))[1]
        if d.origin is not None:
            exclude[len(items)] = d.origin.id
        items.append(["d", d.shop_id, d.conversation_id, seat_id, mode, None, frames.message_frame(m)])
    return items, exclude, answers


# --- the async writer (one per process, on the event loop) ---------------------------------------

class Writer:
    def __init__(self) -> None:
        self._pending: deque[Draft] = deque()
        self._reads: dict[int, list[int]] = {}
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-writer")
        self.loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        self.rows = 0
        self._st = [0, 0, 0.0, 0.0, time.monotonic()]

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self.loop.create_task(self._run())

    async def stop(self) -> None:
        """Write what is queued, then stop and close the writer thread's connection."""
        if self._task is None:
            return
        deadline = time.monotonic() + 10
        while (self._pending or self._reads) and time.monotonic() < deadline:
            self._wake.set()
            await asyncio.sleep(0.01)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        await self.loop.run_in_executor(self._thread, _close_connection)

    def submit(self, draft: Draft) -> asyncio.Future:
        draft.future = self.loop.create_future()
        self._pending.append(draft)
        self._wake.set()
        return draft.future

    def mark_read(self, conversation_id: int, by: str, seq: int) -> None:
        marks = self._reads.setdefault(conversation_id, [0, 0])
        slot = 0 if by == "agent" else 1
        marks[slot] = max(marks[slot], seq)
        self._wake.set()

    async def _run(self) -> None:
        max_rows = max(1, int(settings.CHAT_BATCH_MAX))
        wait = float(settings.CHAT_BATCH_WAIT_MS) / 1000.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending and not self._reads:
                continue
            if wait > 0 and len(self._pending) < max_rows:
                await asyncio.sleep(wait)  # let the batch fill: one commit for many messages
            batch = [self._pending.popleft() for _ in range(min(len(self._pending), max_rows))]
            reads, self._reads = self._reads, {}
            t0 = time.perf_counter()
            try:
                result = await self.loop.run_in_executor(self._thread, _write, batch, reads)
            except Exception:  # noqa: BLE001 - the batch failed: tell every sender, keep serving
                log.exception("chat writer: batch of %d failed", len(batch))
                result = BatchResult([Outcome(d, error=("unavailable", "message not stored, retry"))
                                      for d in batch])
            t1 = time.perf_counter()
            self.batches += 1
            self.rows += len(batch)
            self._after_commit(result)
            self._stats(t1 - t0, time.perf_counter() - t1, len(batch))
            if self._pending or self._reads:
                self._wake.set()

    def _stats(self, write_s: float, fanout_s: float, rows: int) -> None:
        """With CHAT_STATS set, log batch figures every 2 s (tuning; off by default)."""
        if not _STATS:
            return
        st = self._st
        st[0] += 1
        st[1] += rows
        st[2] += write_s
        st[3] += fanout_s
        now = time.monotonic()
        if now - st[4] >= 2:
            log.warning("chat writer: %d batches, %.1f rows/batch, write %.1f ms, fan-out %.1f ms, queued %d",
                        st[0], st[1] / st[0], 1000 * st[2] / st[0], 1000 * st[3] / st[0], len(self._pending))
            self._st = [0, 0, 0.0, 0.0, now]

    def _after_commit(self, result: BatchResult) -> None:
        items, exclude, answers = fanout_items(result)
        hub.HUB.dispatch(items, exclude, answers)
        for o in result.outcomes:
            fut = o.draft.future
            if fut is not None and not fut.done():
                fut.set_result(o)
        if result.event is not None:
            EVENTS.submit(result.event, result.outbox_id)


_RETRYABLE = ("deadlock", "could not serialize", "database is locked", "server closed", "terminating",
              "connection", "ssl")
# The SQLite path writes through the raw sqlite3 cursor (_QmarkCursor), whose errors are sqlite3's
# own, not Django's wrapped DatabaseError: both must be caught for the retry to happen at all.
_DB_ERRORS = (DatabaseError, sqlite3.Error)
_RETRY_SECONDS = 10.0  # a lock held this long is an outage, not contention: refuse the batch


def _write(batch: list[Draft], reads: dict[int, list[int]]) -> BatchResult:
    """Runs on the writer thread with the thread's own Django connection. Transient failures (a
    lock, a serialisation conflict, a dropped connection) are retried with backoff for up to
    _RETRY_SECONDS; the batch is then refused as a whole (senders retry by client_id)."""
    deadline = time.monotonic() + _RETRY_SECONDS
    attempt = 0
    while True:
        try:
            with transaction.atomic():
                with connection.cursor() as cur:
                    result = store_batch(cur, connection.vendor, batch) if batch else BatchResult([])
                    apply_reads(cur, connection.vendor, reads)
            return result
        except _DB_ERRORS as exc:
            attempt += 1
            text = str(exc).lower()
            if time.monotonic() >= deadline or not any(word in text for word in _RETRYABLE):
                raise
            log.warning("chat writer: retrying batch (attempt %d) after %s: %s", attempt,
                        exc.__class__.__name__, text[:80])
            if connection.connection is not None and not connection.is_usable():
                connection.close()
            time.sleep(min(0.02 * 2 ** attempt, 0.5) * (0.5 + random.random()))


def _close_connection() -> None:
    connection.close()  # the calling thread's own connection


WRITER: Writer | None = None


# --- the synchronous entry point -----------------------------------------------------------------

def post_message_sync(conversation_id: int, *, sender_kind: str, kind: str = "text", body: str = "",
                      payload: dict | None = None, internal: bool = False, seat_id: int | None = None,
                      staff_id: int | None = None, client_id: str | None = None,
                      clients_id: bool = False) -> dict:
    """Store one message from code outside the event loop (services, robot, task workers).

    Runs in the caller's thread, inside the caller's transaction if one is open (else its own);
    fans out and emits events after that transaction commits. Returns the message dict (the
    ``message`` frame's shape). With a CLIENT_ID already stored in the conversation, stores
    nothing and returns the original message (idempotent tasks rely on this).
    Raises ValueError for an invalid message, LookupError for an unknown conversation or image.
    With CLIENTS_ID the CLIENT_ID is a client's own (REST), stored as given under the socket's
    rules (1-64 characters, never ``sys:``), so a retry over either path is the same message.
    """
    if sender_kind not in frames.SENDER_KINDS:
        raise ValueError(f"sender_kind must be one of {sorted(frames.SENDER_KINDS)}")
    if kind not in frames.ALL_KINDS:
        raise ValueError(f"kind must be one of {sorted(frames.ALL_KINDS)}")
    body = body or ""
    if len(body) > frames.MAX_BODY:
        raise ValueError(f"body longer than {frames.MAX_BODY} characters")
    if kind == "note":
        internal = True
    # Server-side ids live in their own namespace ("sys:"), which sockets may not use: a shopper
    # cannot pre-empt, say, a payment reminder's idempotency key with a message of their own.
    if clients_id and client_id:
        if not 1 <= len(client_id) <= frames.MAX_CLIENT_ID:
            raise ValueError(f"client_id must be 1-{frames.MAX_CLIENT_ID} characters")
        if client_id.startswith("sys:"):
            raise ValueError("client_id may not start with sys:")
    else:
        client_id = f"sys:{client_id}" if client_id and not client_id.startswith("sys:") else \
            (client_id or f"sys:{uuid.uuid4().hex}")
    if len(client_id) > frames.MAX_CLIENT_ID:
        raise ValueError(f"client_id longer than {frames.MAX_CLIENT_ID - 4} characters")
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT shop_id FROM chat_conversation WHERE id = %s", [int(conversation_id)])
            row = cur.fetchone()
            if row is None:
                raise LookupError("conversation not found")
            draft = Draft(int(conversation_id), row[0], client_id, sender_kind, kind, bool(internal), seat_id,
                          staff_id, body, dict(payload or {}))
            result = store_batch(cur, connection.vendor, [draft])
        outcome = result.outcomes[0]
        if outcome.error is not None:
            raise (ValueError if outcome.error[0] == "invalid" else LookupError)(outcome.error[1])
        transaction.on_commit(lambda: _after_commit_sync(result))
    return outcome.message


def _after_commit_sync(result: BatchResult) -> None:
    items, _, _ = fanout_items(result)
    try:
        hub.publish_items(items)
    except Exception:  # noqa: BLE001 - stored is stored; sockets catch up by sync
        log.exception("fan-out after post_message_sync failed")
    if result.event is not None:
        after_commit(result.event, result.outbox_id)
