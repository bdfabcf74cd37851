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


# One row per order: p = counts as paid, s = paid at some time (its refund counts), net and ref in
# cents (integer sums are exact on both databases). UNTIL, when given, bounds the payment time.
_PER_ORDER = """
SELECT o.buyer_id AS buyer_id, o.paid_at AS paid_at,
       CASE WHEN {settled} AND NOT (o.refunded_amount > 0 AND o.refunded_amount >= {amount}) THEN 1 ELSE 0 END AS p,
       CASE WHEN {settled} THEN 1 ELSE 0 END AS s,
       CAST(ROUND(({amount} - o.refunded_amount) * 100) AS BIGINT) AS net,
       CAST(ROUND(o.refunded_amount * 100) AS BIGINT) AS ref
FROM orders_order o {join} WHERE {scope}"""
_PER_BUYER = """
SELECT buyer_id, SUM(p), SUM(p * net), SUM(s * ref), SUM(CASE WHEN s = 1 AND ref > 0 THEN 1 ELSE 0 END),
       MIN(CASE WHEN p = 1 THEN paid_at END), MAX(CASE WHEN p = 1 THEN paid_at END)
FROM ({per_order}) t GROUP BY buyer_id {having} {order}"""
# What the amount of an order is: what the buyer paid, or its total when the source gave no paid
# amount (docs/decisions/131).
_AMOUNT = "(CASE WHEN o.paid_amount > 0 THEN o.paid_amount ELSE o.total_amount END)"
ORDERS = {"buyer": "ORDER BY buyer_id", "monetary": "ORDER BY 3, buyer_id", "none": ""}


def _sql(shop_id: int, *, until: dt.datetime | None, customer_ids: list[int] | None, paid_only: bool,
         order: str) -> tuple[str, list]:
    """The per-buyer aggregate as hand-written SQL: compiled by the ORM it cost 5 ms a call, more
    than the query itself, on the listener's hot path (one event, one buyer)."""
    params: list = []
    settled = "o.paid_at IS NOT NULL"
    if until is not None:
        settled = "(o.paid_at IS NOT NULL AND o.paid_at < %s)"
        params = [connection.ops.adapt_datetimefield_value(until)] * 2
    if customer_ids is None:
        join, scope = "", "o.shop_id = %s AND o.buyer_id IS NOT NULL"
        params.append(shop_id)
    else:
        # Scoped through the buyer (a customer belongs to one shop): an order's own shop_id would
        # lead SQLite to the shop index, a scan of the shop's every order for a few buyers.
        join = "JOIN customers_customer c ON c.id = o.buyer_id"
        scope = f"o.buyer_id IN ({', '.join(['%s'] * len(customer_ids))}) AND c.shop_id = %s"
        params.extend([*customer_ids, shop_id])
    per_order = _PER_ORDER.format(settled=settled, amount=_AMOUNT, join=join, scope=scope)
    having = "HAVING SUM(p) > 0" if paid_only else ""
    return _PER_BUYER.format(per_order=per_order, having=having, order=ORDERS[order]), params


def _moment(value) -> dt.datetime | None:
    """A payment time as the database returns it from MIN/MAX (SQLite: text in UTC)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _cents(value) -> Decimal:
    return (Decimal(int(value or 0)) / 100).quantize(CENT)


def buyer_value(row: tuple) -> BuyerValue:
    customer_id, paid_orders, net, refunded, refund_orders, first, last = row
    return BuyerValue(customer_id=customer_id, paid_orders=int(paid_orders or 0), total_paid=_cents(net),
                      refunded=_cents(refunded), refund_orders=int(refund_orders or 0),
                      first_purchase_at=_moment(first), last_purchase_at=_moment(last))


def aggregates(shop_id: int, *, until: dt.datetime | None = None, customer_ids: Iterable[int] | None = None,
               paid_only: bool = False, order: str = "buyer", chunk: int = 5000) -> Iterator[BuyerValue]:
    """One BuyerValue per buyer of SHOP_ID with at least one order (UNTIL: only payments before it
    count; PAID_ONLY: buyers with a paid order), streamed in ORDER ("buyer" id, "monetary")."""
    ids = sorted(set(customer_ids)) if customer_ids is not None else None
    if ids is not None and not ids:
        return
    sql, params = _sql(shop_id, until=until, customer_ids=ids, paid_only=paid_only, order=order)
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk):
            for row in rows:
                yield buyer_value(row)


def count_paid_buyers(shop_id: int, until: dt.datetime | None) -> int:
    sql, params = _sql(shop_id, until=until, customer_ids=None, paid_only=True, order="none")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) counted", params)
        return int(cursor.fetchone()[0])


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


def _sqlite_moment(value: dt.datetime) -> str:
    """What Django stores for an aware datetime on SQLite (UTC, naive, str()), without its checks:
    a rebuild adapts three per customer."""
    return str(value.astimezone(dt.UTC).replace(tzinfo=None))


def _adapters() -> list:
    ops, adapters = connection.ops, []
    moment = _sqlite_moment if connection.vendor == "sqlite" else ops.adapt_datetimefield_value
    for column in COLUMNS:
        kind = CustomerValue._meta.get_field(column.removesuffix("_id") if column.endswith("_id") else column)
        kind = kind.get_internal_type()
        adapters.append(moment if kind == "DateTimeField"
                        else ops.adapt_datefield_value if kind == "DateField"
                        else ops.adapt_decimalfield_value if kind == "DecimalField" else None)
    return adapters


def upsert(rows: list[tuple], fields: Iterable[str], *, unless_updated_since: dt.datetime | None = None) -> None:
    """Insert ROWS (value_row tuples) or overwrite FIELDS (and updated_at) of the existing ones:
    one INSERT … ON CONFLICT DO UPDATE executed for all rows (SQLite and PostgreSQL; the ORM's
    bulk upsert costs several times more in Python). UNLESS_UPDATED_SINCE: leave rows written
    after that moment alone (a rebuild must not overwrite what the listener wrote meanwhile from
    newer orders)."""
    if not rows:
        return
    table = CustomerValue._meta.db_table
    sql = (f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
           "ON CONFLICT (customer_id) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in (*fields, "updated_at")))
    extra: tuple = ()
    if unless_updated_since is not None:
        sql += f" WHERE {table}.updated_at < %s"
        extra = (connection.ops.adapt_datetimefield_value(unless_updated_since),)
    adapters = _adapters()
    params = [tuple(v if v is None or fn is None else fn(v) for fn, v in zip(adapters, row, strict=True)) + extra
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
    for value in aggregates(shop_id, customer_ids=wanted):
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


def on_customers_merged(event) -> None:
    """Durable listener "crm.value_after_merge": the kept customer now owns the merged one's
    orders (crm.events.CustomersMerged); the merged one's row went with the merge."""
    recompute_customers(event.shop_id, [event.kept_id])


def iter_chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
