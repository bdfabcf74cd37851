"""Hand-computed fixtures for value, RFM and export tests (expected numbers written in the tests).

Shop time zone Asia/Shanghai (UTC+8). Times below are local (CST) unless they say UTC.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from xiaoer.orders import parsing
from xiaoer.orders import services as order_services
from xiaoer.testing import make_shop

CST = ZoneInfo("Asia/Shanghai")
AS_OF = dt.date(2026, 6, 30)
_numbers = itertools.count(700001)


def cst(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=CST)


def put_order(shop, buyer: str, *, paid_at: dt.datetime | None, amount: str, paid: str | None = None,
              refunded: str = "0", order_no: str | None = None):
    """One order through the orders service (emits the order events). PAID defaults to AMOUNT."""
    row = {"order_no": order_no or str(next(_numbers)), "buyer_id": buyer, "total_amount": amount,
           "refunded_amount": refunded, "item_title": "T恤",
           "created_at": (paid_at or cst(2026, 6, 1, 9)) - dt.timedelta(minutes=5)}
    if paid_at is not None:
        row["paid_at"] = paid_at
        row["paid_amount"] = amount if paid is None else paid
    order, _ = order_services.do_upsert_order(None, shop, parsing.clean_order(row, CST), source="api")
    return order


# buyer → orders (paid_at, amount, paid amount or None, refunded)
ORDERS = {
    "b1": [(cst(2026, 6, 29, 10), "100.00", None, "0"), (cst(2026, 6, 1, 10), "200.00", None, "0"),
           (cst(2026, 5, 2, 10), "300.00", None, "0")],
    # 00:30 local on the as-of day is still the 29th in UTC: recency 0, not 1.
    "b2": [(cst(2026, 6, 30, 0, 30), "50.00", None, "0")],
    # 00:10 local on 1 July is 30 June in UTC: after the as-of date, not counted by RFM.
    "b3": [(cst(2026, 7, 1, 0, 10), "999.00", None, "0"), (cst(2026, 3, 31, 12), "80.00", None, "0")],
    # one order fully refunded (not paid), one partly refunded (counts 100.00)
    "b4": [(cst(2026, 6, 10, 12), "100.00", None, "100.00"), (cst(2026, 6, 20, 12), "120.00", None, "20.00")],
    "b5": [(cst(2026, 6, 15, 12), "60.00", None, "60.00")],  # only a fully refunded order
    "b6": [(None, "40.00", None, "0")],  # only an unpaid order
    "b7": [(cst(2026, 1, 10, 12), "1000.00", None, "0"), (cst(2026, 2, 10, 12), "500.00", None, "0")],
    "b8": [(cst(2026, 6, 25, 12), "75.00", "0", "0")],  # the source gave no paid amount: the total counts
    "b9": [(cst(2026, 6, 29, 23, 59), "200.00", None, "0")],
    "b10": [(cst(2026, 4, 30, 12), "30.00", None, "0"), (cst(2026, 5, 30, 12), "30.00", None, "0"),
            (cst(2026, 6, 28, 12), "30.00", None, "0")],
}


def build_shop():
    """A shop holding the orders of ORDERS (their events in the outbox, not yet delivered)."""
    shop = make_shop()
    for buyer, orders in ORDERS.items():
        for paid_at, amount, paid, refunded in orders:
            put_order(shop, buyer, paid_at=paid_at, amount=amount, paid=paid, refunded=refunded)
    return shop
