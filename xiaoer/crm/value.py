"""A customer's value, projected from their orders (docs/customers.md "Value").

One rule decides which orders count, for the value and for RFM alike: an order is *paid* when
its payment time is set (on or before the as-of date, when there is one) and it is not fully
refunded. Its amount is the paid amount, or the order total when the source gave none
(docs/decisions/131-order-amount-and-refunds.md). Everything is one GROUP BY over the buyer's
orders, recomputed whole for each buyer touched: never an increment, so redelivering an event
changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Case, Count, DecimalField, F, Max, Min, Q, QuerySet, Sum, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from xiaoer.crm.models import CustomerValue, LevelRule
from xiaoer.orders.events import OrderClosed, OrderCreated, OrderPaid, OrderUpdated
from xiaoer.orders.models import Order

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
VALUE_FIELDS = ("paid_orders", "total_paid", "refunded", "refund_orders", "first_purchase_at",
                "last_purchase_at", "purchase_cycle_days", "level")
WRITE_CHUNK = 2000


@dataclass(frozen=True)
class BuyerValue:
    customer_id: int
    paid_orders: int
    total_paid: Decimal
    refunded: Decimal
    refund_orders: int
    first_purchase_at: dt.datetime | None
    last_purchase_at: dt.datetime | None

    @property
    def purchase_cycle_days(self) -> float | None:
        """Mean days between consecutive paid orders' payments. The gaps telescope: their mean is
        (last − first) / (paid orders − 1). None under two paid orders."""
        if self.paid_orders < 2 or self.first_purchase_at is None or self.last_purchase_at is None:
            return None
        span = (self.last_purchase_at - self.first_purchase_at).total_seconds() / 86400
        return round(span / (self.paid_orders - 1), 2)

    @property
    def average_unit_price(self) -> Decimal | None:
        """客单价: total paid ÷ paid orders."""
        if not self.paid_orders:
            return None
        return (self.total_paid / self.paid_orders).quantize(CENT)


def _amount() -> Case:
    """An order's amount: what the buyer paid, or its total when the source gave no paid amount."""
    return Case(When(paid_amount__gt=0, then=F("paid_amount")), default=F("total_amount"))


def _paid(until: dt.datetime | None) -> Q:
    """The orders that count: payment time set (before UNTIL) and not fully refunded."""
    paid = Q(paid_at__isnull=False) & ~Q(refunded_amount__gt=0, refunded_amount__gte=_amount())
    return paid & Q(paid_at__lt=until) if until is not None else paid


def _settled(until: dt.datetime | None) -> Q:
    """The orders whose refunds count: paid at some time (fully refunded ones included)."""
    return Q(paid_at__isnull=False, paid_at__lt=until) if until is not None else Q(paid_at__isnull=False)


def aggregates(shop_id: int, *, until: dt.datetime | None = None,
               customer_ids: Iterable[int] | None = None) -> QuerySet:
    """One row per buyer with at least one order (UNTIL: only payments before it count):
    (customer_id, paid_orders, total_paid, refunded, refund_orders, first, last), unordered."""
    paid, settled = _paid(until), _settled(until)
    money = DecimalField(max_digits=14, decimal_places=2)
    if customer_ids is None:
        orders = Order.objects.filter(shop_id=shop_id, buyer_id__isnull=False)
    else:
        # Scoped through the buyer (a customer belongs to one shop): an order's own shop_id would
        # lead SQLite to the shop index, a scan of the shop's every order for a few buyers.
        orders = Order.objects.filter(buyer_id__in=list(customer_ids), buyer__shop_id=shop_id)
    return (orders.values("buyer_id").order_by()
            .annotate(v_paid_orders=Count("pk", filter=paid),
                      v_total_paid=Coalesce(Sum(_amount() - F("refunded_amount"), filter=paid, output_field=money),
                                            ZERO, output_field=money),
                      v_refunded=Coalesce(Sum("refunded_amount", filter=settled), ZERO, output_field=money),
                      v_refund_orders=Count("pk", filter=settled & Q(refunded_amount__gt=0)),
                      v_first=Min("paid_at", filter=paid), v_last=Max("paid_at", filter=paid))
            .values_list("buyer_id", "v_paid_orders", "v_total_paid", "v_refunded", "v_refund_orders",
                         "v_first", "v_last"))


def buyer_value(row: tuple) -> BuyerValue:
    customer_id, paid_orders, total_paid, refunded, refund_orders, first, last = row
    return BuyerValue(customer_id=customer_id, paid_orders=paid_orders or 0,
                      total_paid=Decimal(total_paid or 0).quantize(CENT),
                      refunded=Decimal(refunded or 0).quantize(CENT), refund_orders=refund_orders or 0,
                      first_purchase_at=first, last_purchase_at=last)


# --- levels --------------------------------------------------------------------------------------

def level_rules(shop_id: int) -> list[LevelRule]:
    return list(LevelRule.objects.filter(shop_id=shop_id).order_by("level"))


def level_of(value: BuyerValue, rules: list[LevelRule]) -> int:
    """The highest level whose threshold VALUE reaches on the rule's basis; 0 when none."""
    reached = [rule.level for rule in rules if getattr(value, rule.basis) >= rule.threshold]
    return max(reached, default=0)


# --- writing the projection ----------------------------------------------------------------------

COLUMNS = ("customer_id", "shop_id", "paid_orders", "total_paid", "refunded", "refund_orders", "first_purchase_at",
           "last_purchase_at", "purchase_cycle_days", "level", "rfm_as_of", "recency_days", "r", "f", "m",
           "rfm_segment", "updated_at")


def value_row(shop_id: int, value: BuyerValue, level: int, now: dt.datetime, *, rfm_as_of: dt.date | None = None,
              recency_days: int | None = None, r: int | None = None, f: int | None = None, m: int | None = None,
              segment: str = "") -> tuple:
    """One CustomerValue row as a tuple in COLUMNS order (no model instance: a rebuild writes
    hundreds of thousands)."""
    return (value.customer_id, shop_id, value.paid_orders, value.total_paid, value.refunded, value.refund_orders,
            value.first_purchase_at, value.last_purchase_at, value.purchase_cycle_days, level, rfm_as_of,
            recency_days, r, f, m, segment, now)


def _adapters() -> list:
    ops, adapters = connection.ops, []
    for column in COLUMNS:
        kind = CustomerValue._meta.get_field(column.removesuffix("_id") if column.endswith("_id") else column)
        kind = kind.get_internal_type()
        adapters.append(ops.adapt_datetimefield_value if kind == "DateTimeField"
                        else ops.adapt_datefield_value if kind == "DateField"
                        else ops.adapt_decimalfield_value if kind == "DecimalField" else None)
    return adapters


def upsert(rows: list[tuple], fields: Iterable[str]) -> None:
    """Insert ROWS (value_row tuples) or overwrite FIELDS (and updated_at) of the existing ones:
    one INSERT … ON CONFLICT DO UPDATE executed for all rows (SQLite and PostgreSQL; the ORM's
    bulk upsert costs several times more in Python)."""
    if not rows:
        return
    table = CustomerValue._meta.db_table
    sql = (f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
           "ON CONFLICT (customer_id) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in (*fields, "updated_at")))
    adapters = _adapters()
    params = [tuple(v if v is None or fn is None else fn(v) for fn, v in zip(adapters, row, strict=True))
              for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def recompute_customers(shop_id: int, customer_ids: Iterable[int]) -> int:
    """Recompute the value of CUSTOMER_IDS (of SHOP_ID) from all their orders; a customer left
    without orders gets zeros. Idempotent. Returns the number of rows written."""
    wanted = set(customer_ids)
    if not wanted:
        return 0
    rules, now = level_rules(shop_id), timezone.now()
    rows = []
    for row in aggregates(shop_id, customer_ids=wanted):
        value = buyer_value(row)
        rows.append(value_row(shop_id, value, level_of(value, rules), now))
        wanted.discard(value.customer_id)
    for customer_id in wanted:  # their orders moved away (or went): nothing counts any more
        empty = BuyerValue(customer_id, 0, ZERO, ZERO, 0, None, None)
        rows.append(value_row(shop_id, empty, 0, now))
    upsert(rows, VALUE_FIELDS)
    return len(rows)


def on_orders(event: OrderCreated | OrderUpdated | OrderPaid | OrderClosed) -> None:
    """Durable listener "crm.customer_value": the buyers of the event's orders, recomputed."""
    buyers = set(Order.objects.filter(shop_id=event.shop_id, pk__in=event.order_ids, buyer_id__isnull=False)
                 .values_list("buyer_id", flat=True))
    recompute_customers(event.shop_id, buyers)


def iter_chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
