"""Order events: what each write emits into the outbox (docs/events.md "### orders")."""

from __future__ import annotations

import datetime as dt

from xiaoer.events.models import OutboxEvent
from xiaoer.orders import importer
from xiaoer.orders import services as order_services
from xiaoer.orders.events import EVENT_BATCH
from xiaoer.orders.models import Order
from xiaoer.orders.tests.test_import import _row, _write_csv

from .conftest import local


def _events(*names: str) -> list[tuple[str, dict]]:
    rows = OutboxEvent.objects.filter(name__in=[f"orders.{n}" for n in names]).order_by("id")
    return [(r.name.split(".")[1], r.payload) for r in rows]


def test_an_import_emits_one_event_per_kind_per_batch(world, tmp_path):
    rows = [_row("T1"), _row("T2", status="等待买家付款", paid="0", paid_at=""),
            _row("T3", status="卖家已发货，等待买家确认", carrier="中通快递", tracking="ZT1")]
    importer.import_file(world.shop, _write_csv(tmp_path / "a.csv", rows))
    ids = dict(Order.objects.filter(shop=world.shop).values_list("order_no", "pk"))
    assert _events("OrderCreated", "OrderPaid", "OrderShipped", "OrderUpdated") == [
        ("OrderCreated", {"shop_id": world.shop.pk, "order_ids": [ids["T1"], ids["T2"], ids["T3"]],
                          "source": "import"}),
        ("OrderPaid", {"shop_id": world.shop.pk, "order_ids": [ids["T1"], ids["T3"]]}),
        ("OrderShipped", {"shop_id": world.shop.pk, "order_ids": [ids["T3"]]}),
    ]

    OutboxEvent.objects.all().delete()
    importer.import_file(world.shop, _write_csv(tmp_path / "b.csv", [_row("T1"), _row("T2")]))  # T2 paid now
    names = [name for name, _ in _events("OrderCreated", "OrderUpdated", "OrderPaid")]
    assert names == ["OrderUpdated", "OrderPaid"]
    assert _events("OrderPaid")[0][1]["order_ids"] == [ids["T2"]]


def test_a_large_batch_is_split_into_events_of_at_most_event_batch_orders(world, monkeypatch):
    monkeypatch.setattr(order_services, "EVENT_BATCH", 2)
    rows = [{"order_no": f"B{i}", "total_amount": 1, "created_at": dt.datetime.now(dt.UTC)} for i in range(5)]
    order_services.upsert_orders(world.shop, rows, source="api")
    assert [len(p["order_ids"]) for _, p in _events("OrderCreated")] == [2, 2, 1]
    assert EVENT_BATCH >= 100  # the real batch keeps a 100,000-row import to about a hundred rows


def test_agent_actions_emit_changed_closed_and_reminder_events(world):
    order = world.order()
    OutboxEvent.objects.all().delete()
    assert order_services.do_remind_now(world.agent, order)
    order_services.do_change_order(world.agent, order, reason="换地址", changes={"receiver_address": "新地址"},
                                   notify=False)
    order_services.do_close_order(world.agent, order, "顾客不要了")
    events = _events("PaymentReminderSent", "OrderChanged", "OrderClosed")
    assert [name for name, _ in events] == ["PaymentReminderSent", "OrderChanged", "OrderChanged",
                                            "OrderChanged", "OrderClosed"]
    assert events[0][1] == {"shop_id": world.shop.pk, "order_ids": [order.pk], "staff_id": world.agent.pk}
    change = events[2][1]
    assert (change["kind"], change["staff_id"], change["seat_id"], change["fields"]) == (
        "change", world.agent.pk, world.seat.pk, ["receiver_address"])
    assert events[-1][1]["reason"] == "顾客不要了" and events[-1][1]["staff_id"] == world.agent.pk


def test_the_reminder_sweep_emits_the_orders_it_claimed(world):
    created = local(2026, 3, 2, 10, 0)  # daytime in the shop: no quiet hours
    orders = [world.order(created_at=created) for _ in range(3)]
    order_services.run_reminder_sweep(now=created + dt.timedelta(minutes=40), deliver=False)
    order_services.run_reminder_sweep(now=created + dt.timedelta(minutes=50), deliver=False)  # nothing more
    assert [p["order_ids"] for _, p in _events("PaymentReminderSent")] == [sorted(o.pk for o in orders)]


def test_setting_tracking_emits_shipped_once(world):
    order = world.order(paid_at="2026-03-01 10:05:00")
    order_services.do_set_shipping(world.agent, order, carrier="中通", tracking_no="ZT9")
    order_services.do_set_shipping(world.agent, order, carrier="圆通", tracking_no="YT9")
    assert [p["order_ids"] for _, p in _events("OrderShipped")] == [[order.pk]]
