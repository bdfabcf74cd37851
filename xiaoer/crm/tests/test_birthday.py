"""Birthday care: once per customer per year, in the shop's hours, chat else SMS, optionally with
a coupon; lunar birthdays; a crash before the commit greets later, never twice; two Huey
consumers on Redis greet once (test_races_postgres.py runs that again on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from lunardate import LunarDate

from xiaoer.chat import services as chat_services
from xiaoer.chat.models import Message
from xiaoer.crm import care
from xiaoer.crm.models import BirthdayGreeting, Coupon
from xiaoer.notify import services as notify_services
from xiaoer.notify.backends import LocmemSmsBackend
from xiaoer.notify.models import Notice

from .carekit import SHANGHAI, CareWorld

REDIS_URL = os.environ.get("XIAOER_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
MORNING = dt.datetime(2027, 3, 15, 11, 0, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def outbox(settings):
    settings.XIAOER_SMS_BACKEND = "xiaoer.notify.backends.LocmemSmsBackend"
    LocmemSmsBackend.outbox = []
    return LocmemSmsBackend.outbox


def care_on(w: CareWorld, **fields):
    values = {"enabled": True, "message": "亲爱的{name}，{shop}祝您生日快乐！{coupon}", "hours_start": 10,
              "hours_end": 20, **fields}
    return care.do_save_settings(w.owner, **values)


@pytest.mark.django_db
def test_greeted_once_a_year_by_sms_with_one_coupon(outbox):
    w = CareWorld()
    batch = w.batch(name="生日券", value="20", threshold="0", valid_days=30)
    care_on(w, batch_id=batch.pk)
    w.customer("tb_bday", name="阿珍", phone="13900000001", birthday_month=3, birthday_day=15)
    w.customer("tb_other_day", phone="13900000002", birthday_month=3, birthday_day=16)
    w.customer("tb_no_contact", birthday_month=3, birthday_day=15)  # unreachable: not claimed
    assert care.run_birthday_care(now=MORNING).greeted == 1
    assert care.run_birthday_care(now=MORNING + dt.timedelta(hours=1)).greeted == 0  # the next hourly run
    notify_services.deliver_due(now=MORNING + dt.timedelta(hours=2))
    assert len(outbox) == 1
    sms = outbox[0]
    code = Coupon.objects.get(reason="birthday").code
    assert sms["phone"] == "13900000001" and "阿珍" in sms["text"] and code[:4] in sms["text"]
    assert sms["key"].startswith("birthday-") and sms["key"].endswith("-2027")
    assert BirthdayGreeting.objects.count() == 1 and Coupon.objects.count() == 1
    next_year = MORNING.replace(year=2028)
    assert care.run_birthday_care(now=next_year).greeted == 1  # a new year, a new greeting
    assert Coupon.objects.count() == 1  # the batch is still issued once per customer


@pytest.mark.django_db
def test_only_inside_the_shops_hours_and_when_enabled():
    w = CareWorld()
    care_on(w, hours_start=10, hours_end=12)
    w.customer("tb_bday", phone="13900000001", birthday_month=3, birthday_day=15)
    assert care.run_birthday_care(now=MORNING.replace(hour=9, minute=59)).shops == 0
    assert care.run_birthday_care(now=MORNING.replace(hour=12, minute=0)).greeted == 0
    care_on(w, enabled=False)
    assert care.run_birthday_care(now=MORNING).greeted == 0
    care_on(w)
    assert care.run_birthday_care(now=MORNING).greeted == 1
    with pytest.raises(ValidationError):
        care.do_save_settings(w.owner, enabled=True, message="x", hours_start=20, hours_end=10)


@pytest.mark.django_db
def test_chat_when_reachable_there(outbox):
    w = CareWorld()
    care_on(w)
    customer = w.customer("tb_chat", phone="13900000003", birthday_month=3, birthday_day=15)
    conv = chat_services.get_or_create_conversation(w.shop, customer)
    care.run_birthday_care(now=MORNING)
    notify_services.deliver_due(now=MORNING + dt.timedelta(minutes=1))
    notify_services.deliver_due(now=MORNING + dt.timedelta(minutes=2))
    assert outbox == []
    messages = Message.objects.filter(conversation=conv, sender_kind="system")
    assert messages.count() == 1 and "生日快乐" in messages.get().body


@pytest.mark.django_db
def test_leap_day_and_lunar_birthdays():
    w = CareWorld()
    care_on(w)
    w.customer("tb_leap", phone="13900000004", birthday_month=2, birthday_day=29)
    assert care.run_birthday_care(now=dt.datetime(2027, 2, 28, 11, tzinfo=SHANGHAI)).greeted == 1
    lunar = LunarDate.from_solar_date(2027, 3, 15)
    w.customer("tb_lunar", phone="13900000005", birthday_month=lunar.month, birthday_day=lunar.day,
               birthday_lunar=True)
    w.customer("tb_solar_same_numbers", phone="13900000006", birthday_month=lunar.month, birthday_day=lunar.day)
    assert care.run_birthday_care(now=MORNING).greeted == 1
    greeting = BirthdayGreeting.objects.get(customer__buyer_id="tb_lunar")
    assert greeting.year == lunar.year


@pytest.mark.django_db
def test_a_crash_before_the_commit_greets_later_never_twice(monkeypatch, outbox):
    w = CareWorld()
    care_on(w, batch_id=w.batch(name="生日券").pk)
    w.customer("tb_bday", phone="13900000001", birthday_month=3, birthday_day=15)
    real = notify_services.do_queue_notices

    def crash(*args, **kwargs):
        raise RuntimeError("worker died")

    monkeypatch.setattr(notify_services, "do_queue_notices", crash)
    assert care.run_birthday_care(now=MORNING).greeted == 0
    assert not BirthdayGreeting.objects.exists() and not Coupon.objects.exists() and not Notice.objects.exists()
    monkeypatch.setattr(notify_services, "do_queue_notices", real)
    assert care.run_birthday_care(now=MORNING + dt.timedelta(hours=1)).greeted == 1
    assert care.run_birthday_care(now=MORNING + dt.timedelta(hours=2)).greeted == 0
    notify_services.deliver_due(now=MORNING + dt.timedelta(hours=3))
    assert len(outbox) == 1 and Coupon.objects.count() == 1


def _redis_or_skip():
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no Redis here"
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_consumers_on_redis_greet_each_customer_once(outbox):
    _redis_or_skip()
    from huey import RedisHuey

    huey = RedisHuey(name=f"xiaoer-test-{uuid.uuid4().hex[:8]}", url=REDIS_URL, results=True)
    w = CareWorld()
    care_on(w, batch_id=w.batch(name="生日券").pk)
    people = [w.customer(f"tb_bday_{i}", phone=f"1390000{i:04d}", birthday_month=3, birthday_day=15)
              for i in range(30)]

    @huey.task()
    def care_run() -> int:
        try:
            greeted = care.run_birthday_care(now=MORNING).greeted
            notify_services.deliver_due(now=MORNING + dt.timedelta(minutes=1))
            return greeted
        finally:
            connection.close()

    consumers = []
    try:
        for _ in range(2):  # two instances, one worker thread each
            consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=False, check_worker_health=False)
            consumer._set_signal_handlers = lambda: None  # only the main loop's owner installs them
            consumer.start()
            consumers.append(consumer)
        results = [care_run() for _ in range(6)]
        greeted = [r.get(blocking=True, timeout=120) for r in results]
    finally:
        for consumer in consumers:
            consumer.stop(graceful=True)
        huey.storage.flush_all()
    assert sum(greeted) == 30
    assert sorted(m["key"] for m in outbox) == sorted(f"birthday-{c.pk}-2027" for c in people)
    assert BirthdayGreeting.objects.count() == 30 and Coupon.objects.count() == 30


@pytest.mark.django_db
def test_settings_through_the_api_and_the_page():
    w = CareWorld()
    batch = w.batch(name="生日券")
    client = w.client(w.supervisor)
    res = client.put("/api/crm/care/birthday", {"enabled": True, "message": "{name}生日快乐", "hours_start": 9,
                                                "hours_end": 21, "coupon_batch_id": batch.pk},
                     content_type="application/json")
    assert res.status_code == 200 and res.json()["coupon_batch_id"] == batch.pk
    assert client.get("/api/crm/care/birthday").json()["hours_start"] == 9
    other = CareWorld("别家店")
    res = client.put("/api/crm/care/birthday", {"enabled": True, "message": "x", "hours_start": 9, "hours_end": 21,
                                                "coupon_batch_id": other.batch().pk}, content_type="application/json")
    assert res.status_code == 404  # another shop's batch
    res = client.post("/customers/care", {"enabled": "1", "message": "{name}，生日快乐", "hours_start": "8",
                                          "hours_end": "22", "coupon_batch": ""})
    assert res.status_code == 302
    page = client.get("/customers/care").content.decode()
    assert "{name}，生日快乐" in page and 'value="8" selected' in page
    assert w.client(w.agent).get("/customers/care").status_code == 403
