"""Reminder sweeps run as real queued tasks by two Huey consumers on Redis at once (the
scaled-out setup), on the configured database (test_races_postgres.py runs it again on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from django.db import connection

from xiaoer.notify.backends import LocmemSmsBackend
from xiaoer.orders import services as order_services
from xiaoer.orders.models import Order, RemindState

from .conftest import World, local

REDIS_URL = os.environ.get("XIAOER_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def _redis_or_skip():
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no Redis here"
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_consumers_on_redis_send_one_reminder_per_order(outbox):
    _redis_or_skip()
    from huey import RedisHuey

    huey = RedisHuey(name=f"xiaoer-test-{uuid.uuid4().hex[:8]}", url=REDIS_URL, results=True)
    world = World()
    created = local(2026, 3, 2, 10, 0)
    orders = [world.order(buyer=None, created_at=created, receiver_phone=f"1370000{i:04d}") for i in range(40)]
    now = created + dt.timedelta(hours=1)

    @huey.task()
    def sweep() -> int:
        try:
            return order_services.run_reminder_sweep(now=now, batch=5)
        finally:
            connection.close()

    consumers = []
    try:
        for _ in range(2):  # two instances, one worker thread each
            consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=False,
                                            check_worker_health=False)
            consumer._set_signal_handlers = lambda: None  # only the main loop's owner installs them
            consumer.start()
            consumers.append(consumer)
        results = [sweep() for _ in range(6)]
        reminded = [r.get(blocking=True, timeout=120) for r in results]
    finally:
        for consumer in consumers:
            consumer.stop(graceful=True)
        huey.storage.flush_all()
    assert sum(reminded) == 40  # each order claimed by exactly one run
    assert sorted(m["key"] for m in LocmemSmsBackend.outbox) == sorted(f"remind-{o.pk}" for o in orders)
    assert Order.objects.filter(remind_state=RemindState.SENT).count() == 40
