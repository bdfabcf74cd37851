"""Customer value projected from order events (docs/customers.md "Value"): hand-computed numbers,
levels, and idempotency of the listener (redelivery and `xiaoer events replay` change nothing)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from xiaoer.accounts.models import Role
from xiaoer.crm import services
from xiaoer.crm.models import CustomerValue
from xiaoer.crm.tests.value_fixtures import build_shop, cst, put_order
from xiaoer.events.testing import deliver_all
from xiaoer.orders import services as order_services
from xiaoer.orders.models import Order
from xiaoer.testing import make_staff, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    return build_shop()


def table(shop) -> dict[str, tuple]:
    """buyer → (paid orders, total paid, refunded, refund orders, cycle days, level)."""
    rows = CustomerValue.objects.filter(shop=shop).values_list(
        "customer__buyer_id", "paid_orders", "total_paid", "refunded", "refund_orders", "purchase_cycle_days", "level")
    return {row[0]: tuple(row[1:]) for row in rows}


def full_rows(shop) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "updated_at"}
            for row in CustomerValue.objects.filter(shop=shop).order_by("customer_id").values()]


# Written by hand from value_fixtures.ORDERS (the value counts every payment, the as-of date is for RFM).
EXPECTED = {
    "b1": (3, Decimal("600.00"), Decimal("0.00"), 0, 29.0, 0),  # 2 May → 29 Jun: 58 days / 2 gaps
    "b2": (1, Decimal("50.00"), Decimal("0.00"), 0, None, 0),
    "b3": (2, Decimal("1079.00"), Decimal("0.00"), 0, 91.51, 0),  # 31 Mar 12:00 → 1 Jul 00:10: 91.507 days
    "b4": (1, Decimal("100.00"), Decimal("120.00"), 2, None, 0),  # 100 fully refunded; 120 − 20
    "b5": (0, Decimal("0.00"), Decimal("60.00"), 1, None, 0),
    "b6": (0, Decimal("0.00"), Decimal("0.00"), 0, None, 0),
    "b7": (2, Decimal("1500.00"), Decimal("0.00"), 0, 31.0, 0),
    "b8": (1, Decimal("75.00"), Decimal("0.00"), 0, None, 0),  # no paid amount from the source: the total
    "b9": (1, Decimal("200.00"), Decimal("0.00"), 0, None, 0),
    "b10": (3, Decimal("90.00"), Decimal("0.00"), 0, 29.5, 0),  # 30 Apr → 28 Jun: 59 days / 2
}


def test_value_from_order_events_matches_the_hand_computed_table(shop):
    deliver_all()
    assert table(shop) == EXPECTED
    b1 = CustomerValue.objects.get(shop=shop, customer__buyer_id="b1")
    assert b1.first_purchase_at == cst(2026, 5, 2, 10) and b1.last_purchase_at == cst(2026, 6, 29, 10)


def test_redelivery_and_replay_change_nothing(shop):
    deliver_all()
    before = full_rows(shop)
    assert deliver_all().get("crm.customer_value", 0) == 0  # nothing pending: nothing runs
    call_command("events", "replay", "--listener", "crm.customer_value", stdout=io.StringIO())
    deliver_all()
    assert full_rows(shop) == before
    # A full rebuild agrees with the projection on every value column.
    call_command("customers", "recompute", "--shop", shop.slug, "--quiet", stdout=io.StringIO())
    assert table(shop) == EXPECTED


def test_a_refund_arriving_later_updates_the_buyer(shop):
    deliver_all()
    order = Order.objects.get(shop=shop, buyer__buyer_id="b9")
    put_order(shop, "b9", paid_at=order.paid_at, amount="200.00", refunded="200.00", order_no=order.order_no)
    deliver_all()
    assert table(shop)["b9"] == (0, Decimal("0.00"), Decimal("200.00"), 1, None, 0)


def test_an_order_closed_by_an_agent_is_heard(shop):
    deliver_all()
    agent = make_staff(shop, Role.AGENT)
    order = Order.objects.filter(shop=shop, buyer__buyer_id="b6").get()
    order_services.do_close_order(agent, order, "顾客不要了")
    assert deliver_all()["crm.customer_value"] == 1
    assert table(shop)["b6"] == EXPECTED["b6"]


def test_levels_set_by_the_owner_apply_to_everyone_and_to_new_orders(shop):
    deliver_all()
    owner = owner_of(shop)
    services.do_set_levels(owner, [
        {"name": "VIP1", "basis": "total_paid", "threshold": "100"},
        {"name": "VIP2", "basis": "total_paid", "threshold": "500"},
        {"name": "VIP3", "basis": "paid_orders", "threshold": "3"},
    ])
    levels = {buyer: row[5] for buyer, row in table(shop).items()}
    assert levels == {"b1": 3, "b2": 0, "b3": 2, "b4": 1, "b5": 0, "b6": 0, "b7": 2, "b8": 0, "b9": 1, "b10": 3}
    put_order(shop, "b2", paid_at=cst(2026, 7, 2, 9), amount="60.00")  # 50 + 60 reaches VIP1
    deliver_all()
    assert table(shop)["b2"][5] == 1


def test_levels_are_checked(shop):
    from django.core.exceptions import PermissionDenied, ValidationError

    owner, agent = owner_of(shop), make_staff(shop, Role.AGENT)
    with pytest.raises(PermissionDenied):
        services.do_set_levels(agent, [{"name": "VIP1", "threshold": "1"}])
    bad = [
        [{"name": "VIP1", "threshold": "100"}, {"name": "VIP2", "threshold": "100"}],  # not higher
        [{"name": "", "threshold": "1"}],
        [{"name": "x" * 21, "threshold": "1"}],
        [{"name": "VIP1", "threshold": "-1"}],
        [{"name": "VIP1", "threshold": "NaN"}],
        [{"name": "VIP1", "threshold": "1e40"}],
        [{"name": "VIP1", "basis": "age", "threshold": "1"}],
        [{"name": "VIP1", "basis": "paid_orders", "threshold": "1.5"}],
        [{"name": f"V{n}", "threshold": str(n)} for n in range(21)],
    ]
    for rules in bad:
        with pytest.raises(ValidationError):
            services.do_set_levels(owner, rules)
    assert services.levels_of(owner) == []


def test_levels_and_a_customers_value_through_the_api(shop):
    import json

    from xiaoer.testing import client_for

    deliver_all()
    owner, agent = client_for(owner_of(shop)), client_for(make_staff(shop, Role.AGENT))
    body = {"levels": [{"name": "VIP1", "basis": "total_paid", "threshold": "100"},
                       {"name": "老客", "basis": "paid_orders", "threshold": "3"}]}
    res = owner.put("/api/crm/levels", json.dumps(body), content_type="application/json")
    assert res.status_code == 200
    assert res.json()["levels"][1] == {"level": 2, "name": "老客", "basis": "paid_orders", "threshold": "3.00"}
    assert agent.put("/api/crm/levels", json.dumps(body), content_type="application/json").status_code == 403
    assert [x["name"] for x in agent.get("/api/crm/levels").json()["levels"]] == ["VIP1", "老客"]
    bad = owner.put("/api/crm/levels", json.dumps({"levels": [{"name": "<b>x</b>" * 5, "threshold": "1"}]}),
                    content_type="application/json")
    assert bad.status_code == 400

    b1 = shop.customers.get(buyer_id="b1")
    value = agent.get(f"/api/crm/customers/{b1.pk}/value").json()
    assert value == {
        "customer_id": b1.pk, "paid_orders": 3, "total_paid": "600.00", "refunded": "0.00", "refund_orders": 0,
        "average_unit_price": "200.00", "first_purchase_at": "2026-05-02T02:00:00+00:00",
        "last_purchase_at": "2026-06-29T02:00:00+00:00", "purchase_cycle_days": 29.0, "level": 2,
        "level_name": "老客", "rfm_as_of": None, "recency_days": None, "r": None, "f": None, "m": None,
        "rfm_segment": ""}
    nobody = shop.customers.create(buyer_id="new")
    assert agent.get(f"/api/crm/customers/{nobody.pk}/value").json()["total_paid"] == "0.00"
    warehouse = client_for(make_staff(shop, Role.WAREHOUSE))
    assert warehouse.get(f"/api/crm/customers/{b1.pk}/value").status_code == 403
