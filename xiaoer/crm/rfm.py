"""RFM as of a date, and the daily snapshot in CustomerValue (docs/customers.md "RFM").

Definitions (the issue's, word for word in docs/customers.md):
- an order counts as paid when it was paid on or before the as-of date (the calendar date in the
  shop's time zone) and is not fully refunded; total paid = the sum of paid minus refunded;
- recency = as-of date − calendar date (shop time zone) of the last paid order's payment, in
  days; frequency = paid orders; monetary = total paid;
- scores 1–5 by quintiles over the shop's buyers with at least one paid order, recency reversed.
  Ties: score = 1 + ⌊5·b / n⌋ where n is the number of those buyers and b the number of them with
  a strictly worse value (a larger recency; a smaller frequency or monetary). Equal values always
  get the same score, the one of their lowest position (docs/decisions/132-rfm-ties-and-means.md);
- segments compare R, F, M with their means over the same buyers: R is high when recency is
  below the mean, F and M when above it (equal to the mean is low).

Memory stays flat in the number of customers: two streamed passes over the per-buyer aggregate
(one GROUP BY in the database). The first, ordered by monetary, counts n, sums the three values,
keeps the four monetary quintile boundaries and histograms of recency days and frequencies (their
sizes are the number of distinct days and order counts, not of customers). The second, ordered by
customer, scores each buyer.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from xiaoer.accounts.models import Shop
from xiaoer.crm import value as values
from xiaoer.crm.models import CustomerValue
from xiaoer.crm.value import BuyerValue

SEGMENTS = {  # (R high, F high, M high) → segment
    (True, True, True): "重要价值", (True, False, True): "重要发展",
    (False, True, True): "重要保持", (False, False, True): "重要挽留",
    (True, True, False): "一般价值", (True, False, False): "一般发展",
    (False, True, False): "一般保持", (False, False, False): "一般挽留",
}
RFM_FIELDS = ("rfm_as_of", "recency_days", "r", "f", "m", "rfm_segment")
STREAM_CHUNK = 5000


@dataclass(frozen=True)
class Scored:
    """A buyer's value as of the date, with RFM when they have a paid order (else None / "")."""

    value: BuyerValue
    level: int
    recency_days: int | None = None
    r: int | None = None
    f: int | None = None
    m: int | None = None
    segment: str = ""


def shop_zone(shop: Shop) -> ZoneInfo:
    return ZoneInfo(shop.timezone or "Asia/Shanghai")


def today(shop: Shop) -> dt.date:
    return timezone.now().astimezone(shop_zone(shop)).date()


def end_of(as_of: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The first instant after AS_OF in ZONE: paid "on or before AS_OF" is paid_at < this."""
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=zone)


def _score(worse: int, n: int) -> int:
    return 1 + (5 * worse) // n


class _Distribution:
    """Pass one: what scoring and the segments need, flat in the number of buyers."""

    def __init__(self, as_of: dt.date, zone: ZoneInfo) -> None:
        self.as_of, self.zone = as_of, zone
        self.n = 0
        self.sum_recency, self.sum_f, self.sum_m = 0, 0, Decimal(0)
        self.recency: Counter[int] = Counter()
        self.frequency: Counter[int] = Counter()
        self.m_boundaries: list[Decimal] = []

    def recency_of(self, last_paid: dt.datetime) -> int:
        return (self.as_of - last_paid.astimezone(self.zone).date()).days

    def scan(self, shop_id: int, until: dt.datetime) -> None:
        """Count the buyers first (in the database), then read them in ascending monetary order:
        the monetary quintile boundaries are the values at positions t_k − 1, t_k = ⌈(k−1)·n/5⌉,
        k = 2…5, and a buyer scores 1 + the number of boundaries its value exceeds."""
        paid_buyers = values.aggregates(shop_id, until=until).filter(v_paid_orders__gt=0)
        n = paid_buyers.count()
        positions: dict[int, list[int]] = {}
        for k in range(2, 6):
            if n:
                positions.setdefault(-(-(k - 1) * n // 5) - 1, []).append(k)
        boundaries: dict[int, Decimal] = {}
        rows = paid_buyers.order_by("v_total_paid").values_list("v_paid_orders", "v_total_paid", "v_last")
        for index, (f, m, last) in enumerate(rows.iterator(chunk_size=STREAM_CHUNK)):
            m = Decimal(m).quantize(values.CENT)
            for k in positions.get(index, ()):
                boundaries[k] = m
            recency = self.recency_of(last)
            self.n += 1
            self.sum_recency += recency
            self.sum_f += f
            self.sum_m += m
            self.recency[recency] += 1
            self.frequency[f] += 1
        self.m_boundaries = [boundaries[k] for k in sorted(boundaries)]
        self._prepare_scores()

    def _prepare_scores(self) -> None:
        """Per distinct value, the number of buyers strictly worse."""
        self.r_worse: dict[int, int] = {}
        worse = 0
        for days in sorted(self.recency, reverse=True):  # larger recency is worse
            self.r_worse[days] = worse
            worse += self.recency[days]
        self.f_worse: dict[int, int] = {}
        worse = 0
        for f in sorted(self.frequency):
            self.f_worse[f] = worse
            worse += self.frequency[f]

    def score(self, value: BuyerValue, level: int) -> Scored:
        if not value.paid_orders or value.last_purchase_at is None:
            return Scored(value=value, level=level)
        recency = self.recency_of(value.last_purchase_at)
        r = _score(self.r_worse[recency], self.n)
        f = _score(self.f_worse[value.paid_orders], self.n)
        m = 1 + sum(1 for boundary in self.m_boundaries if value.total_paid > boundary)
        # Against the means, without division: x < Σ/n  ⇔  x·n < Σ.
        high = (recency * self.n < self.sum_recency, value.paid_orders * self.n > self.sum_f,
                value.total_paid * self.n > self.sum_m)
        return Scored(value=value, level=level, recency_days=recency, r=r, f=f, m=m, segment=SEGMENTS[high])


def compute_rfm(shop: Shop, as_of: dt.date) -> Iterator[Scored]:
    """Every buyer of SHOP with at least one order, in customer id order, valued and scored as of
    AS_OF (payments on or before that calendar day in the shop's time zone). Streams."""
    zone = shop_zone(shop)
    until = end_of(as_of, zone)
    distribution = _Distribution(as_of, zone)
    distribution.scan(shop.pk, until)
    rules = values.level_rules(shop.pk)
    rows = values.aggregates(shop.pk, until=until).order_by("buyer_id")
    for row in rows.iterator(chunk_size=STREAM_CHUNK):
        value = values.buyer_value(row)
        yield distribution.score(value, values.level_of(value, rules))


def _row(shop: Shop, scored: Scored, as_of: dt.date, now: dt.datetime) -> CustomerValue:
    row = values.value_row(shop.pk, scored.value, scored.level, now)
    row.rfm_as_of, row.recency_days, row.rfm_segment = as_of, scored.recency_days, scored.segment
    row.r, row.f, row.m = scored.r, scored.f, scored.m
    return row


def _write(shop: Shop, as_of: dt.date, fields: tuple[str, ...],
           progress: Callable[[int], None] | None) -> int:
    """Stream COMPUTE_RFM into CustomerValue, one transaction per chunk (the embedded database
    has one writer: a rebuild must not hold it for its whole run, docs/decisions/133), then clear
    what no longer has orders. Returns the number of customers written."""
    started, written = timezone.now(), 0
    for chunk in values.iter_chunks(compute_rfm(shop, as_of), values.WRITE_CHUNK):
        now = timezone.now()
        with transaction.atomic():
            values.upsert([_row(shop, scored, as_of, now) for scored in chunk], fields)
        written += len(chunk)
        if progress:
            progress(len(chunk))
    stale = {"rfm_as_of": as_of, "recency_days": None, "r": None, "f": None, "m": None, "rfm_segment": ""}
    if "paid_orders" in fields:
        stale.update(paid_orders=0, total_paid=0, refunded=0, refund_orders=0, first_purchase_at=None,
                     last_purchase_at=None, purchase_cycle_days=None, level=0)
    with transaction.atomic():
        CustomerValue.objects.filter(shop=shop, updated_at__lt=started).update(**stale, updated_at=timezone.now())
    return written


def refresh_rfm_snapshot(shop: Shop, as_of: dt.date | None = None, *,
                         progress: Callable[[int], None] | None = None) -> int:
    """Write recency, R, F, M and the segment as of AS_OF (default: the shop's today) into every
    customer's CustomerValue; the value columns stay as the listener keeps them."""
    return _write(shop, as_of or today(shop), RFM_FIELDS, progress)


def rebuild(shop: Shop, *, progress: Callable[[int], None] | None = None) -> int:
    """Full rebuild of SHOP: value, level and the RFM snapshot as of today, for every buyer."""
    return _write(shop, today(shop), (*values.VALUE_FIELDS, *RFM_FIELDS), progress)


def count_buyers(shop: Shop) -> int:
    """For a progress bar: customers with at least one order."""
    from xiaoer.orders.models import Order

    return Order.objects.filter(shop=shop, buyer_id__isnull=False).values("buyer_id").distinct().count()
