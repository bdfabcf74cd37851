"""The live path (writer, transfers, notes, robot) through the listener, and rebuild ≡ incremental."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from xiaoer.chat import services as chat_services
from xiaoer.chat import writer
from xiaoer.chat.models import Conversation
from xiaoer.customers.models import Customer
from xiaoer.kpi import compute
from xiaoer.kpi.models import DailyRollup, InquiryFact, OrderFact, TurnFact
from xiaoer.kpi.tests.scene import (
    CN,
    D1,
    D2,
    D3,
    LINES,
    ORDERS,
    add_orders,
    at,
    import_chat,
    kpi_report,
    line,
    make_world,
    settle,
    write_lines,
)

pytestmark = pytest.mark.django_db


class Clock:
    """The writer stamps messages with timezone.now(): the scene sets it to exact times."""

    def __init__(self, monkeypatch) -> None:
        self.now = timezone.now()
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def set(self, day: dt.date, hhmmss: str) -> None:
        self.now = dt.datetime.combine(day, dt.time.fromisoformat(hhmmss), tzinfo=CN).astimezone(dt.UTC)


def test_notes_robot_and_a_transfer_mid_day(monkeypatch):
    w = make_world()
    clock = Clock(monkeypatch)
    customer = Customer.objects.create(shop=w.shop, buyer_id="hana")
    conv = Conversation.objects.create(shop=w.shop, customer=customer, seat=w.seat_mei, status="open")

    def post(when: str, sender: str, **kw) -> None:
        clock.set(D1, when)
        with transaction.atomic():
            writer.post_message_sync(conv.pk, sender_kind=sender, body="…", **kw)

    post("10:00:00", "shopper")
    post("10:00:30", "agent", kind="note", staff_id=w.mei.pk, seat_id=w.seat_mei.pk)  # answers nothing
    post("10:01:00", "shopper")  # the note did not end the run: still the first turn
    post("10:01:30", "robot", seat_id=w.seat_mei.pk)  # ends the run, answers nothing
    clock.set(D1, "10:02:00")
    with transaction.atomic():
        chat_services.do_transfer(w.mei, conv, w.seat_wang, "请接手")
    post("10:03:00", "agent", staff_id=w.wang.pk, seat_id=w.seat_wang.pk)
    settle()

    rows = {r["seat"]: r for r in kpi_report(w.shop, D1, D1)["rows"]}
    wang, mei = rows["小王"], rows["小美"]
    assert (wang["turns"], wang["response_median_s"], wang["three_minute_rate"]) == (1, 180.0, 1.0)
    assert (wang["reply_ratio"], wang["inquiries"], wang["transfers_in"]) == (0.5, 1, 1)
    assert (mei["turns"], mei["inquiries"], mei["transfers_out"]) == (0, 0, 1)
    staff_rows = {r["staff"]: r for r in kpi_report(w.shop, D1, D1, by="staff")["rows"]}
    assert staff_rows[w.mei.user.username]["transfers_out"] == 1


def _snapshot(shop) -> list[tuple]:
    fields = [f.name for f in DailyRollup._meta.fields if f.name not in ("id",)]
    return sorted(tuple(str(v) for v in row) for row in DailyRollup.objects.filter(shop=shop).values_list(*fields))


def _facts(shop) -> tuple[int, int, int]:
    return (TurnFact.objects.filter(shop=shop).count(), InquiryFact.objects.filter(shop=shop).count(),
            OrderFact.objects.filter(shop=shop).count())


def test_rebuild_equals_incremental_with_late_orders_and_reimports(tmp_path, monkeypatch):
    w = make_world()
    clock = Clock(monkeypatch)
    clock.set(D3, "23:00:00")
    # orders first, history later (late-arriving chat), then late orders, a re-import and an
    # extension of the history that lands between older messages
    add_orders(w.shop, ORDERS[2:])
    settle()
    import_chat(w.shop, write_lines(tmp_path / "a.jsonl", LINES[:9]))
    settle()
    add_orders(w.shop, ORDERS[:2])
    settle()
    assert import_chat(w.shop, write_lines(tmp_path / "a.jsonl", LINES[:9]))["imported"] == 0
    extended = LINES + [line("a1", "alice", "shopper", at(D1, "10:01:30"), "还在吗"),
                        line("z", "zoe", "shopper", at(D2, "08:00:00")),
                        line("z", "zoe", "agent", at(D2, "08:01:00"), seat="小美", staff="mei")]
    assert import_chat(w.shop, write_lines(tmp_path / "b.jsonl", extended))["imported"] == len(extended) - 9
    settle()
    # a late payment, still inside carol's window (the end of D2)
    add_orders(w.shop, [{"order_no": "O5", "buyer_id": "carol", "paid_at": dt.datetime.fromisoformat(
        at(D2, "23:30:00")), "paid_amount": ORDERS[3]["total_amount"]}])
    settle()
    incremental, facts = _snapshot(w.shop), _facts(w.shop)
    assert incremental  # something was projected

    with transaction.atomic():
        compute.rebuild(w.shop)
    assert _snapshot(w.shop) == incremental
    assert _facts(w.shop) == facts
    totals = kpi_report(w.shop, D1, D3)["shop"]
    # the extra alice message joined T2 (not answered faster: 10:01:00 → 10:02:00); zoe: one more inquiry
    assert (totals["inquiries"], totals["turns"], totals["paid"]) == (4, 8, 3)


def test_the_listener_is_idempotent_on_redelivery(tmp_path):
    w = make_world()
    import_chat(w.shop, write_lines(tmp_path / "h.jsonl", LINES))
    add_orders(w.shop, ORDERS)
    settle()
    before = _snapshot(w.shop)
    from xiaoer.chat.events import HistoryImported
    from xiaoer.kpi import listeners

    conv = Conversation.objects.filter(shop=w.shop, customer__buyer_id="alice").get()
    with transaction.atomic():  # the same event handled again (at least once)
        listeners.on_history(HistoryImported(shop_id=w.shop.pk, message_count=1, conversations=[
            [conv.pk, conv.customer_id, at(D1, "10:00:00")]]))
    assert compute.process_dirty() == 1
    assert _snapshot(w.shop) == before
    assert D2  # the scene spans two days


def test_payment_reminder_recovery(tmp_path):
    """The sweep reminds carol's unpaid O5 on D3 morning; she pays an hour later: 1 of 1 recovered,
    counted on the reminder's day. Dave's O4 was paid before any reminder: not reminded."""
    from xiaoer.orders import services as order_services

    w = make_world()
    import_chat(w.shop, write_lines(tmp_path / "h.jsonl", LINES))
    add_orders(w.shop, ORDERS)
    reminded_at = dt.datetime.fromisoformat(at(D3, "10:00:00"))
    assert order_services.run_reminder_sweep(now=reminded_at, deliver=False) == 1
    add_orders(w.shop, [{"order_no": "O5", "buyer_id": "carol", "paid_at": reminded_at + dt.timedelta(hours=1),
                         "paid_amount": ORDERS[3]["total_amount"]}])
    settle()
    assert (kpi_report(w.shop, D3, D3)["shop"]["reminded"], kpi_report(w.shop, D3, D3)["shop"]["reminder_recovery"]) \
        == (1, 1.0)
    assert kpi_report(w.shop, D1, D2)["shop"]["reminder_recovery"] is None
