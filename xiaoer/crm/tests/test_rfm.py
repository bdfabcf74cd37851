"""RFM as of a date against hand-computed numbers (docs/customers.md "RFM").

value_fixtures.ORDERS as of 2026-06-30 (Asia/Shanghai). Buyers with a paid order: n = 8
(b5 only has a fully refunded order, b6 an unpaid one; b3's 999.00 was paid at 00:10 on 1 July
local time — still 30 June in UTC — and does not count).

    buyer  recency  F  M        worse R/F/M   score = 1 + ⌊5·worse/8⌋   R F M   segment
    b1     1        3  600.00   5 / 6 / 6                               4 4 4   重要价值
    b2     0        1  50.00    7 / 0 / 0                               5 1 1   一般发展
    b3     91       1  80.00    1 / 0 / 2                               1 1 2   一般挽留
    b4     10       1  100.00   2 / 0 / 4                               2 1 3   一般发展
    b7     140      2  1500.00  0 / 5 / 7                               1 4 5   重要保持
    b8     5        1  75.00    3 / 0 / 1                               2 1 1   一般发展
    b9     1        1  200.00   5 / 0 / 5                               4 1 4   一般发展
    b10    2        3  90.00    4 / 6 / 3                               3 4 2   一般价值

"worse" counts the buyers with a strictly larger recency, a strictly smaller F or M; b1 and b9
tie on recency 1 and share R 4. Means: recency 250/8 = 31.25 (below: R high), F 13/8 = 1.625,
M 2695/8 = 336.875 (above: high). b2 paid at 00:30 local on the as-of day: recency 0, not the 1
its UTC date would give.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from xiaoer.crm import rfm
from xiaoer.crm.models import CustomerValue
from xiaoer.crm.tests.value_fixtures import AS_OF, build_shop, cst, put_order
from xiaoer.events.testing import deliver_all
from xiaoer.testing import make_shop

pytestmark = pytest.mark.django_db

EXPECTED = {  # buyer → (recency, F, M, R score, F score, M score, segment)
    "b1": (1, 3, Decimal("600.00"), 4, 4, 4, "重要价值"),
    "b2": (0, 1, Decimal("50.00"), 5, 1, 1, "一般发展"),
    "b3": (91, 1, Decimal("80.00"), 1, 1, 2, "一般挽留"),
    "b4": (10, 1, Decimal("100.00"), 2, 1, 3, "一般发展"),
    "b5": (None, 0, Decimal("0.00"), None, None, None, ""),
    "b6": (None, 0, Decimal("0.00"), None, None, None, ""),
    "b7": (140, 2, Decimal("1500.00"), 1, 4, 5, "重要保持"),
    "b8": (5, 1, Decimal("75.00"), 2, 1, 1, "一般发展"),
    "b9": (1, 1, Decimal("200.00"), 4, 1, 4, "一般发展"),
    "b10": (2, 3, Decimal("90.00"), 3, 4, 2, "一般价值"),
}


@pytest.fixture
def shop(db):
    return build_shop()


def computed(shop, as_of: dt.date) -> dict[str, tuple]:
    buyers = dict(shop.customers.values_list("pk", "buyer_id"))
    return {buyers[s.value.customer_id]: (s.recency_days, s.value.paid_orders, s.value.total_paid, s.r, s.f, s.m,
                                          s.segment) for s in rfm.compute_rfm(shop, as_of)}


def stored(shop) -> dict[str, tuple]:
    rows = CustomerValue.objects.filter(shop=shop).values_list(
        "customer__buyer_id", "recency_days", "r", "f", "m", "rfm_segment", "rfm_as_of")
    return {row[0]: tuple(row[1:]) for row in rows}


def test_rfm_as_of_a_date_matches_the_hand_computed_table(shop):
    assert computed(shop, AS_OF) == EXPECTED


def test_the_as_of_date_is_a_calendar_day_in_the_shops_time_zone(shop):
    # A day later, b3's payment at 00:10 on 1 July counts: b3 has 2 orders, 1079.00, recency 0.
    b3 = computed(shop, AS_OF + dt.timedelta(days=1))["b3"]
    assert b3[:3] == (0, 2, Decimal("1079.00"))
    # A day earlier, b2's payment (00:30 on 30 June) does not count yet: b2 has no paid order.
    assert computed(shop, AS_OF - dt.timedelta(days=1))["b2"] == (None, 0, Decimal("0.00"), None, None, None, "")


def test_the_snapshot_is_written_into_customer_value_and_refreshed(shop):
    deliver_all()
    assert rfm.refresh_rfm_snapshot(shop, AS_OF) == 10
    expected = {buyer: (row[0], row[3], row[4], row[5], row[6], AS_OF) for buyer, row in EXPECTED.items()}
    assert stored(shop) == expected
    # The value columns stay the listener's (all payments): b3 keeps its 1 July order.
    assert CustomerValue.objects.get(shop=shop, customer__buyer_id="b3").paid_orders == 2
    # Refreshing again is the same; a refund since then moves b1 out of the paid buyers.
    assert rfm.refresh_rfm_snapshot(shop, AS_OF) == 10
    assert stored(shop) == expected
    for order in shop.orders.filter(buyer__buyer_id="b1"):
        put_order(shop, "b1", paid_at=order.paid_at, amount=str(order.total_amount), refunded=str(order.total_amount),
                  order_no=order.order_no)
    rfm.refresh_rfm_snapshot(shop, AS_OF)
    assert stored(shop)["b1"] == (None, None, None, None, "", AS_OF)


def test_one_buyer_and_all_tied_buyers_score_one(db):
    shop = make_shop()
    put_order(shop, "solo", paid_at=cst(2026, 6, 1, 12), amount="10.00")
    assert computed(shop, AS_OF)["solo"] == (29, 1, Decimal("10.00"), 1, 1, 1, "一般挽留")
    put_order(shop, "twin", paid_at=cst(2026, 6, 1, 18), amount="10.00")
    # Equal on every value: the same scores, and nobody is above (or below) the mean.
    assert set(computed(shop, AS_OF).values()) == {(29, 1, Decimal("10.00"), 1, 1, 1, "一般挽留")}


def test_a_shop_without_paid_orders_has_no_scores(db):
    shop = make_shop()
    put_order(shop, "nobody", paid_at=None, amount="10.00")
    assert computed(shop, AS_OF) == {"nobody": (None, 0, Decimal("0.00"), None, None, None, "")}
    assert rfm.refresh_rfm_snapshot(shop, AS_OF) == 1


def test_the_daily_task_rebuilds_a_shop_once_a_day(shop, monkeypatch):
    from xiaoer.crm import tasks

    monkeypatch.setenv("XIAOER_RFM_REBUILD_HOUR", "0")
    deliver_all()
    assert shop.slug in tasks.rebuild_due_shops()
    assert shop.slug not in tasks.rebuild_due_shops()  # today's snapshot exists
    today = rfm.today(shop)
    assert set(CustomerValue.objects.filter(shop=shop).values_list("rfm_as_of", flat=True)) == {today}
    monkeypatch.setenv("XIAOER_RFM_REBUILD_HOUR", "24")  # not yet time in any shop
    CustomerValue.objects.filter(shop=shop).update(rfm_as_of=None)
    assert shop.slug not in tasks.rebuild_due_shops()


def test_the_rebuild_scores_stored_rows_like_the_stream(shop):
    """The snapshot path (values written, then scored by UPDATEs) gives the same table."""
    deliver_all()
    assert rfm.rebuild(shop, AS_OF) == 10
    expected = {buyer: (row[0], row[3], row[4], row[5], row[6], AS_OF) for buyer, row in EXPECTED.items()}
    assert stored(shop) == expected
    # As of a past date the rebuild writes the values as of then too (b3: one order).
    assert CustomerValue.objects.get(shop=shop, customer__buyer_id="b3").paid_orders == 1


def test_a_rebuild_never_overwrites_what_the_listener_wrote_meanwhile(shop):
    """The rebuild reads a buyer's orders, the listener writes a newer value before the rebuild
    writes its chunk: the listener's row stays."""
    from xiaoer.crm import value as values

    deliver_all()
    b2 = CustomerValue.objects.get(shop=shop, customer__buyer_id="b2")
    put_order(shop, "b2", paid_at=cst(2026, 6, 30, 8), amount="10.00")

    real_upsert, calls = values.upsert, []

    def listener_first(rows, fields, **kwargs):
        if not calls:  # the rebuild's first chunk: the listener runs just before it is written
            calls.append(1)
            deliver_all()  # b2 now has 2 paid orders, written after the rebuild started
        real_upsert(rows, fields, **kwargs)

    values.upsert = listener_first
    try:
        rfm.rebuild(shop, AS_OF)
    finally:
        values.upsert = real_upsert
    b2.refresh_from_db()
    assert (b2.paid_orders, b2.total_paid) == (2, Decimal("60.00"))
    assert (b2.r, b2.rfm_segment) == (None, "")  # scored by the next rebuild
    rfm.rebuild(shop, AS_OF)
    b2.refresh_from_db()
    assert (b2.paid_orders, b2.recency_days, b2.r) == (2, 0, 5)
