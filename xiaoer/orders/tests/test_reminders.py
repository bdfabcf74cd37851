"""Payment reminders (催付): once per order whatever crashes or runs twice; quiet hours."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from xiaoer.chat import writer
from xiaoer.chat.models import Message
from xiaoer.notify import services as notify_services
from xiaoer.notify.backends import LocmemSmsBackend
from xiaoer.notify.models import Notice, NoticeStatus
from xiaoer.orders import services as order_services
from xiaoer.orders.models import Order, OrderStatus, RemindState
from xiaoer.testing import owner_of

from .conftest import World, local


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so no handler records anything."""


class CrashAfterSendBackend(LocmemSmsBackend):
    def send(self, phone: str, text: str, *, key: str) -> str:
        super().send(phone, text, key=key)
        raise SimulatedCrash


def _system_messages(conversation) -> list[Message]:
    return list(Message.objects.filter(conversation=conversation, sender_kind="system"))


def test_reminder_goes_to_chat_once(world):
    created = local(2026, 3, 2, 10, 0)
    order = world.order(created_at=created)
    assert order_services.run_reminder_sweep(now=created + dt.timedelta(minutes=29)) == 0
    assert order_services.run_reminder_sweep(now=created + dt.timedelta(minutes=31)) == 1
    for minutes in (32, 45, 90):
        order_services.run_reminder_sweep(now=created + dt.timedelta(minutes=minutes))
    messages = _system_messages(world.conversation)
    assert len(messages) == 1
    assert order.order_no in messages[0].body
    assert messages[0].client_id.endswith(f"remind-{order.pk}")  # the writer namespaces server ids
    order.refresh_from_db()
    assert order.remind_state == RemindState.SENT
    assert Notice.objects.get(key=f"remind-{order.pk}").status == NoticeStatus.SENT


def test_reminder_without_conversation_goes_by_sms(world, outbox):
    created = local(2026, 3, 2, 10, 0)
    order = world.order(buyer="someone_else", created_at=created, receiver_phone="13900000001")
    order_services.run_reminder_sweep(now=created + dt.timedelta(hours=1))
    order_services.run_reminder_sweep(now=created + dt.timedelta(hours=2))
    assert [m["phone"] for m in outbox] == ["13900000001"]
    assert order.order_no in outbox[0]["text"]
    assert outbox[0]["key"] == f"remind-{order.pk}"


def test_paid_and_old_orders_are_not_reminded(world, outbox):
    now = local(2026, 3, 2, 12, 0)
    world.order(buyer=None, created_at=now - dt.timedelta(hours=1), paid_at=now - dt.timedelta(minutes=50))
    world.order(buyer=None, created_at=now - dt.timedelta(days=3))  # an imported history row
    assert order_services.run_reminder_sweep(now=now) == 0
    assert outbox == []


def test_crash_between_deciding_and_recording_never_sends_twice(world, outbox, monkeypatch):
    created = local(2026, 3, 2, 10, 0)
    order = world.order(buyer=None, created_at=created)
    real_mark = order_services._mark_reminded

    def crash(*args, **kwargs):
        raise SimulatedCrash

    monkeypatch.setattr(order_services, "_mark_reminded", crash)
    with pytest.raises(SimulatedCrash):
        order_services.run_reminder_sweep(now=created + dt.timedelta(minutes=40))
    # The decision and its record are one transaction: the crash left neither, sent nothing.
    assert outbox == []
    assert not Notice.objects.filter(key=f"remind-{order.pk}").exists()
    monkeypatch.setattr(order_services, "_mark_reminded", real_mark)
    for minutes in (41, 42, 60):
        order_services.run_reminder_sweep(now=created + dt.timedelta(minutes=minutes))
    assert len(outbox) == 1


def test_crash_after_sms_sent_before_outcome_recorded_is_not_resent(world, outbox, settings):
    created = local(2026, 3, 2, 10, 0)
    order = world.order(buyer=None, created_at=created)
    settings.XIAOER_SMS_BACKEND = "xiaoer.orders.tests.test_reminders.CrashAfterSendBackend"
    with pytest.raises(SimulatedCrash):
        order_services.run_reminder_sweep(now=created + dt.timedelta(minutes=40))
    assert len(outbox) == 1
    settings.XIAOER_SMS_BACKEND = "xiaoer.notify.backends.LocmemSmsBackend"
    later = created + dt.timedelta(minutes=40) + notify_services.STALE_AFTER * 3
    order_services.run_reminder_sweep(now=later)
    notify_services.sweep(now=later)
    notify_services.sweep(now=later + dt.timedelta(hours=1))
    # The console/locmem SMS backends can't deduplicate: an unknown outcome is never resent.
    assert len(outbox) == 1
    assert Notice.objects.get(key=f"remind-{order.pk}").status == NoticeStatus.UNKNOWN


def test_crash_after_chat_send_is_redelivered_without_duplicate(world, monkeypatch):
    created = local(2026, 3, 2, 10, 0)
    order = world.order(created_at=created)
    real_post = writer.post_message_sync

    def post_then_crash(*args, **kwargs):
        real_post(*args, **kwargs)
        raise SimulatedCrash

    monkeypatch.setattr(writer, "post_message_sync", post_then_crash)
    with pytest.raises(SimulatedCrash):
        order_services.run_reminder_sweep(now=created + dt.timedelta(minutes=40))
    monkeypatch.setattr(writer, "post_message_sync", real_post)
    later = created + dt.timedelta(minutes=40) + notify_services.STALE_AFTER * 3
    notify_services.sweep(now=later)
    order_services.run_reminder_sweep(now=later)
    # The chat deduplicates by client id = notice key: resending stored nothing new.
    assert len(_system_messages(world.conversation)) == 1
    assert Notice.objects.get(key=f"remind-{order.pk}").status == NoticeStatus.SENT


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_one_reminder_per_order(outbox):
    """Two sweeps racing on the configured database (SQLite here; test_races_postgres.py runs it
    again on PostgreSQL)."""
    world = World()
    created = local(2026, 3, 2, 10, 0)
    orders = [world.order(buyer=None, created_at=created, receiver_phone=f"1390000{i:04d}") for i in range(60)]
    orders += [world.order(created_at=created) for _ in range(5)]
    now = created + dt.timedelta(hours=1)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            order_services.run_reminder_sweep(now=now, batch=7)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(m["key"] for m in outbox) == sorted(f"remind-{o.pk}" for o in orders[:60])
    assert len(_system_messages(world.conversation)) == 5
    assert Order.objects.filter(remind_state=RemindState.SENT).count() == 65


def test_quiet_hours_defer_to_morning(world, outbox):
    created = local(2026, 3, 2, 21, 50)  # default quiet hours 22:00–08:00, shop in Asia/Shanghai
    world.order(buyer=None, created_at=created)
    assert order_services.run_reminder_sweep(now=local(2026, 3, 2, 22, 30)) == 0
    assert order_services.run_reminder_sweep(now=local(2026, 3, 3, 3, 0)) == 0
    assert order_services.run_reminder_sweep(now=local(2026, 3, 3, 7, 59)) == 0
    assert outbox == []
    assert order_services.run_reminder_sweep(now=local(2026, 3, 3, 8, 1)) == 1
    assert len(outbox) == 1


def test_quiet_hours_follow_shop_settings_and_time_zone(world, outbox):
    world.shop.timezone = "Europe/Berlin"
    world.shop.save()
    order_services.do_update_settings(owner_of(world.shop),
                                      quiet_start=dt.time(20, 0), quiet_end=dt.time(9, 0),
                                      remind_after_minutes=10)
    berlin = dt.timezone(dt.timedelta(hours=1))
    created = dt.datetime(2026, 3, 2, 19, 45, tzinfo=berlin)
    world.order(buyer=None, created_at=created)
    assert order_services.run_reminder_sweep(now=created + dt.timedelta(minutes=20)) == 0  # 20:05 Berlin
    assert order_services.run_reminder_sweep(now=dt.datetime(2026, 3, 3, 9, 5, tzinfo=berlin)) == 1


def test_recovery_rate_counts_reminded_orders_paid_later(world):
    created = local(2026, 3, 2, 10, 0)
    paid_later = world.order(buyer=None, created_at=created)
    world.order(buyer=None, created_at=created)
    order_services.run_reminder_sweep(now=created + dt.timedelta(minutes=45))
    world.order(order_no=paid_later.order_no, buyer=None, created_at=created,
                paid_at=created + dt.timedelta(hours=2), paid_amount="99")
    paid_later.refresh_from_db()
    assert paid_later.status == OrderStatus.PAID
    stats = order_services.recovery_stats(world.shop)
    assert stats == {"reminded": 2, "recovered": 1, "rate": 0.5}


def test_agent_reminds_by_hand_and_the_sweep_does_not_repeat_it(world, client):
    from xiaoer.testing import PASSWORD

    created = timezone.now() - dt.timedelta(minutes=5)
    order = world.order(created_at=created)
    client.login(username=world.agent.user.username, password=PASSWORD)
    html = client.get(f"/desk/c/{world.conversation.pk}/orders").content.decode()
    assert f"/desk/orders/{order.pk}/remind" in html
    response = client.post(f"/desk/orders/{order.pk}/remind", {"conversation": world.conversation.pk})
    assert response.status_code == 200
    assert f"/desk/orders/{order.pk}/remind" not in response.content.decode()
    assert order_services.do_remind_now(world.agent, order) is False
    notify_services.sweep()
    order_services.run_reminder_sweep(now=created + dt.timedelta(hours=1))
    assert len(_system_messages(world.conversation)) == 1
    assert order.changes.get(kind="remind").staff == world.agent
