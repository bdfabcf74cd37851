"""Facts of one buyer from their messages and orders, and daily rollups from facts.

The listener and ``xiaoer kpi rebuild`` run the same functions (decision 155): the listener from
the first day a change can affect, the rebuild from the beginning. Definitions: docs/kpis.md.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from xiaoer.accounts.models import Shop
from xiaoer.chat.models import Conversation, Message
from xiaoer.knowledge.models import Product, Sku
from xiaoer.kpi.models import ActivityFact, DailyRollup, InquiryFact, OrderFact, TurnFact
from xiaoer.orders.models import Order, OrderItem, RemindState

ANSWER_WITHIN_S = 180
PRODUCT_KEYS = ("product_code", "product", "product_id", "item_id", "code")
GREETING = "sys:greet:"
_MSG_FIELDS = ("id", "conversation_id", "seq", "created_at", "sender_kind", "internal", "client_id", "seat_id",
               "staff_id", "payload")
ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Msg:
    id: int
    conversation_id: int
    seq: int
    created_at: dt.datetime
    sender_kind: str
    internal: bool
    client_id: str
    seat_id: int | None
    staff_id: int | None
    payload: dict

    @property
    def is_shopper(self) -> bool:
        return self.sender_kind == "shopper" and not self.internal

    @property
    def is_person(self) -> bool:
        return self.sender_kind == "agent" and not self.internal and not self.client_id.startswith(GREETING)

    @property
    def breaks_run(self) -> bool:
        """Visible to the shopper and not theirs: a person, the robot, a seat's greeting."""
        return self.sender_kind in ("agent", "robot") and not self.internal


def service_hours() -> tuple[dt.time, dt.time] | None:
    """KPI_SERVICE_HOURS "HH:MM-HH:MM" (decision 158); None: the whole day."""
    raw = str(getattr(settings, "KPI_SERVICE_HOURS", "") or "").strip()
    if not raw:
        return None
    start, end = (dt.time.fromisoformat(part.strip()) for part in raw.split("-", 1))
    return None if start == end else (start, end)


class ShopContext:
    """What the computation needs of one shop: time zone, service hours, its products."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.tz = ZoneInfo(shop.timezone or settings.TIME_ZONE)
        self.hours = service_hours()

    def day(self, at: dt.datetime) -> dt.date:
        return at.astimezone(self.tz).date()

    def start_of(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), tzinfo=self.tz).astimezone(dt.UTC)

    def measured_from(self, start: dt.datetime) -> dt.datetime:
        """The turn's start, or the next service-hours start when it began outside them."""
        if self.hours is None:
            return start
        open_at, close_at = self.hours
        local = start.astimezone(self.tz)
        t = local.time()
        inside = open_at <= t < close_at if open_at < close_at else (t >= open_at or t < close_at)
        if inside:
            return start
        nxt = dt.datetime.combine(local.date(), open_at, tzinfo=self.tz)
        if nxt <= local:
            nxt = dt.datetime.combine(local.date() + dt.timedelta(days=1), open_at, tzinfo=self.tz)
        return nxt.astimezone(dt.UTC)

    @cached_property
    def products(self) -> tuple[dict[str, int], dict[int, tuple[set[str], str]]]:
        """(reference → product id, product id → (codes matching an order item's SKU, title))."""
        refs: dict[str, int] = {}
        keys: dict[int, tuple[set[str], str]] = {}
        for pk, code, title in Product.objects.filter(shop=self.shop).values_list("id", "code", "title"):
            refs[code] = pk
            refs.setdefault(str(pk), pk)
            keys[pk] = ({code}, title)
        for product_id, code in Sku.objects.filter(product__shop=self.shop).values_list("product_id", "code"):
            if product_id in keys:
                keys[product_id][0].add(code)
        return refs, keys

    def product_ids(self, payload: dict) -> set[int]:
        refs = self.products[0]
        found = set()
        for key in PRODUCT_KEYS:
            value = payload.get(key) if isinstance(payload, dict) else None
            if value not in (None, "") and str(value)[:64] in refs:
                found.add(refs[str(value)[:64]])
        return found


# --- stage 1: turns, activity and inquiries from messages -----------------------------------------

@dataclass
class Turn:
    conversation_id: int
    started_at: dt.datetime
    fallback_seat: int | None
    shopper_messages: int = 1
    answered_at: dt.datetime | None = None
    seat_id: int | None = None
    staff_id: int | None = None


@dataclass
class BuyerDays:
    """Stage-1 facts of one buyer from a day on (unsaved)."""

    turns: list[TurnFact] = field(default_factory=list)
    activity: list[ActivityFact] = field(default_factory=list)
    inquiries: list[InquiryFact] = field(default_factory=list)


def load_messages(conversation_ids: Iterable[int], since: dt.datetime | None) -> list[Msg]:
    qs = Message.objects.filter(conversation_id__in=list(conversation_ids))
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return [Msg(*row) for row in qs.order_by("created_at", "seq").values_list(*_MSG_FIELDS)]


def _context_before(conversation_ids: Iterable[int], since: dt.datetime) -> dict[int, tuple[bool, int | None]]:
    """Conversation → (a shopper run is open at SINCE, seat of the last person/robot message before)."""
    out: dict[int, tuple[bool, int | None]] = {}
    for conv_id in conversation_ids:
        before = Message.objects.filter(conversation_id=conv_id, created_at__lt=since, internal=False)
        last = (before.filter(sender_kind__in=("shopper", "agent", "robot")).order_by("-created_at", "-seq")
                .values_list("sender_kind", flat=True).first())
        seat = (before.filter(sender_kind__in=("agent", "robot")).order_by("-created_at", "-seq")
                .values_list("seat_id", flat=True).first())
        out[conv_id] = (last == "shopper", seat)
    return out


def _turns(msgs: list[Msg], continuing: bool, seat_before: int | None,
           activity: dict[tuple, list[int]], ctx: ShopContext) -> list[Turn]:
    """The turns of one conversation's messages (time order). A run open before the window
    (CONTINUING) belongs to an earlier day's facts: it is not returned."""
    turns: list[Turn] = []
    pending: list[Turn] = []
    run: Turn | None = None
    skipping = continuing
    last_seat = seat_before
    for m in msgs:
        if m.is_shopper:
            if run is not None:
                run.shopper_messages += 1
            elif not skipping:
                run = Turn(m.conversation_id, m.created_at, last_seat)
                turns.append(run)
                pending.append(run)
            continue
        if m.sender_kind == "system" and isinstance(m.payload, dict) and m.payload.get("event") == "transfer":
            day = ctx.day(m.created_at)
            if m.payload.get("from_seat"):
                activity[(day, m.payload["from_seat"], m.staff_id)][3] += 1
            if m.payload.get("to_seat"):
                activity[(day, m.payload["to_seat"], None)][2] += 1
        if not m.breaks_run:
            continue
        skipping, run, last_seat = False, None, m.seat_id
        if m.is_person:
            slot = activity[(ctx.day(m.created_at), m.seat_id, m.staff_id)]
            slot[0] += 1
            slot[1] |= 1
            for turn in pending:
                turn.answered_at, turn.seat_id, turn.staff_id = m.created_at, m.seat_id, m.staff_id
            pending = []
    return turns


def buyer_days(ctx: ShopContext, customer_id: int, msgs: list[Msg],
               context: dict[int, tuple[bool, int | None]]) -> BuyerDays:
    """Stage-1 facts of a buyer from MSGS (all their messages from the start of a day on)."""
    by_conv: dict[int, list[Msg]] = defaultdict(list)
    for m in msgs:
        by_conv[m.conversation_id].append(m)
    activity: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    turns: list[Turn] = []
    for conv_id, conv_msgs in by_conv.items():
        continuing, seat_before = context.get(conv_id, (False, None))
        turns += _turns(conv_msgs, continuing, seat_before, activity, ctx)
    out = BuyerDays()
    shop = ctx.shop
    firsts: dict[dt.date, Turn] = {}
    for turn in sorted(turns, key=lambda t: (t.started_at, t.conversation_id)):
        day = ctx.day(turn.started_at)
        response = None
        if turn.answered_at is not None:
            response = max(0, int((turn.answered_at - ctx.measured_from(turn.started_at)).total_seconds()))
            firsts.setdefault(day, turn)
        seat = turn.seat_id if turn.answered_at is not None else turn.fallback_seat
        out.turns.append(TurnFact(shop=shop, customer_id=customer_id, conversation_id=turn.conversation_id, day=day,
                                  started_at=turn.started_at, answered_at=turn.answered_at, seat_id=seat,
                                  staff_id=turn.staff_id, response_s=response,
                                  shopper_messages=turn.shopper_messages, first_of_day=firsts.get(day) is turn))
    for (day, seat, staff), (sent, served, t_in, t_out) in sorted(activity.items(), key=lambda kv: str(kv[0])):
        out.activity.append(ActivityFact(shop=shop, customer_id=customer_id, day=day, seat_id=seat, staff_id=staff,
                                         person_messages=sent, conversations=served, transfers_in=t_in,
                                         transfers_out=t_out))
    first_shopper: dict[dt.date, dt.datetime] = {}
    products: dict[dt.date, set[int]] = defaultdict(set)
    for m in msgs:
        day = ctx.day(m.created_at)
        if m.is_shopper:
            first_shopper.setdefault(day, m.created_at)
        if not m.internal and m.payload:
            products[day] |= ctx.product_ids(m.payload)
    for day, turn in sorted(firsts.items()):
        out.inquiries.append(InquiryFact(
            shop=shop, customer_id=customer_id, day=day, seat_id=turn.seat_id, staff_id=turn.staff_id,
            first_shopper_at=min(first_shopper.get(day, turn.started_at), turn.started_at),
            window_end=ctx.start_of(day + dt.timedelta(days=2)), products=sorted(products[day])))
    return out


# --- stage 2: orders against inquiries ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    customer_id: int | None
    created_at: dt.datetime
    paid_at: dt.datetime | None
    paid_amount: Decimal
    total_amount: Decimal
    remind_state: str
    reminded_at: dt.datetime | None


_ORDER_FIELDS = ("id", "buyer_id", "created_at", "paid_at", "paid_amount", "total_amount", "remind_state",
                 "reminded_at")


def load_orders(qs) -> list[OrderRow]:
    return [OrderRow(*row) for row in qs.order_by("created_at", "id").values_list(*_ORDER_FIELDS)]


def _items(order_ids: list[int]) -> dict[int, list[tuple[str, str, int, Decimal | None]]]:
    out: dict[int, list] = defaultdict(list)
    for order_id, title, sku, qty, price in (OrderItem.objects.filter(order_id__in=order_ids).order_by("id")
                                             .values_list("order_id", "title", "sku", "quantity", "unit_price")):
        out[order_id].append((title, sku, qty, price))
    return out


def _split(ctx: ShopContext, amount: Decimal, items: list, product_ids: list[int]) -> tuple[Decimal, int, int]:
    """(main amount, main quantity, related quantity) of a paid order (decision 159)."""
    keys = ctx.products[1]
    codes: set[str] = set()
    titles: set[str] = set()
    for pk in product_ids:
        if pk in keys:
            codes |= keys[pk][0]
            titles.add(keys[pk][1])
    priced = sum((price * qty for _t, _s, qty, price in items if price is not None), ZERO)
    unpriced = [i for i in items if i[3] is None]
    share = max(ZERO, amount - priced) / len(unpriced) if unpriced else ZERO
    main, main_qty, related_qty = ZERO, 0, 0
    for title, sku, qty, price in items:
        if (sku and sku in codes) or title in titles:
            main += price * qty if price is not None else share
            main_qty += qty
        else:
            related_qty += qty
    return min(amount, main).quantize(Decimal("0.01")), main_qty, related_qty


def order_facts(ctx: ShopContext, orders: list[OrderRow], inquiries: list[InquiryFact],
                attribute_from: dt.datetime | None, items: dict[int, list] | None = None) -> list[OrderFact]:
    """Set ordered/paid on INQUIRIES from ORDERS; OrderFacts of the orders created at or after
    ATTRIBUTE_FROM (None: all) — each to the latest inquiry whose window holds its creation."""
    for inq in inquiries:
        inside = [o for o in orders if inq.first_shopper_at <= o.created_at < inq.window_end]
        inq.ordered = bool(inside)
        inq.paid = any(o.paid_at is not None and o.paid_at < inq.window_end for o in inside)
    wanted = [o for o in orders if attribute_from is None or o.created_at >= attribute_from]
    if items is None:
        items = _items([o.id for o in wanted])
    facts = []
    for o in wanted:
        holders = [i for i in inquiries if i.first_shopper_at <= o.created_at < i.window_end]
        inq = max(holders, key=lambda i: i.day) if holders else None
        paid = o.paid_at is not None
        amount = (o.paid_amount or o.total_amount) if paid else ZERO
        fact = OrderFact(shop=ctx.shop, order_id=o.id, customer_id=o.customer_id, day=ctx.day(o.created_at),
                         inquiry_day=inq.day if inq else None, seat_id=inq.seat_id if inq else None,
                         staff_id=inq.staff_id if inq else None, paid=paid, amount=amount)
        if inq is not None and paid:
            main, fact.main_quantity, fact.related_quantity = _split(ctx, amount, items.get(o.id, []), inq.products)
            fact.main_amount, fact.related_amount = main, amount - main
        if o.remind_state == RemindState.SENT and o.reminded_at is not None:
            fact.reminded_day = ctx.day(o.reminded_at)
            fact.recovered = paid and o.paid_at >= o.reminded_at
        facts.append(fact)
    return facts


# --- recomputing one buyer ------------------------------------------------------------------------

def days_of(qs, *names: str) -> set[dt.date]:
    out: set[dt.date] = set()
    for row in qs.values_list(*names):
        out |= {d for d in row if d is not None}
    return out


def recompute_buyer(ctx: ShopContext, customer_id: int, *, messages_from: dt.date | None,
                    orders_from: dt.date | None) -> set[dt.date]:
    """Recompute a buyer's facts: stage 1 from MESSAGES_FROM (None with ORDERS_FROM set: keep the
    turns), stage 2 from the earlier of both. The rollups change by the difference of the buyer's
    facts (from the day before) before and after: no day is re-aggregated. Returns the days touched."""
    shop = ctx.shop
    touched: set[dt.date] = set()
    first = min((d for d in (messages_from, orders_from) if d is not None), default=None)
    since = first - dt.timedelta(days=1) if first is not None else None
    before = _contributions(shop, customer_id, since)
    conv_ids = list(Conversation.objects.filter(shop=shop, customer_id=customer_id).values_list("id", flat=True))
    stage1 = messages_from is not None or orders_from is None
    if stage1:
        since = ctx.start_of(messages_from) if messages_from else None
        msgs = load_messages(conv_ids, since)
        context = _context_before(conv_ids, since) if since else {}
        fresh = buyer_days(ctx, customer_id, msgs, context)
        for model in (TurnFact, ActivityFact, InquiryFact):
            old = model.objects.filter(shop=shop, customer_id=customer_id)
            if messages_from:
                old = old.filter(day__gte=messages_from)
            touched |= days_of(old, "day")
            old.delete()
        TurnFact.objects.bulk_create(fresh.turns, batch_size=500)
        ActivityFact.objects.bulk_create(fresh.activity, batch_size=500)
        InquiryFact.objects.bulk_create(fresh.inquiries, batch_size=500)
        touched |= {f.day for f in fresh.turns} | {f.day for f in fresh.activity}
    start_day = min(d for d in (messages_from, orders_from) if d is not None) if (messages_from or orders_from) \
        else None
    inquiries = InquiryFact.objects.filter(shop=shop, customer_id=customer_id)
    orders = Order.objects.filter(shop=shop, buyer_id=customer_id)
    attribute_from = None
    if start_day is not None:
        inquiries = inquiries.filter(day__gte=start_day - dt.timedelta(days=1))
        orders = orders.filter(created_at__gte=ctx.start_of(start_day - dt.timedelta(days=1)))
        attribute_from = ctx.start_of(start_day)
    inquiries = list(inquiries.order_by("day"))
    facts = order_facts(ctx, load_orders(orders), inquiries, attribute_from)
    for inq in inquiries:
        inq.save(update_fields=["ordered", "paid"])
    touched |= {i.day for i in inquiries}
    touched |= _replace_order_facts(shop, facts, customer_id=customer_id, attribute_from=attribute_from)
    _apply_difference(shop, before, _contributions(shop, customer_id, since))
    return touched


def _replace_order_facts(shop: Shop, facts: list[OrderFact], *, customer_id: int | None,
                         attribute_from: dt.datetime | None, order_ids: list[int] | None = None) -> set[dt.date]:
    old = OrderFact.objects.filter(shop=shop)
    old = old.filter(order_id__in=order_ids) if order_ids is not None else old.filter(customer_id=customer_id)
    if order_ids is None and attribute_from is not None:
        old = old.filter(order_id__in=Order.objects.filter(shop=shop, buyer_id=customer_id,
                                                           created_at__gte=attribute_from).values("id"))
    touched = days_of(old, "day", "inquiry_day", "reminded_day")
    old.delete()
    OrderFact.objects.bulk_create(facts, batch_size=500)
    for f in facts:
        touched |= {d for d in (f.day, f.inquiry_day, f.reminded_day) if d is not None}
    return touched


def recompute_orders_without_buyer(ctx: ShopContext, order_ids: list[int]) -> set[dt.date]:
    rows = load_orders(Order.objects.filter(shop=ctx.shop, buyer__isnull=True, id__in=order_ids))
    facts = order_facts(ctx, rows, [], None)
    return _replace_order_facts(ctx.shop, facts, customer_id=None, attribute_from=None,
                                order_ids=[r.id for r in rows])


def messages_from_day(ctx: ShopContext, customer_id: int, earliest: dt.datetime) -> dt.date | None:
    """The first day new messages at or after EARLIEST can change: the day of the buyer's last
    person message before it (turns before that one are answered for good); None: from the start."""
    last = (Message.objects.filter(conversation__shop=ctx.shop, conversation__customer_id=customer_id,
                                   sender_kind="agent", internal=False, created_at__lt=earliest)
            .exclude(client_id__startswith=GREETING).order_by("-created_at").values_list("created_at", flat=True)
            .first())
    return ctx.day(last) if last is not None else None


# --- rollups ----------------------------------------------------------------------------------------

def _add_hist(hist: dict[str, int], value: int) -> None:
    key = str(value)
    hist[key] = hist.get(key, 0) + 1


def rollup_days(shop: Shop, days: Iterable[dt.date]) -> None:
    """Recompute the rollups of SHOP on DAYS from the facts of those days."""
    days = sorted(set(days))
    if not days:
        return
    with transaction.atomic(savepoint=False):
        for chunk in (days[i:i + 200] for i in range(0, len(days), 200)):
            DailyRollup.objects.filter(shop=shop, day__in=chunk).delete()
            rows: dict[tuple, DailyRollup] = {}
            row = _row_maker(shop, rows)
            _rollup_turns(TurnFact.objects.filter(shop=shop, day__in=chunk), row)
            orders = OrderFact.objects.filter(shop=shop)
            _rollup_rest(ActivityFact.objects.filter(shop=shop, day__in=chunk),
                         InquiryFact.objects.filter(shop=shop, day__in=chunk),
                         orders.filter(inquiry_day__in=chunk, paid=True),
                         orders.filter(day__in=chunk, inquiry_day__isnull=True),
                         orders.filter(reminded_day__in=chunk), row)
            for r in rows.values():  # seconds in order, as the difference path writes them
                r.response_hist = dict(sorted(r.response_hist.items(), key=lambda kv: int(kv[0])))
                r.first_hist = dict(sorted(r.first_hist.items(), key=lambda kv: int(kv[0])))
            DailyRollup.objects.bulk_create(sorted(rows.values(), key=lambda r: (r.day, r.seat_id or 0,
                                                                                 r.staff_id or 0)), batch_size=500)


def _row_maker(shop: Shop, rows: dict[tuple, DailyRollup]):
    def row(day: dt.date, seat: int | None, staff: int | None) -> DailyRollup:
        key = (day, seat, staff)
        if key not in rows:
            rows[key] = DailyRollup(shop=shop, day=day, seat_id=seat, staff_id=staff, response_hist={},
                                    first_hist={}, attributed_sales=ZERO, main_sales=ZERO, related_sales=ZERO)
        return rows[key]
    return row


def _rollup_turns(turns, row) -> None:
    for day, seat, staff, response, msgs, first in (turns.values_list(
            "day", "seat_id", "staff_id", "response_s", "shopper_messages", "first_of_day").iterator(2000)):
        r = row(day, seat, staff)
        r.turns += 1
        r.shopper_messages += msgs
        if response is not None:
            r.answered += 1
            r.response_sum += response
            r.within_180 += response <= ANSWER_WITHIN_S
            _add_hist(r.response_hist, response)
            if first:
                r.first_count += 1
                r.first_sum += response
                _add_hist(r.first_hist, response)


def _rollup_rest(activity, inquiries, paid_orders, silent_orders, reminded_orders, row) -> None:
    for day, seat, staff, sent, served, t_in, t_out in activity.values_list("day", "seat_id", "staff_id", "person_messages", "conversations", "transfers_in",
                         "transfers_out").iterator(2000):
        r = row(day, seat, staff)
        r.person_messages += sent
        r.conversations += served
        r.transfers_in += t_in
        r.transfers_out += t_out
    for day, seat, staff, ordered, paid in inquiries.values_list(
            "day", "seat_id", "staff_id", "ordered", "paid").iterator(2000):
        r = row(day, seat, staff)
        r.inquiries += 1
        r.ordered += ordered
        r.paid += paid
    for f in paid_orders.iterator(2000):
        r = row(f.inquiry_day, f.seat_id, f.staff_id)
        r.attributed_orders += 1
        r.attributed_sales += f.amount
        r.main_sales += f.main_amount
        r.related_sales += f.related_amount
        r.main_quantity += f.main_quantity
        r.related_quantity += f.related_quantity
    for day in silent_orders.values_list("day", flat=True).iterator(2000):
        row(day, None, None).silent_orders += 1
    for day, recovered in reminded_orders.values_list("reminded_day", "recovered").iterator(2000):
        r = row(day, None, None)
        r.reminded += 1
        r.recovered += recovered


# --- one buyer's change applied to the rollups as a difference ----------------------------------------

_NUMBERS = [f.name for f in DailyRollup._meta.fields
            if f.get_internal_type() in ("IntegerField", "BigIntegerField", "DecimalField")
            and f.name not in ("id", "seat_id", "staff_id")]


def _contributions(shop: Shop, customer_id: int, since: dt.date | None) -> dict[tuple, DailyRollup]:
    """What the buyer's facts from SINCE on (None: all) add to the rollups, keyed (day, seat, staff)."""
    rows: dict[tuple, DailyRollup] = {}
    row = _row_maker(shop, rows)
    where: dict = {"shop": shop, "customer_id": customer_id}
    if since is not None:
        where["day__gte"] = since
    orders = OrderFact.objects.filter(**where)
    _rollup_turns(TurnFact.objects.filter(**where), row)
    _rollup_rest(ActivityFact.objects.filter(**where), InquiryFact.objects.filter(**where),
                 orders.filter(paid=True, inquiry_day__isnull=False), orders.filter(inquiry_day__isnull=True),
                 orders.filter(reminded_day__isnull=False), row)
    return rows


def _apply_difference(shop: Shop, old: dict[tuple, DailyRollup], new: dict[tuple, DailyRollup]) -> None:
    """Rollups += NEW − OLD; a row left with nothing in it is deleted (a rebuild would not have it)."""
    keys = set(old) | set(new)
    if not keys:
        return
    existing = {(r.day, r.seat_id, r.staff_id): r
                for r in DailyRollup.objects.filter(shop=shop, day__in={k[0] for k in keys})}
    for key in sorted(keys, key=str):
        o, n = old.get(key), new.get(key)
        target = existing.get(key) or _row_maker(shop, {})(*key)
        for name in _NUMBERS:
            setattr(target, name, getattr(target, name) + (getattr(n, name) if n else 0)
                    - (getattr(o, name) if o else 0))
        for name in ("response_hist", "first_hist"):
            hist = dict(getattr(target, name))
            for sign, part in ((1, n), (-1, o)):
                for sec, count in (getattr(part, name).items() if part else ()):
                    hist[sec] = hist.get(sec, 0) + sign * count
            setattr(target, name, {k: v for k, v in sorted(hist.items(), key=lambda kv: int(kv[0])) if v})
        if any(getattr(target, name) for name in _NUMBERS) or target.response_hist or target.first_hist:
            target.save()
        elif target.pk is not None:
            target.delete()


# --- rebuild ----------------------------------------------------------------------------------------

def rebuild(shop: Shop, *, progress=None) -> dict[str, int]:
    """Recompute every fact and rollup of SHOP from its messages and orders (``xiaoer kpi rebuild``).

    The same functions as the listener (buyer_days, order_facts) on the buyer's whole history,
    but reading the shop's messages, orders and items in a few streaming queries and writing
    facts in large batches, not buyer by buyer."""
    ctx = ShopContext(shop)
    with transaction.atomic(savepoint=False):
        from xiaoer.kpi.models import Dirty

        for model in (TurnFact, ActivityFact, InquiryFact, OrderFact, DailyRollup, Dirty):
            model.objects.filter(shop=shop).delete()
        customer_of = dict(Conversation.objects.filter(shop=shop).values_list("id", "customer_id"))
        orders_of: dict[int | None, list[OrderRow]] = defaultdict(list)
        for row in load_orders(Order.objects.filter(shop=shop)):
            orders_of[row.customer_id].append(row)
        items = _items_of_shop(shop)
        customers = sorted(set(customer_of.values()) | {c for c in orders_of if c is not None})
        pending = _Pending()
        days: set[dt.date] = set()
        for n, (customer_id, msgs) in enumerate(_messages_by_customer(shop, customer_of, customers), start=1):
            fresh = buyer_days(ctx, customer_id, msgs, {})
            facts = order_facts(ctx, orders_of.get(customer_id, []), fresh.inquiries, None, items)
            days |= pending.add(fresh, facts)
            if progress is not None:
                progress(n, len(customers))
        days |= pending.add(BuyerDays(), order_facts(ctx, orders_of.get(None, []), [], None, items))
        pending.flush()
        rollup_days(shop, days)
    return {"buyers": len(customers), "days": len(days)}


def _items_of_shop(shop: Shop) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for order_id, title, sku, qty, price in (OrderItem.objects.filter(order__shop=shop).order_by("id")
                                             .values_list("order_id", "title", "sku", "quantity", "unit_price")
                                             .iterator(5000)):
        out[order_id].append((title, sku, qty, price))
    return out


def _messages_by_customer(shop: Shop, customer_of: dict[int, int], customers: list[int]):
    """(customer, their messages in time order) for every customer, streaming the shop's messages
    conversation by conversation (one conversation per customer, decision 003; several are merged)."""
    by_customer: dict[int, list[Msg]] = defaultdict(list)
    rows = (Message.objects.filter(shop=shop).order_by("conversation_id", "created_at", "seq")
            .values_list(*_MSG_FIELDS).iterator(5000))
    for row in rows:
        by_customer[customer_of[row[1]]].append(Msg(*row))
    for customer_id in customers:
        msgs = by_customer.pop(customer_id, [])
        msgs.sort(key=lambda m: (m.created_at, m.seq))
        yield customer_id, msgs


class _Pending:
    """Facts waiting for one bulk insert per model and 5,000 buyers' worth of rows."""

    LIMIT = 20_000

    def __init__(self) -> None:
        self.rows: dict[type, list] = defaultdict(list)

    def add(self, fresh: BuyerDays, orders: list[OrderFact]) -> set[dt.date]:
        self.rows[TurnFact] += fresh.turns
        self.rows[ActivityFact] += fresh.activity
        self.rows[InquiryFact] += fresh.inquiries
        self.rows[OrderFact] += orders
        if sum(len(v) for v in self.rows.values()) >= self.LIMIT:
            self.flush()
        days = {f.day for f in fresh.turns} | {f.day for f in fresh.activity} | {i.day for i in fresh.inquiries}
        for f in orders:
            days |= {d for d in (f.day, f.inquiry_day, f.reminded_day) if d is not None}
        return days

    def flush(self) -> None:
        for model, rows in self.rows.items():
            model.objects.bulk_create(rows, batch_size=1000)
        self.rows.clear()


# --- working off the listener's dirty buyers --------------------------------------------------------

def process_dirty(*, buyers_per_transaction: int | None = None, budget_seconds: float | None = None) -> int:
    """Recompute the buyers and days the listener noted, a few buyers per short transaction, until
    none is left (or BUDGET_SECONDS passed). Returns the buyers recomputed."""
    import time

    from django.db import connection

    from xiaoer.kpi.models import Dirty

    if buyers_per_transaction is None:
        # On SQLite a transaction holds the one write lock the chat writer also needs, from its
        # first write to its commit (tens of ms a buyer): few buyers each, so chat waits little.
        buyers_per_transaction = 3 if connection.vendor == "sqlite" else 25
    done = 0
    deadline = time.monotonic() + budget_seconds if budget_seconds is not None else None
    while deadline is None or time.monotonic() < deadline:
        with transaction.atomic():
            # PostgreSQL: workers running this at once take different rows (a no-op on SQLite)
            rows = list(Dirty.objects.select_for_update(skip_locked=True).order_by("id")[:2000])
            if not rows:
                return done
            buyers: set[tuple] = set()
            for row in rows:  # the first buyers noted, with every row of theirs in this read
                if row.customer_id is not None and len(buyers) < buyers_per_transaction:
                    buyers.add((row.shop_id, row.customer_id))
            last = max(r.id for r in rows if r.customer_id is None or (r.shop_id, r.customer_id) in buyers)
            taken = [r for r in rows if r.id <= last and (r.customer_id is None or (r.shop_id, r.customer_id) in buyers)]
            taken += [r for r in rows if r.id > last and (r.shop_id, r.customer_id) in buyers]
            done += _process(taken)
            Dirty.objects.filter(id__in=[r.id for r in taken]).delete()
    return done


def _process(rows) -> int:
    per_shop: dict[int, list] = defaultdict(list)
    for row in rows:
        per_shop[row.shop_id].append(row)
    count = 0
    for shop_id, shop_rows in sorted(per_shop.items()):
        shop = Shop.objects.filter(pk=shop_id).first()
        if shop is None:
            continue
        ctx = ShopContext(shop)
        days = {r.day for r in shop_rows if r.day is not None}
        wanted: dict[int, dict] = {}
        for r in shop_rows:
            if r.customer_id is None:
                continue
            w = wanted.setdefault(r.customer_id, {"full": False, "at": None, "orders": None})
            w["full"] |= r.full
            if r.messages_at is not None:
                w["at"] = r.messages_at if w["at"] is None else min(w["at"], r.messages_at)
            if r.orders_day is not None:
                w["orders"] = r.orders_day if w["orders"] is None else min(w["orders"], r.orders_day)
        for customer_id, w in sorted(wanted.items()):
            _recompute_wanted(ctx, customer_id, w)  # rollups changed by difference
            count += 1
        rollup_days(shop, days)  # days noted alone (stale order facts, orders without a buyer)
    return count


def _recompute_wanted(ctx: ShopContext, customer_id: int, w: dict) -> set[dt.date]:
    if w["full"]:
        return recompute_buyer(ctx, customer_id, messages_from=None, orders_from=None)
    if w["at"] is not None:
        start = messages_from_day(ctx, customer_id, w["at"])
        if start is None:
            return recompute_buyer(ctx, customer_id, messages_from=None, orders_from=None)
        if w["orders"] is not None:
            start = min(start, w["orders"])
        return recompute_buyer(ctx, customer_id, messages_from=start, orders_from=None)
    return recompute_buyer(ctx, customer_id, messages_from=None, orders_from=w["orders"])
