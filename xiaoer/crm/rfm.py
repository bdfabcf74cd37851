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

Both follow from *boundaries*: with t_k = ⌈(k−1)·n/5⌉ (k = 2…5), a buyer reaches score k when
b ≥ t_k, i.e. when its value is better than the value at position t_k − 1 of the buyers sorted
from worst to best. So a score is 1 + the number of the four boundaries a value beats, and the
means become integer cuts (`Thresholds`). Two ways to get them, one way to apply them:

- `compute_rfm(shop, as_of)` streams the per-buyer GROUP BY over orders (export, any date);
- `rebuild` / `refresh_rfm_snapshot` write the values into CustomerValue first, then read the
  boundaries from it with a few indexed queries and score every row with chunked UPDATEs.

Memory stays flat in the number of customers either way: what is kept are histograms of recency
days and order counts (sized by distinct days and counts) and four monetary values.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Case, Count, F, IntegerField, Max, Min, Q, Sum, Value, When
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
SCORE_CHUNK = 5000  # customer ids per scoring UPDATE


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


def recency_of(last_paid: dt.datetime, as_of: dt.date, zone: ZoneInfo) -> int:
    return (as_of - last_paid.astimezone(zone).date()).days


def boundary_positions(n: int) -> list[int]:
    """Positions (0-based, worst first) of the four quintile boundaries among N buyers."""
    return [-(-(k - 1) * n // 5) - 1 for k in range(2, 6)] if n else []


def _at_positions(histogram: Iterable[tuple], positions: list[int]) -> list:
    """The values at POSITIONS of the sorted expansion of HISTOGRAM ((value, count), worst first)."""
    found, seen, wanted = [], 0, sorted(positions)
    for value, count in histogram:
        seen += count
        while wanted and wanted[0] < seen:
            found.append(value)
            wanted.pop(0)
    return found


@dataclass(frozen=True)
class Thresholds:
    """What turns a buyer's (recency, F, M) into scores and a segment."""

    n: int
    r_bounds: list[int]        # R: 1 + number of bounds the recency is strictly below
    f_bounds: list[int]        # F: 1 + number of bounds the frequency is strictly above
    m_bounds: list[Decimal]    # M: the same for monetary
    r_high_max: int            # recency < mean ⇔ recency ≤ this
    f_high_min: int            # frequency > mean ⇔ frequency ≥ this
    m_high_above: Decimal      # monetary > mean ⇔ monetary > this (two decimals)

    @classmethod
    def build(cls, n: int, sum_recency: int, sum_f: int, sum_m: Decimal, recency: Counter, frequency: Counter,
              m_bounds: list[Decimal]) -> Thresholds:
        positions = boundary_positions(n)
        cents = int((sum_m * 100).to_integral_value())
        return cls(n=n,
                   r_bounds=_at_positions(sorted(recency.items(), reverse=True), positions),
                   f_bounds=_at_positions(sorted(frequency.items()), positions),
                   m_bounds=m_bounds,
                   r_high_max=-(-sum_recency // n) - 1 if n else 0,
                   f_high_min=sum_f // n + 1 if n else 0,
                   m_high_above=Decimal(cents // n) / 100 if n else Decimal(0))

    def score(self, recency: int, f: int, m: Decimal) -> tuple[int, int, int, str]:
        r_score = 1 + sum(1 for bound in self.r_bounds if recency < bound)
        f_score = 1 + sum(1 for bound in self.f_bounds if f > bound)
        m_score = 1 + sum(1 for bound in self.m_bounds if m > bound)
        high = (recency <= self.r_high_max, f >= self.f_high_min, m > self.m_high_above)
        return r_score, f_score, m_score, SEGMENTS[high]

    def updates(self) -> dict:
        """The same as `score`, as SQL expressions over CustomerValue's columns (NULL for a
        customer without a paid order)."""
        def points(conditions: list[Q]) -> Case:
            total = Value(1)
            for condition in conditions:
                total = total + Case(When(condition, then=Value(1)), default=Value(0))
            # No paid order — or no recency: a row the listener wrote during the rebuild (decision
            # 133) waits for the next one.
            unscored = Q(paid_orders=0) | Q(recency_days__isnull=True)
            return Case(When(unscored, then=Value(None)), default=total, output_field=IntegerField())

        whens = []
        for (r_high, f_high, m_high), name in SEGMENTS.items():
            q = Q(recency_days__lte=self.r_high_max) if r_high else Q(recency_days__gt=self.r_high_max)
            q &= Q(paid_orders__gte=self.f_high_min) if f_high else Q(paid_orders__lt=self.f_high_min)
            q &= Q(total_paid__gt=self.m_high_above) if m_high else Q(total_paid__lte=self.m_high_above)
            whens.append(When(q & Q(paid_orders__gt=0), then=Value(name)))
        segment = Case(*whens, default=Value(""))
        return {"r": points([Q(recency_days__lt=b) for b in self.r_bounds]),
                "f": points([Q(paid_orders__gt=b) for b in self.f_bounds]),
                "m": points([Q(total_paid__gt=b) for b in self.m_bounds]),
                "rfm_segment": segment}


# --- streamed: any date, nothing stored (the export) ---------------------------------------------

def _thresholds_from_orders(shop_id: int, until: dt.datetime, as_of: dt.date, zone: ZoneInfo) -> Thresholds:
    """Count the paid buyers (in the database), then read them once in ascending monetary order."""
    n = values.count_paid_buyers(shop_id, until)
    positions = boundary_positions(n)
    m_bounds: list[Decimal] = []
    recency: Counter[int] = Counter()
    frequency: Counter[int] = Counter()
    count, sum_recency, sum_f, sum_m = 0, 0, 0, Decimal(0)
    rows = values.aggregates(shop_id, until=until, paid_only=True, order="monetary", chunk=STREAM_CHUNK)
    for index, value in enumerate(rows):
        f, m, last = value.paid_orders, value.total_paid, value.last_purchase_at
        m_bounds.extend(m for position in positions if position == index)
        days = recency_of(last, as_of, zone)
        count, sum_recency, sum_f, sum_m = count + 1, sum_recency + days, sum_f + f, sum_m + m
        recency[days] += 1
        frequency[f] += 1
    return Thresholds.build(count, sum_recency, sum_f, sum_m, recency, frequency, m_bounds)


def compute_rfm(shop: Shop, as_of: dt.date) -> Iterator[Scored]:
    """Every buyer of SHOP with at least one order, in customer id order, valued and scored as of
    AS_OF (payments on or before that calendar day in the shop's time zone). Streams."""
    zone = shop_zone(shop)
    until = end_of(as_of, zone)
    thresholds = _thresholds_from_orders(shop.pk, until, as_of, zone)
    rules = values.level_rules(shop.pk)
    for value in values.aggregates(shop.pk, until=until, chunk=STREAM_CHUNK):
        level = values.level_of(value, rules)
        if not value.paid_orders or value.last_purchase_at is None:
            yield Scored(value=value, level=level)
            continue
        days = recency_of(value.last_purchase_at, as_of, zone)
        r, f, m, segment = thresholds.score(days, value.paid_orders, value.total_paid)
        yield Scored(value=value, level=level, recency_days=days, r=r, f=f, m=m, segment=segment)


# --- stored: the snapshot in CustomerValue --------------------------------------------------------

def _write_values(shop: Shop, as_of: dt.date, progress: Callable[[int], None] | None) -> tuple[dt.datetime, int]:
    """Every buyer's value as of AS_OF and its recency, one transaction per chunk (the embedded
    database has one writer: a rebuild must not hold it for its whole run, decision 133)."""
    zone = shop_zone(shop)
    until = end_of(as_of, zone)
    rules = values.level_rules(shop.pk)
    started, count = timezone.now(), 0
    rows = values.aggregates(shop.pk, until=until, chunk=STREAM_CHUNK)
    for chunk in values.iter_chunks(rows, values.WRITE_CHUNK):
        now = timezone.now()
        written = []
        for value in chunk:
            recency = (recency_of(value.last_purchase_at, as_of, zone)
                       if value.paid_orders and value.last_purchase_at is not None else None)
            written.append(values.value_row(shop.pk, value, values.level_of(value, rules), now, rfm_as_of=as_of,
                                            recency_days=recency))
        with transaction.atomic():
            values.upsert(written, (*values.VALUE_FIELDS, "rfm_as_of", "recency_days"), unless_updated_since=started)
        count += len(chunk)
        if progress:
            progress(len(chunk))
    return started, count


def _thresholds_from_snapshot(shop: Shop) -> Thresholds:
    paid = CustomerValue.objects.filter(shop=shop, paid_orders__gt=0, recency_days__isnull=False)
    totals = paid.aggregate(n=Count("pk"), r=Sum("recency_days"), f=Sum("paid_orders"), m=Sum("total_paid"))
    n = totals["n"] or 0
    recency = Counter(dict(paid.values_list("recency_days").annotate(c=Count("pk")).order_by()))
    frequency = Counter(dict(paid.values_list("paid_orders").annotate(c=Count("pk")).order_by()))
    by_money = paid.order_by("total_paid").values_list("total_paid", flat=True)
    m_bounds = [Decimal(by_money[position]).quantize(values.CENT) for position in boundary_positions(n)]
    return Thresholds.build(n, totals["r"] or 0, totals["f"] or 0, Decimal(totals["m"] or 0).quantize(values.CENT),
                            recency, frequency, m_bounds)


def _score_snapshot(shop: Shop) -> None:
    """Score every row of SHOP with one UPDATE per SCORE_CHUNK customer ids."""
    thresholds = _thresholds_from_snapshot(shop)
    span = CustomerValue.objects.filter(shop=shop).aggregate(low=Min("customer_id"), high=Max("customer_id"))
    if span["low"] is None:
        return
    updates = thresholds.updates()
    # The shop as "shop_id + 0": not a column an index can serve, so SQLite walks the primary-key
    # range instead of every row of the shop's index for each chunk.
    rows = CustomerValue.objects.alias(in_shop=F("shop_id") + 0).filter(in_shop=shop.pk)
    for start in range(span["low"], span["high"] + 1, SCORE_CHUNK):
        with transaction.atomic():
            rows.filter(customer_id__gte=start, customer_id__lt=start + SCORE_CHUNK).update(**updates)


def _clear_stale(shop: Shop, as_of: dt.date, started: dt.datetime) -> None:
    """Rows of customers left without orders (moved to another buyer, merged): zeros."""
    with transaction.atomic():
        CustomerValue.objects.filter(shop=shop, updated_at__lt=started).update(
            paid_orders=0, total_paid=0, refunded=0, refund_orders=0, first_purchase_at=None, last_purchase_at=None,
            purchase_cycle_days=None, level=0, rfm_as_of=as_of, recency_days=None, r=None, f=None, m=None,
            rfm_segment="", updated_at=timezone.now())


def rebuild(shop: Shop, as_of: dt.date | None = None, *, progress: Callable[[int], None] | None = None) -> int:
    """Full rebuild of SHOP: every buyer's value, level and RFM as of AS_OF (default the shop's
    today, when the value as of today is all payments). Returns the number of buyers."""
    as_of = as_of or today(shop)
    started, written = _write_values(shop, as_of, progress)
    _clear_stale(shop, as_of, started)
    _score_snapshot(shop)
    return written


def refresh_rfm_snapshot(shop: Shop, as_of: dt.date | None = None, *,
                         progress: Callable[[int], None] | None = None) -> int:
    """Write recency, R, F, M and the segment as of AS_OF (default: the shop's today) into every
    customer's CustomerValue. As of today this is the rebuild; as of another date the value
    columns stay what the listener keeps (all payments) and only the RFM columns are written."""
    as_of = as_of or today(shop)
    if as_of == today(shop):
        return rebuild(shop, as_of, progress=progress)
    started, written = timezone.now(), 0
    for chunk in values.iter_chunks(compute_rfm(shop, as_of), values.WRITE_CHUNK):
        now = timezone.now()
        rows = []
        for scored in chunk:
            rows.append(values.value_row(shop.pk, scored.value, scored.level, now, rfm_as_of=as_of,
                                         recency_days=scored.recency_days, r=scored.r, f=scored.f, m=scored.m,
                                         segment=scored.segment))
        with transaction.atomic():
            values.upsert(rows, RFM_FIELDS)
        written += len(chunk)
        if progress:
            progress(len(chunk))
    with transaction.atomic():
        CustomerValue.objects.filter(shop=shop, updated_at__lt=started).update(
            rfm_as_of=as_of, recency_days=None, r=None, f=None, m=None, rfm_segment="", updated_at=timezone.now())
    return written


def count_buyers(shop: Shop) -> int:
    """For a progress bar: customers with at least one order."""
    from xiaoer.orders.models import Order

    return Order.objects.filter(shop=shop, buyer_id__isnull=False).values("buyer_id").distinct().count()
