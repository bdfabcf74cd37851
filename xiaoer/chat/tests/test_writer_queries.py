"""The writer's batch costs a constant number of SQL statements whatever its size, its one
MessagesCommitted outbox row included (Zulip-style query counts; docs/decisions/110-one-outbox-row-per-batch.md).

The writer talks to SQLite through the raw sqlite3 cursor (Django's query log does not see it), so
statements are counted with sqlite3's trace callback there, and with Django's query capture on
PostgreSQL, where the writer uses Django's cursor.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from xiaoer.chat import writer
from xiaoer.chat.tests.chatkit import add_conversation
from xiaoer.events.models import OutboxEvent
from xiaoer.testing import make_seat, make_shop, make_staff

pytestmark = pytest.mark.django_db


@contextmanager
def statements():
    """Yields a list that ends up holding every SQL statement run on this thread's connection."""
    seen: list[str] = []
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        raw.set_trace_callback(seen.append)
        try:
            yield seen
        finally:
            raw.set_trace_callback(None)
    else:
        with CaptureQueriesContext(connection) as ctx:
            yield seen
        seen.extend(q["sql"] for q in ctx.captured_queries)


def _drafts(shop, seat, agent, conversations, n: int, tag: str) -> list[writer.Draft]:
    """N messages spread over CONVERSATIONS, shoppers and the agent taking turns."""
    out = []
    for i in range(n):
        conv = conversations[i % len(conversations)]
        if i % 2:
            out.append(writer.Draft(conv.pk, shop.pk, f"{tag}-{i}", "agent", "text", False, seat.pk, agent.pk,
                                    f"回复 {i}", {}))
        else:
            out.append(writer.Draft(conv.pk, shop.pk, f"{tag}-{i}", "shopper", "text", False, None, None,
                                    f"问题 {i}", {}))
    return out


def test_batch_statements_do_not_grow_with_its_size():
    shop = make_shop()
    agent = make_staff(shop)
    seat = make_seat(shop, operator=agent)
    conversations = [add_conversation(shop, seat)[1] for _ in range(20)]
    writer._write(_drafts(shop, seat, agent, conversations, 3, "warm"), {})  # seat names cached

    counts: dict[int, int] = {}
    for size in (1, 50, 200):
        before = OutboxEvent.objects.filter(name="chat.MessagesCommitted").count()
        drafts = _drafts(shop, seat, agent, conversations, size, f"b{size}")
        with statements() as seen:
            result = writer._write(drafts, {conversations[0].pk: [1, 1]})  # reads ride along
        assert all(o.error is None and not o.duplicate for o in result.outcomes)
        assert len(result.event.messages) == size
        counts[size] = len(seen)
        # exactly one outbox row for the whole batch, in its transaction
        assert OutboxEvent.objects.filter(name="chat.MessagesCommitted").count() == before + 1
        assert sum("events_outboxevent" in sql for sql in seen) == 1
    assert counts[1] == counts[50] == counts[200], counts


def test_a_batch_of_retries_only_writes_no_event():
    shop = make_shop()
    agent = make_staff(shop)
    seat = make_seat(shop, operator=agent)
    conversations = [add_conversation(shop, seat)[1]]
    drafts = _drafts(shop, seat, agent, conversations, 4, "same")
    writer._write(drafts, {})
    before = OutboxEvent.objects.count()
    again = writer._write(_drafts(shop, seat, agent, conversations, 4, "same"), {})
    assert all(o.duplicate for o in again.outcomes) and again.event is None
    assert OutboxEvent.objects.count() == before
