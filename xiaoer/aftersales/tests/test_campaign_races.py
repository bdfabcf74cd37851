"""Two workers sending one revisit campaign at once: threads, and two Huey consumers on Redis.
Each customer gets it once. SQLite serialises writers; test_campaign_races_postgres.py runs these
(marked `race`) again on PostgreSQL, where the writers really overlap (docs/decisions/102, 193)."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid

import pytest
from django.db import connection

from xiaoer.aftersales import campaigns_services as campaigns
from xiaoer.aftersales.models import CampaignSend
from xiaoer.crm import listing
from xiaoer.crm.tests.carekit import SHANGHAI, CareWorld
from xiaoer.notify.models import Notice

REDIS_URL = os.environ.get("XIAOER_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
NOON = dt.datetime(2027, 3, 15, 12, 0, tzinfo=SHANGHAI)
PEOPLE = 30


def _campaign(w: CareWorld):
    for i in range(PEOPLE):
        w.customer(f"tb_race_{i}", phone=f"1390000{i:04d}", city="苏州")
    segment = listing.do_save_segment(w.owner, "苏州", listing.check_filters(w.shop, {"city": "苏州"}))
    return campaigns.do_create_campaign(w.owner, name="并发回访", target="segment", segment_id=segment.pk,
                                        message="{name}您好", starts_at=NOON - dt.timedelta(hours=1),
                                        rate_per_minute=campaigns.MAX_RATE, coupon_batch_id=w.batch(name="回访券").pk)


def _assert_once(campaign) -> None:
    assert CampaignSend.objects.filter(campaign=campaign).count() == PEOPLE
    assert CampaignSend.objects.filter(campaign=campaign).values("customer").distinct().count() == PEOPLE
    assert Notice.objects.filter(key__startswith=f"revisit-{campaign.pk}-").count() == PEOPLE


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_threads_send_each_customer_once():
    campaign = _campaign(CareWorld())
    sent, barrier = [], threading.Barrier(2)

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            sent.append(campaigns.run_campaign(campaign, now=NOON, deliver=False).sent)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(sent) == PEOPLE
    _assert_once(campaign)


def _redis_or_skip():
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no Redis here"
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_consumers_on_redis_send_each_customer_once():
    _redis_or_skip()
    from huey import RedisHuey

    huey = RedisHuey(name=f"xiaoer-test-{uuid.uuid4().hex[:8]}", url=REDIS_URL, results=True)
    campaign = _campaign(CareWorld())

    @huey.task()
    def campaign_run() -> int:
        try:
            return campaigns.run_campaign(campaign, now=NOON, deliver=False).sent
        finally:
            connection.close()

    consumers = []
    try:
        for _ in range(2):  # two instances, one worker thread each
            consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=False, check_worker_health=False)
            consumer._set_signal_handlers = lambda: None  # only the main loop's owner installs them
            consumer.start()
            consumers.append(consumer)
        results = [campaign_run() for _ in range(4)]
        sent = [r.get(blocking=True, timeout=120) for r in results]
    finally:
        for consumer in consumers:
            consumer.stop(graceful=True)
        huey.storage.flush_all()
    assert sum(sent) == PEOPLE
    _assert_once(campaign)
