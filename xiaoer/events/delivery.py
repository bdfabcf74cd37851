"""Running durable listeners from the outbox (docs/events.md, docs/decisions/050).

Per listener: lock its cursor row (``FOR UPDATE SKIP LOCKED``; on SQLite the write transaction
is the lock), read the next events of its types after the cursor in (txid, id) order, run the
handler for each in a savepoint, advance the cursor, commit: the listener's writes and its
progress commit together, so an event is handled once per listener even when a worker dies
mid-batch (the batch rolls back and is delivered again). A handler that raises stops its
listener at that event (outbox order) with a back-off; the other listeners are not affected.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from xiaoer.events.base import DurableListener, durable_listeners, event_class
from xiaoer.events.models import ListenerCursor, OutboxEvent

log = logging.getLogger(__name__)

LOCKED, WAITING, FAILED, DONE, MORE = "locked", "waiting", "failed", "done", "more"


_BOUND_SQL = """
SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
       pg_current_xact_id_if_assigned()::text::bigint,
       ARRAY(SELECT backend_xid::text::bigint FROM pg_stat_activity
             WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()
             UNION ALL
             SELECT transaction::text::bigint FROM pg_prepared_xacts WHERE database = current_database()),
       (SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND backend_type = 'client backend'
           AND NOT pg_has_role(usesysid, 'USAGE') AND NOT pg_has_role('pg_read_all_stats', 'USAGE'))
"""


def safe_txid() -> int | None:
    """Events of transactions below this txid can be delivered: every transaction that could
    still commit an outbox row has a txid at or above it. None: no bound (SQLite, where writers
    are serialised and ids commit in order).

    PostgreSQL: the oldest transaction still running in THIS database (pg_stat_activity, read
    after the snapshot whose xmax caps the bound), not the cluster-wide snapshot xmin: a long
    transaction in another database must not hold the events back. When some sessions of this
    database are not visible to our role, the cluster-wide xmin is used instead."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")  # fresh activity, even inside a transaction
        cur.execute(_BOUND_SQL)
        xmax, xmin, own, running, hidden = cur.fetchone()
    if hidden:
        bound = xmin
    else:
        # Running xids are 32-bit, within 2^31 of xmax (either side: one assigned after the
        # last completed one is at or above xmax); widen them with xmax's epoch.
        low = xmax % 2**32
        bound = min([xmax, *(xmax - ((low - x + 2**31) % 2**32 - 2**31) for x in running)])
    # Called inside a transaction that wrote events itself (tests, immediate mode): its own rows
    # are visible to it and commit with the cursor, so they may be handled too.
    return max(bound, own + 1) if own is not None else bound


def pending(cursor: ListenerCursor, names: list[str], bound: int | None) -> QuerySet[OutboxEvent]:
    after = Q(txid__gt=cursor.position_txid) | Q(txid=cursor.position_txid, id__gt=cursor.position_id)
    qs = OutboxEvent.objects.filter(after, name__in=names)
    if bound is not None:
        qs = qs.filter(txid__lt=bound)
    return qs.order_by("txid", "id")


def ensure_cursor(name: str) -> ListenerCursor:
    return ListenerCursor.objects.get_or_create(pk=name)[0]


def backoff_seconds(attempts: int) -> float:
    return float(min(settings.EVENTS_RETRY_MAX_SECONDS, 2 ** max(attempts - 1, 0)))


def _record_failure(cur: ListenerCursor, row: OutboxEvent, exc: Exception, now: dt.datetime) -> None:
    if cur.failing_event_id != row.id:
        cur.attempts, cur.failing_event_id, cur.failing_since = 0, row.id, now
    cur.attempts += 1
    cur.next_attempt_at = now + dt.timedelta(seconds=backoff_seconds(cur.attempts))
    cur.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
    level = logging.ERROR if cur.attempts >= settings.EVENTS_FAILING_AFTER else logging.WARNING
    log.log(level, "event listener %s failed on %s #%s (attempt %s, next in %.0fs): %s", cur.name, row.name,
            row.id, cur.attempts, backoff_seconds(cur.attempts), cur.last_error,
            exc_info=cur.attempts == 1 or cur.attempts == settings.EVENTS_FAILING_AFTER)


def _handle(listener: DurableListener, row: OutboxEvent) -> None:
    event = event_class(row.name).from_payload(row.payload)
    listener.handlers[row.name](event)


def _handle_rows(listener: DurableListener,
                 rows: list[OutboxEvent]) -> tuple[list[OutboxEvent], tuple[OutboxEvent, Exception] | None]:
    """Run the handler on ROWS in order: (the rows handled, the failing row and its error).

    One savepoint for the whole batch (a savepoint per event tripled the statements); when a
    handler raises, the batch is rolled back and redone one savepoint per event, so the events
    before the failing one are kept and the failing one is pinned down."""
    try:
        with transaction.atomic():
            for row in rows:
                _handle(listener, row)
        return rows, None
    except Exception:  # noqa: BLE001 - redone below, event by event
        pass
    done: list[OutboxEvent] = []
    for row in rows:
        try:
            with transaction.atomic():
                _handle(listener, row)
        except Exception as exc:  # noqa: BLE001 - recorded, retried, visible; others go on
            return done, (row, exc)
        done.append(row)
    return done, None


def deliver_batch(listener: DurableListener, *, bound: int | None, limit: int,
                  now: dt.datetime | None = None, ignore_backoff: bool = False) -> tuple[str, int]:
    """One transaction of LISTENER's work: (status, events handled)."""
    now = now or timezone.now()
    status, handled = DONE, 0
    with transaction.atomic():
        cur = ListenerCursor.objects.select_for_update(skip_locked=True).filter(pk=listener.name).first()
        if cur is None:
            return LOCKED, 0
        if cur.next_attempt_at and cur.next_attempt_at > now and not ignore_backoff:
            return WAITING, 0
        rows = list(pending(cur, listener.event_names, bound)[:limit])
        done, failure = _handle_rows(listener, rows)
        if done:
            last = done[-1]
            cur.position_txid, cur.position_id = last.txid, last.id
            handled = len(done)
            if cur.failing_event_id is not None and (failure is None or failure[0].id != cur.failing_event_id):
                log.info("event listener %s recovered after %s attempts", cur.name, cur.attempts)
                cur.attempts, cur.failing_event_id, cur.failing_since = 0, None, None
                cur.next_attempt_at, cur.last_error = None, ""
        if failure is not None:
            _record_failure(cur, failure[0], failure[1], now)
            status = FAILED
        if handled:
            cur.handled += handled
            cur.handled_at = now
        if handled or status == FAILED:
            cur.save()
        if status == FAILED:
            retry_at = cur.next_attempt_at
            transaction.on_commit(lambda: _schedule_retry(listener.name, retry_at))
    if status == DONE and len(rows) == limit:
        status = MORE
    return status, handled


def _schedule_retry(name: str, when: dt.datetime | None) -> None:
    from huey.contrib.djhuey import HUEY

    from xiaoer.events.tasks import deliver_task

    if when is None or HUEY.immediate:
        return  # immediate mode (tests): retries are driven by the test
    try:
        deliver_task.schedule((name,), eta=when)
    except Exception:  # noqa: BLE001 - the periodic catch-up retries it
        log.exception("could not schedule retry of event listener %s", name)


def has_pending(listener: DurableListener, *, bound: int | None, now: dt.datetime | None = None,
                ignore_backoff: bool = False) -> bool:
    cur = ensure_cursor(listener.name)
    if cur.next_attempt_at and cur.next_attempt_at > (now or timezone.now()) and not ignore_backoff:
        return False
    return pending(cur, listener.event_names, bound).exists()


def deliver(name: str, *, budget_seconds: float = 5.0, limit: int | None = None, bounded: bool = True,
            now: dt.datetime | None = None, ignore_backoff: bool = False) -> int:
    """Handle LISTENER NAME's pending events until caught up, locked by another worker, failing,
    or BUDGET_SECONDS spent (then it queues itself again). Returns the events handled."""
    listener = durable_listeners().get(name)
    if listener is None:
        log.warning("no durable event listener %r in this process", name)
        return 0
    ensure_cursor(name)
    limit = limit or settings.EVENTS_BATCH
    deadline = time.monotonic() + budget_seconds
    total = 0
    while True:
        bound = safe_txid() if bounded else None
        status, handled = deliver_batch(listener, bound=bound, limit=limit, now=now,
                                        ignore_backoff=ignore_backoff)
        total += handled
        if status in (LOCKED, WAITING, FAILED):
            break
        # Caught up as of that read: look again after releasing the lock. A commit that happened
        # while we held it may have had its task skip the locked cursor.
        if status == DONE and not has_pending(listener, bound=safe_txid() if bounded else None, now=now,
                                              ignore_backoff=ignore_backoff):
            break
        if time.monotonic() > deadline:
            from xiaoer.events.queue import enqueue

            enqueue(name, force=True)  # let other listeners' tasks have the worker in between
            break
    return total


def catch_up(now: dt.datetime | None = None) -> list[str]:
    """Queue a delivery for every durable listener that is behind and due (periodic; also at
    worker start): recovers what a crash between commit and enqueue left undelivered."""
    from xiaoer.events.queue import enqueue

    queued = []
    bound = safe_txid()
    for name, listener in sorted(durable_listeners().items()):
        if has_pending(listener, bound=bound, now=now):
            enqueue(name, force=True)
            queued.append(name)
    return queued


# --- replay and retention ----------------------------------------------------------------------

def replay(name: str, since: dt.datetime | None = None) -> ListenerCursor:
    """Move NAME's cursor back to before the first of its events at or after SINCE (None: the
    oldest retained) and clear its failure state; the listener's ``reset(since)`` hook runs in the
    same transaction. Delivery then redoes the events (``deliver``)."""
    listener = durable_listeners().get(name)
    if listener is None:
        raise KeyError(name)
    ensure_cursor(name)
    with transaction.atomic():
        cur = ListenerCursor.objects.select_for_update().get(pk=name)  # waits for a running delivery
        if since is None:
            cur.position_txid, cur.position_id = 0, 0
        else:
            first = (OutboxEvent.objects.filter(name__in=listener.event_names, created_at__gte=since)
                     .order_by("txid", "id").first())
            if first is not None and (first.txid, first.id - 1) < (cur.position_txid, cur.position_id):
                cur.position_txid, cur.position_id = first.txid, first.id - 1
        if listener.reset is not None:
            listener.reset(since)
        cur.attempts, cur.failing_event_id, cur.failing_since = 0, None, None
        cur.next_attempt_at, cur.last_error = None, ""
        cur.save()
    log.info("event listener %s replays from %s", name, since or "the oldest retained event")
    return cur


def prune(now: dt.datetime | None = None, days: int | None = None, batch: int = 5000) -> int:
    """Delete outbox rows older than the retention that every durable listener of their type
    has handled. Rows some listener still needs are kept, however old."""
    days = settings.EVENTS_RETENTION_DAYS if days is None else days
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    listeners = durable_listeners()
    cursors = {c.name: c for c in ListenerCursor.objects.filter(pk__in=list(listeners))}
    deleted = 0
    for event_name in OutboxEvent.objects.filter(created_at__lt=cutoff).order_by().values_list("name", flat=True).distinct():
        qs = OutboxEvent.objects.filter(name=event_name, created_at__lt=cutoff)
        for listener in listeners.values():
            if event_name in listener.handlers:
                cur = cursors.get(listener.name)
                if cur is None:
                    qs = qs.none()
                    break
                qs = qs.filter(Q(txid__lt=cur.position_txid) | Q(txid=cur.position_txid, id__lte=cur.position_id))
        while ids := list(qs.values_list("id", flat=True)[:batch]):
            deleted += OutboxEvent.objects.filter(id__in=ids).delete()[0]
    if deleted:
        log.info("pruned %s outbox events older than %s days", deleted, days)
    return deleted


# --- visibility -------------------------------------------------------------------------------

PENDING_COUNT_CAP = 100_000


@dataclass
class ListenerStatus:
    name: str
    registered: bool
    events: list[str]
    position_id: int
    handled: int
    handled_at: dt.datetime | None
    pending: int  # capped at PENDING_COUNT_CAP
    lag_seconds: float  # age of the oldest pending event, 0 when caught up
    attempts: int
    failing: bool
    next_attempt_at: dt.datetime | None
    failing_event_id: int | None
    failing_since: dt.datetime | None
    last_error: str


def status(now: dt.datetime | None = None) -> list[ListenerStatus]:
    now = now or timezone.now()
    listeners = durable_listeners()
    for name in listeners:
        ensure_cursor(name)
    out = []
    for cur in ListenerCursor.objects.all():
        listener = listeners.get(cur.name)
        names = listener.event_names if listener else []
        waiting = pending(cur, names, None)
        oldest = waiting.values_list("created_at", flat=True).first()
        out.append(ListenerStatus(
            name=cur.name, registered=listener is not None, events=names, position_id=cur.position_id,
            handled=cur.handled, handled_at=cur.handled_at, pending=waiting[:PENDING_COUNT_CAP].count(),
            lag_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0, attempts=cur.attempts,
            failing=cur.attempts >= settings.EVENTS_FAILING_AFTER, next_attempt_at=cur.next_attempt_at,
            failing_event_id=cur.failing_event_id, failing_since=cur.failing_since, last_error=cur.last_error))
    return out


def health() -> dict:
    """The ``events`` detail of /healthz: pending events, worst lag, failing listeners."""
    rows = [s for s in status() if s.registered]
    failing = [{"listener": s.name, "attempts": s.attempts, "event": s.failing_event_id,
                "error": s.last_error[:200]} for s in rows if s.failing]
    lag = max((s.lag_seconds for s in rows), default=0.0)
    state = "failing" if failing else "lagging" if lag > settings.EVENTS_LAG_WARN_SECONDS else "ok"
    return {"status": state, "listeners": len(rows), "pending": sum(s.pending for s in rows),
            "max_lag_seconds": round(lag, 1), "failing": failing}
