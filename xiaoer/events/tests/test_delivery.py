"""Durable delivery in-process: order, redelivery, failures and their visibility, replay,
retention, rollback, the raw-SQL outbox insert, Huey's immediate mode (docs/events.md)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from xiaoer.events import after_commit, delivery, emit, outbox_insert
from xiaoer.events.models import ListenerCursor, OutboxEvent
from xiaoer.events.testing import deliver_all, subscribed
from xiaoer.events.tests.probe import LISTENERS, ProbeHappened


def emit_probes(*ns: int) -> None:
    for n in ns:
        with transaction.atomic():
            emit(ProbeHappened(shop_id=1, n=n))


def test_durable_listeners_handle_each_event_once_in_outbox_order(probes):
    emit_probes(3, 1, 2)
    assert probes.handled() == []  # nothing runs inside the write
    deliver_all()
    for name in LISTENERS:
        assert [n for _, n, _ in probes.handled(name)] == [3, 1, 2]
    deliver_all()  # a redelivery request changes nothing: the cursors say it is done
    assert len(probes.handled()) == 9
    assert {c.name: c.handled for c in ListenerCursor.objects.filter(name__in=LISTENERS)} == dict.fromkeys(LISTENERS, 3)


def test_live_listener_runs_once_right_after_commit(probes, django_capture_on_commit_callbacks):
    seen = []
    with subscribed(ProbeHappened, lambda e: seen.append(e.n), name="test.live", live=True):
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                emit(ProbeHappened(shop_id=1, n=7))
                assert seen == []
        assert seen == [7]
    assert probes.handled() == []  # durable ones wait for the task queue


def test_rollback_emits_nothing_to_anyone(probes, django_capture_on_commit_callbacks):
    seen = []
    with subscribed(ProbeHappened, lambda e: seen.append(e.n), name="test.live", live=True):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(RuntimeError), transaction.atomic():
                emit(ProbeHappened(shop_id=1, n=1))
                raise RuntimeError("the write fails")
            with transaction.atomic():  # a savepoint rolled back inside a committed transaction
                emit(ProbeHappened(shop_id=1, n=2))
                try:
                    with transaction.atomic():
                        emit(ProbeHappened(shop_id=1, n=3))
                        raise ValueError("inner part fails")
                except ValueError:
                    pass
        assert {k: v for k, v in deliver_all().items() if k in LISTENERS} == dict.fromkeys(LISTENERS, 1)
    assert seen == [2]
    assert len(callbacks) == 1
    assert list(OutboxEvent.objects.values_list("payload__n", flat=True)) == [2]
    assert sorted({n for _, n, _ in probes.handled()}) == [2]


def test_failing_listener_is_retried_with_backoff_never_blocks_others_and_is_visible(
        probes, caplog, admin_client, client, settings):
    settings.EVENTS_FAILING_AFTER = 3
    broken = {"on": 3}

    def flaky(event):
        if event.n == broken["on"]:
            raise RuntimeError(f"cannot handle {event.n}")
        probes.record("test.flaky", event)  # in the delivery transaction, like a projection

    def handled():
        return [n for _, n, _ in probes.handled("test.flaky")]

    with subscribed(ProbeHappened, flaky, name="test.flaky"):
        emit_probes(1, 2, 3, 4)
        with caplog.at_level(logging.WARNING, logger="xiaoer.events"):
            deliver_all()
        for name in LISTENERS:  # the others went on
            assert [n for _, n, _ in probes.handled(name)] == [1, 2, 3, 4]
        assert handled() == [1, 2]  # stopped at the failing event: order is kept
        cursor = ListenerCursor.objects.get(name="test.flaky")
        assert cursor.attempts == 1 and cursor.last_error == "RuntimeError: cannot handle 3"
        assert cursor.next_attempt_at > timezone.now()
        assert "test.flaky failed on probe.Happened" in caplog.text

        deliver_all()  # still backing off: no attempt
        assert ListenerCursor.objects.get(name="test.flaky").attempts == 1
        later = timezone.now() + dt.timedelta(seconds=delivery.backoff_seconds(1) + 1)
        deliver_all(now=later)  # due: retried
        assert ListenerCursor.objects.get(name="test.flaky").attempts == 2
        with caplog.at_level(logging.ERROR, logger="xiaoer.events"):
            caplog.clear()
            deliver_all(retry_now=True)
        assert any(r.levelno == logging.ERROR and "test.flaky" in r.getMessage() for r in caplog.records)

        # Visible: status, the command, /healthz detail, the admin list.
        flaky_status = next(s for s in delivery.status() if s.name == "test.flaky")
        assert flaky_status.failing and flaky_status.pending == 2 and flaky_status.attempts == 3
        body = client.get("/healthz").json()
        assert body["status"] == "ok"  # the server itself serves
        assert body["events"]["status"] == "failing"
        assert body["events"]["failing"][0]["listener"] == "test.flaky"
        assert "RuntimeError" in body["events"]["failing"][0]["error"]
        page = admin_client.get("/admin/events/listenercursor/").content.decode()
        assert "test.flaky" in page and "cannot handle 3" in page
        out = _command("status")
        assert "test.flaky" in out and "FAILING on #" in out
        assert json.loads(_command("status", "--json"))

        broken["on"] = None  # fixed: the next retry recovers
        _command("retry", "--listener", "test.flaky")
        assert handled() == [1, 2, 3, 4]
        cursor = ListenerCursor.objects.get(name="test.flaky")
        assert (cursor.attempts, cursor.last_error, cursor.failing_event_id) == (0, "", None)
        assert client.get("/healthz").json()["events"]["status"] == "ok"
    assert len(probes.handled()) == 16  # nobody handled anything twice


def test_replay_rebuilds_a_projection_through_its_reset_hook(probes):
    projection: dict[int, int] = {}
    resets = []

    def count(event):
        projection[event.n] = projection.get(event.n, 0) + 1

    def reset(since):
        resets.append(since)
        for n in [n for n in projection if since is None or n >= 3]:
            del projection[n]

    with subscribed(ProbeHappened, count, name="test.projection", reset=reset):
        emit_probes(1, 2, 3, 4)
        old = timezone.now() - dt.timedelta(days=2)
        OutboxEvent.objects.filter(payload__n__in=[1, 2]).update(created_at=old)
        deliver_all()
        assert projection == {1: 1, 2: 1, 3: 1, 4: 1}

        out = _command("replay", "--listener", "test.projection", "--since", "1d")
        assert "2 events redelivered" in out
        assert resets[-1] is not None and projection == {1: 1, 2: 1, 3: 1, 4: 1}

        _command("replay", "--listener", "test.projection")
        assert resets[-1] is None and projection == {1: 1, 2: 1, 3: 1, 4: 1}
    for name in LISTENERS:  # other listeners are not replayed
        assert len(probes.handled(name)) == 4


def test_replay_of_an_unknown_listener_is_refused(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no durable listener"):
        _command("replay", "--listener", "nobody")


def test_prune_deletes_old_handled_rows_and_keeps_what_a_listener_still_needs(probes):
    def stuck(event):
        if event.n >= 3:
            raise RuntimeError("stuck")

    with subscribed(ProbeHappened, stuck, name="test.stuck"):
        emit_probes(1, 2, 3, 4, 5)
        deliver_all()
        OutboxEvent.objects.update(created_at=timezone.now() - dt.timedelta(days=40))
        emit_probes(6)
        deliver_all(retry_now=True)
        assert delivery.prune(days=30) == 2  # 1 and 2: old and handled by everyone
        assert sorted(OutboxEvent.objects.values_list("payload__n", flat=True)) == [3, 4, 5, 6]
        assert delivery.prune(days=30) == 0
    # "test.stuck" gone (not registered any more): old rows handled by the probes can go.
    assert _command("prune", "--days", "30").startswith("3 outbox events deleted")
    assert list(OutboxEvent.objects.values_list("payload__n", flat=True)) == [6]


def test_outbox_insert_is_one_statement_and_after_commit_delivers(probes, django_capture_on_commit_callbacks):
    seen = []
    event = ProbeHappened(shop_id=4, n=41, source="批次")
    with subscribed(ProbeHappened, lambda e: seen.append(e), name="test.live", live=True):
        with transaction.atomic(), CaptureQueriesContext(connection) as queries, connection.cursor() as cur:
            outbox_id = outbox_insert(cur, event)
        assert len(queries) == 1
        if connection.vendor == "sqlite":  # the chat writer's raw sqlite3 cursor works too
            with transaction.atomic(), connection.cursor() as cur:
                raw = cur.connection.cursor()
                assert isinstance(raw, sqlite3.Cursor)
                second = outbox_insert(raw, ProbeHappened(shop_id=4, n=42))
            assert second == outbox_id + 1
        after_commit(event, outbox_id)
    assert seen == [event]
    row = OutboxEvent.objects.get(pk=outbox_id)
    assert (row.name, row.shop_id, row.payload) == ("probe.Happened", 4, event.to_payload())
    assert ProbeHappened.from_payload(row.payload) == event
    deliver_all()
    assert {n for _, n, _ in probes.handled()} >= {41}


def test_immediate_mode_delivers_right_after_commit(probes, monkeypatch, django_capture_on_commit_callbacks):
    from huey.contrib.djhuey import HUEY

    monkeypatch.setattr(HUEY, "immediate", True)
    with django_capture_on_commit_callbacks(execute=True):
        emit_probes(1, 2)
    assert sorted(probes.handled()) == sorted((name, n, "") for name in LISTENERS for n in (1, 2))


def test_events_command_is_reachable_through_the_xiaoer_script(probes, capsys):
    from xiaoer import cli

    emit_probes(1)
    cli.main(["events", "status"])
    out = capsys.readouterr().out
    assert all(name in out for name in LISTENERS) and "pending" in out


def test_an_unregistered_event_type_cannot_be_emitted(db):
    from dataclasses import dataclass

    from xiaoer.events import Event

    @dataclass(frozen=True, kw_only=True)
    class Nameless(Event):
        n: int = 0

    with pytest.raises(ValueError, match="not a registered event type"):
        emit(Nameless(shop_id=1))


def _command(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("events", *args, stdout=out)
    return out.getvalue()


def test_commits_queue_one_delivery_task_per_listener_until_that_task_starts(
        probes, django_capture_on_commit_callbacks):
    from collections import Counter

    from huey.contrib.djhuey import HUEY

    from xiaoer.events import queue
    from xiaoer.events.tasks import deliver_task

    def queued() -> Counter:
        return Counter(t.args[0] for t in HUEY.pending() if t.name.endswith("events.deliver"))

    queue.flush()
    for name in LISTENERS:
        queue.clear_marker(name)
    before = queued()
    with django_capture_on_commit_callbacks(execute=True):
        emit_probes(*range(1, 21))
    assert queue.flush()
    assert {name: queued()[name] - before[name] for name in LISTENERS} == dict.fromkeys(LISTENERS, 1)

    assert deliver_task.call_local("probe.a") == 20  # what a worker runs: clears the marker first
    with django_capture_on_commit_callbacks(execute=True):
        emit_probes(21)
    assert queue.flush()
    assert {name: queued()[name] - before[name] for name in LISTENERS} == {"probe.a": 2, "probe.b": 1, "probe.c": 1}
