"""The KPI report from daily rollups only (docs/kpis.md "Report"): never reads messages."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xiaoer.accounts.models import Role, Seat, Shop, Staff
from xiaoer.accounts.services import require_role
from xiaoer.kpi import hooks
from xiaoer.kpi.models import DailyRollup

BY = ("seat", "staff", "day")
SUPERVISING = (Role.OWNER, Role.SUPERVISOR)
MAX_DAYS = 366
_SUMS = ("turns", "answered", "within_180", "response_sum", "first_count", "first_sum", "shopper_messages",
         "person_messages", "conversations", "transfers_in", "transfers_out", "inquiries", "ordered", "paid",
         "attributed_orders", "main_quantity", "related_quantity", "silent_orders", "reminded", "recovered")
_MONEY = ("attributed_sales", "main_sales", "related_sales")
_FIELDS = ("day", "seat_id", "staff_id", *_SUMS, *_MONEY)


class Totals:
    """Sums of rollup rows, and the figures of docs/kpis.md from them."""

    def __init__(self) -> None:
        self.n: dict[str, int] = dict.fromkeys(_SUMS, 0)
        self.money: dict[str, Decimal] = dict.fromkeys(_MONEY, Decimal("0.00"))
        self.response: dict[str, int] = {}
        self.first: dict[str, int] = {}

    def add(self, row: dict[str, Any]) -> None:
        for name in _SUMS:
            self.n[name] += row[name]
        for name in _MONEY:
            self.money[name] += row[name]


    def figures(self) -> dict[str, Any]:
        n, money = self.n, self.money
        first = {int(k): v for k, v in self.first.items()}
        response = {int(k): v for k, v in self.response.items()}
        return {
            "inquiries": n["inquiries"], "ordered": n["ordered"], "paid": n["paid"],
            "inquiry_conversion": _rate(n["ordered"], n["inquiries"]),
            "payment_conversion": _rate(n["paid"], n["inquiries"]),
            "attributed_sales": _money(money["attributed_sales"]), "attributed_orders": n["attributed_orders"],
            "average_order_value": _money(money["attributed_sales"] / n["attributed_orders"])
            if n["attributed_orders"] else None,
            "main_sales": _money(money["main_sales"]), "related_sales": _money(money["related_sales"]),
            "main_quantity": n["main_quantity"], "related_quantity": n["related_quantity"],
            "first_response_median_s": median(first), "first_response_p90_s": p90(first),
            "first_response_mean_s": _mean(n["first_sum"], n["first_count"]),
            "response_mean_s": _mean(n["response_sum"], n["answered"]),
            "response_median_s": median(response), "response_p90_s": p90(response),
            "three_minute_rate": _rate(n["within_180"], n["turns"]),
            "reply_ratio": _rate(n["person_messages"], n["shopper_messages"]),
            "turns": n["turns"], "answered": n["answered"], "conversations": n["conversations"],
            "transfers_in": n["transfers_in"], "transfers_out": n["transfers_out"],
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(total: int, count: int) -> float | None:
    return round(total / count, 1) if count else None


def _money(value: Decimal) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _nth(hist: dict[int, int], index: int) -> int:
    """The INDEX-th (0-based) value of the sorted values the histogram counts."""
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if index < seen:
            return value
    raise IndexError(index)


def median(hist: dict[int, int]) -> float | None:
    """Median of whole seconds; of an even count the mean of the two middle values (decision 156)."""
    n = sum(hist.values())
    if not n:
        return None
    if n % 2:
        return float(_nth(hist, n // 2))
    return (_nth(hist, n // 2 - 1) + _nth(hist, n // 2)) / 2


def p90(hist: dict[int, int]) -> float | None:
    """Nearest rank: the smallest value at or above 90 % of the values."""
    n = sum(hist.values())
    return float(_nth(hist, math.ceil(0.9 * n) - 1)) if n else None


def check_period(start: dt.date | str, end: dt.date | str) -> tuple[dt.date, dt.date]:
    try:
        start = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
        end = end if isinstance(end, dt.date) else dt.date.fromisoformat(str(end))
    except ValueError:
        raise ValidationError(_("日期格式应为 YYYY-MM-DD")) from None
    if end < start:
        raise ValidationError(_("结束日期早于开始日期"))
    if (end - start).days >= MAX_DAYS:
        raise ValidationError(_("一次最多查询 %(days)d 天") % {"days": MAX_DAYS})
    return start, end


def _names(shop: Shop, by: str, keys: Iterable) -> dict:
    ids = [k for k in keys if k is not None]
    if by == "seat":
        return dict(Seat.objects.filter(shop=shop, pk__in=ids).values_list("id", "name"))
    if by == "staff":
        return dict(Staff.objects.filter(shop=shop, pk__in=ids).values_list("id", "user__username"))
    return {k: k.isoformat() for k in ids}


def _merged_histograms(shop: Shop, start: dt.date, end: dt.date, column: str, key_field: str,
                       staff_id: int | None) -> list[tuple]:
    """(group key or None for the shop, second as text, count): the histograms of the period
    merged in the database (json_each / jsonb_each_text), per group and for the whole shop."""
    from django.db import connection

    pg = connection.vendor == "postgresql"
    each = f"jsonb_each_text(r.{column}) AS j" if pg else f"json_each(r.{column}) AS j"
    value = "j.value::bigint" if pg else "j.value"
    where = "r.shop_id = %s AND r.day >= %s AND r.day <= %s" + (" AND r.staff_id = %s" if staff_id is not None else "")
    params: list = [shop.pk, start, end] + ([staff_id] if staff_id is not None else [])
    sql = (f"SELECT r.{key_field}, j.key, SUM({value}) FROM kpi_dailyrollup AS r, {each} WHERE {where} "
           f"AND r.{key_field} IS NOT NULL GROUP BY r.{key_field}, j.key "
           f"UNION ALL SELECT NULL, j.key, SUM({value}) FROM kpi_dailyrollup AS r, {each} WHERE {where} "
           f"GROUP BY j.key")
    with connection.cursor() as cur:
        cur.execute(sql, params + params)
        return [(k, str(sec), int(n)) for k, sec, n in cur.fetchall()]


def report(shop: Shop, start: dt.date, end: dt.date, *, by: str = "seat",
           staff_id: int | None = None) -> dict[str, Any]:
    """``{"rows": [...], "shop": {...}}`` for the days START..END (both included). With STAFF_ID
    only that person's rows (an agent's own figures), and no shop totals."""
    if by not in BY:
        raise ValidationError(_("分组只能是 seat、staff 或 day"))
    qs = DailyRollup.objects.filter(shop=shop, day__gte=start, day__lte=end)
    if staff_id is not None:
        qs = qs.filter(staff_id=staff_id)
    key_field = {"seat": "seat_id", "staff": "staff_id", "day": "day"}[by]
    groups: dict[Any, Totals] = defaultdict(Totals)
    shop_totals = Totals()
    for row in qs.values(*_FIELDS).iterator(2000):
        shop_totals.add(row)
        if row[key_field] is not None:
            groups[row[key_field]].add(row)
    for column, attr in (("response_hist", "response"), ("first_hist", "first")):
        for key, second, count in _merged_histograms(shop, start, end, column, key_field, staff_id):
            if key is None:
                getattr(shop_totals, attr)[second] = count
            elif by == "day" and not isinstance(key, dt.date):
                getattr(groups[dt.date.fromisoformat(str(key))], attr)[second] = count
            elif key in groups:
                getattr(groups[key], attr)[second] = count
    names = _names(shop, by, groups)
    extra = hooks.extra_figures(shop, start, end, by)
    rows = []
    for key in sorted(groups, key=lambda k: str(names.get(k, k))):
        head = {"day": key.isoformat()} if by == "day" else {by: names.get(key, str(key)), f"{by}_id": key}
        rows.append({**head, **groups[key].figures(), **extra.get(key, {})})
    out: dict[str, Any] = {"rows": rows}
    if staff_id is None:
        totals = shop_totals.figures()
        n = shop_totals.n
        totals.update(silent_orders=n["silent_orders"], reminded=n["reminded"], recovered=n["recovered"],
                      reminder_recovery=_rate(n["recovered"], n["reminded"]))
        out["shop"] = totals
    return out


def report_for(staff: Staff, start: dt.date, end: dt.date, *, by: str = "seat",
               person: int | None = None) -> dict[str, Any]:
    """The report as STAFF may see it: supervisors and owners the shop (or one PERSON), an agent
    only their own figures (decision 163)."""
    require_role(staff, (*SUPERVISING, Role.AGENT))
    if staff.role == Role.AGENT:
        if person not in (None, staff.pk):
            raise PermissionDenied(_("客服只能查看自己的绩效"))
        return report(staff.shop, start, end, by=by, staff_id=staff.pk)
    if person is not None and not Staff.objects.filter(shop=staff.shop, pk=person).exists():
        raise PermissionDenied(_("没有这个客服"))
    return report(staff.shop, start, end, by=by, staff_id=person)


# --- pages: period, distribution, drill-down, export -----------------------------------------------

PRESETS = {"today": 0, "7d": 6, "30d": 29}
BUCKETS = ((30, gettext_lazy("≤30秒")), (60, gettext_lazy("31–60秒")), (180, gettext_lazy("1–3分钟")),
           (600, gettext_lazy("3–10分钟")), (None, gettext_lazy(">10分钟")))
DRILL_FIGURES = ("turns", "unanswered", "inquiries", "ordered", "paid", "attributed", "silent")
DRILL_LIMIT = 500


def period(preset: str | None, start: str | None, end: str | None, today: dt.date) -> tuple[dt.date, dt.date, str]:
    """The page's period: a preset (today, 7d, 30d) or a custom START..END."""
    if start and end and preset in (None, "", "custom"):
        begin, finish = check_period(start, end)
        return begin, finish, "custom"
    preset = preset if preset in PRESETS else "7d"
    return today - dt.timedelta(days=PRESETS[preset]), today, preset


def distribution(shop: Shop, start: dt.date, end: dt.date, staff_id: int | None = None) -> list[dict[str, Any]]:
    """Answered turns per response-time bucket, from the rollups' histograms."""
    qs = DailyRollup.objects.filter(shop=shop, day__gte=start, day__lte=end)
    if staff_id is not None:
        qs = qs.filter(staff_id=staff_id)
    counts = [0] * len(BUCKETS)
    for hist in qs.values_list("response_hist", flat=True).iterator(2000):
        for key, count in hist.items():
            seconds = int(key)
            for i, (limit, _label) in enumerate(BUCKETS):
                if limit is None or seconds <= limit:
                    counts[i] += count
                    break
    return [{"label": str(label), "count": counts[i]} for i, (_limit, label) in enumerate(BUCKETS)]


def drill(staff: Staff, figure: str, start: dt.date, end: dt.date, *, seat: int | None = None,
          person: int | None = None, day: dt.date | None = None) -> dict[str, Any]:
    """The conversations or orders behind one number of the report (from facts, never messages)."""
    from xiaoer.chat.models import Conversation
    from xiaoer.kpi.models import InquiryFact, OrderFact, TurnFact
    from xiaoer.orders.models import Order

    require_role(staff, (*SUPERVISING, Role.AGENT))
    if figure not in DRILL_FIGURES:
        raise ValidationError(_("未知的指标"))
    if staff.role == Role.AGENT:
        if person not in (None, staff.pk) or figure == "silent":
            raise PermissionDenied(_("客服只能查看自己的绩效"))
        person = staff.pk
    shop = staff.shop
    if day is not None:
        start = end = day
    where: dict[str, Any] = {"shop": shop}
    if seat is not None:
        where["seat_id"] = seat
    if person is not None:
        where["staff_id"] = person
    if figure in ("turns", "unanswered", "inquiries"):
        model = TurnFact if figure != "inquiries" else InquiryFact
        qs = model.objects.filter(day__gte=start, day__lte=end, **where)
        if figure == "unanswered":
            qs = qs.filter(answered_at__isnull=True)
        customers = list(qs.values_list("customer_id", flat=True).distinct()[:DRILL_LIMIT])
        convs = (Conversation.objects.filter(shop=shop, customer_id__in=customers).select_related("customer")
                 .order_by("-last_message_at")[:DRILL_LIMIT])
        return {"kind": "conversations", "items": list(convs)}
    if figure == "silent":
        qs = OrderFact.objects.filter(shop=shop, day__gte=start, day__lte=end, inquiry_day__isnull=True)
    else:
        qs = OrderFact.objects.filter(inquiry_day__gte=start, inquiry_day__lte=end, **where)
        qs = qs.filter(paid=True) if figure in ("paid", "attributed") else qs
    ids = list(qs.values_list("order_id", flat=True)[:DRILL_LIMIT])
    orders = Order.objects.filter(shop=shop, pk__in=ids).select_related("buyer").order_by("-created_at")
    return {"kind": "orders", "items": list(orders)}


EXPORT_COLUMNS = (
    ("inquiries", "询单人数"), ("ordered", "下单人数"), ("paid", "付款人数"), ("inquiry_conversion", "询单转化率"),
    ("payment_conversion", "最终付款转化率"), ("attributed_sales", "销售额"), ("attributed_orders", "付款订单数"),
    ("average_order_value", "客单价"), ("main_sales", "主推商品销售额"), ("related_sales", "关联商品销售额"),
    ("first_response_median_s", "首次响应中位数(秒)"), ("first_response_p90_s", "首次响应P90(秒)"),
    ("response_mean_s", "平均响应(秒)"), ("response_median_s", "响应中位数(秒)"), ("response_p90_s", "响应P90(秒)"),
    ("three_minute_rate", "3分钟响应率"), ("reply_ratio", "答问比"), ("turns", "咨询轮次"),
    ("conversations", "接待会话"), ("transfers_in", "转入"), ("transfers_out", "转出"),
)


def export_rows(data: dict[str, Any], by: str) -> list[list[Any]]:
    """Header and rows of a report for a spreadsheet (values raw; the edge escapes them)."""
    head = [{"seat": "席位", "staff": "客服", "day": "日期"}[by], *(label for _k, label in EXPORT_COLUMNS)]
    rows = [[row[by], *(row.get(k) for k, _l in EXPORT_COLUMNS)] for row in data["rows"]]
    if "shop" in data:
        rows.append(["全店", *(data["shop"].get(k) for k, _l in EXPORT_COLUMNS)])
    return [head, *rows]
