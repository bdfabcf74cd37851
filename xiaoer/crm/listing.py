"""The customers page: filters, sort, pages, saved segments and exports (docs/customers-pages.md).

A filter is a small dict (check_filters cleans what a form or a saved segment gives); customers()
turns it into one query over Customer joined to its CustomerValue. Sorting by value walks the
CustomerValue indexes, so a page of 50 stays fast however many customers the shop has.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Shop, Staff
from xiaoer.crm.models import ExportLog, Segment
from xiaoer.customers import services as customer_services
from xiaoer.customers.models import (
    ContactKind,
    CustomAttribute,
    Customer,
    CustomerAttributeValue,
    CustomerContact,
    CustomerTag,
    Tag,
)
from xiaoer.importing import csv_safe

PAGE_SIZE = 50
MAX_PAGES = 200  # limited offset: deeper than 10,000 rows, narrow the filter (docs/decisions/136)
COUNT_CAP = 10_000
SEGMENTS_PER_SHOP = 100
RFM_SEGMENTS = ("重要价值", "重要发展", "重要保持", "重要挽留", "一般价值", "一般发展", "一般保持", "一般挽留")
SORTS = {
    # key: (label, order_by); value sorts list the customers who have a value row (bought something)
    "recent": ("最近添加", ("-pk",)),
    "total_paid": ("累计消费", ("-value__total_paid", "-value__customer_id")),
    "last_purchase": ("最近购买", ("-value__last_purchase_at", "-value__customer_id")),
    "paid_orders": ("成交笔数", ("-value__paid_orders", "-value__customer_id")),
}
FILTER_KEYS = ("q", "tag", "level", "segment", "last_from", "last_to", "city", "birthday_month", "attr",
               "attr_value", "sort")


def _int(value, low: int, high: int, message: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(message) from None
    if not low <= number <= high:
        raise ValidationError(message)
    return number


def _date(value, message: str) -> str:
    if value in (None, ""):
        return ""
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ValidationError(message) from None


def check_filters(shop: Shop, data) -> dict:
    """The filter in DATA (a QueryDict or a saved segment's dict), cleaned; unknown keys dropped,
    empty values left out, so two equal filters are equal dicts."""
    get = data.get
    clean: dict = {}
    q = str(get("q") or "").strip()
    if len(q) > 50:
        raise ValidationError(_("搜索词最多 50 个字"))
    clean["q"] = q
    tag = _int(get("tag"), 1, 2**62, _("标签不存在"))
    if tag is not None and not Tag.objects.filter(pk=tag, shop=shop).exists():
        raise ValidationError(_("标签不存在"))
    clean["tag"] = tag
    clean["level"] = _int(get("level"), 0, 99, _("等级不对"))
    segment = str(get("segment") or "")
    if segment and segment not in RFM_SEGMENTS:
        raise ValidationError(_("RFM 分群不对"))
    clean["segment"] = segment
    clean["last_from"] = _date(get("last_from"), _("日期格式应为 YYYY-MM-DD"))
    clean["last_to"] = _date(get("last_to"), _("日期格式应为 YYYY-MM-DD"))
    city = str(get("city") or "").strip()
    if len(city) > 50:
        raise ValidationError(_("城市最多 50 个字"))
    clean["city"] = city
    clean["birthday_month"] = _int(get("birthday_month"), 1, 12, _("生日月份应为 1 到 12"))
    _attribute_filter(shop, get("attr"), get("attr_value"), clean)
    sort = str(get("sort") or "recent")
    clean["sort"] = sort if sort in SORTS else "recent"
    return {k: v for k, v in clean.items() if v not in ("", None)}


def _attribute_filter(shop: Shop, key, value, clean: dict) -> None:
    key, value = str(key or "").strip(), str(value or "").strip()
    if not key:
        return
    attribute = CustomAttribute.objects.filter(shop=shop, key=key).first()
    if attribute is None:
        raise ValidationError(_("自定义字段不存在"))
    if value:
        clean["attr"], clean["attr_value"] = key, customer_services.check_attribute_value(attribute, value)


def _day_start(shop: Shop, day: str, plus_days: int = 0) -> dt.datetime:
    """Midnight of DAY in the shop's time zone (dates on the page are the shop's calendar dates)."""
    tz = zoneinfo.ZoneInfo(shop.timezone or "Asia/Shanghai")
    return dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=plus_days), dt.time(), tz)


def _search(q: str) -> Q:
    match = Q(name__contains=q) | Q(buyer_id=q)
    digits = q.replace("-", "").replace(" ", "")
    if digits.isdigit() and 4 <= len(digits) <= 11:  # a phone tail: the default phone or any other
        other_phones = CustomerContact.objects.filter(customer=OuterRef("pk"), kind=ContactKind.PHONE,
                                                      value__endswith=digits)
        match |= Q(phone__endswith=digits) | Q(Exists(other_phones))
    return match


def customers(shop: Shop, filters: dict) -> QuerySet[Customer]:
    """The customers of SHOP that FILTERS select, in its sort order (merged-away rows left out)."""
    qs = Customer.objects.filter(shop=shop, merged_into__isnull=True)
    if filters.get("q"):
        qs = qs.filter(_search(filters["q"]))
    if filters.get("tag"):
        qs = qs.filter(Exists(CustomerTag.objects.filter(customer=OuterRef("pk"), tag_id=filters["tag"])))
    if filters.get("level") is not None:
        qs = qs.filter(value__level=filters["level"])
    if filters.get("segment"):
        qs = qs.filter(value__shop=shop, value__rfm_segment=filters["segment"])
    if filters.get("last_from"):
        qs = qs.filter(value__last_purchase_at__gte=_day_start(shop, filters["last_from"]))
    if filters.get("last_to"):
        qs = qs.filter(value__last_purchase_at__lt=_day_start(shop, filters["last_to"], 1))
    if filters.get("city"):
        qs = qs.filter(city=filters["city"])
    if filters.get("birthday_month"):
        qs = qs.filter(birthday_month=filters["birthday_month"])
    if filters.get("attr"):
        qs = qs.filter(Exists(CustomerAttributeValue.objects.filter(
            customer=OuterRef("pk"), attribute__key=filters["attr"], attribute__shop=shop,
            value=filters["attr_value"])))
    sort = filters.get("sort", "recent")
    if sort != "recent":
        qs = qs.filter(value__shop=shop)  # the join the sort walks (its index leads with the shop)
    return qs.select_related("value").order_by(*SORTS[sort][1])


def page_of(shop: Shop, filters: dict, page: int) -> dict:
    """One page of the list: rows, the (capped) count, and whether there are pages either side."""
    page = max(1, min(page, MAX_PAGES))
    qs = customers(shop, filters)
    start = (page - 1) * PAGE_SIZE
    rows = list(qs[start:start + PAGE_SIZE + 1])
    count = qs.order_by()[:COUNT_CAP + 1].count()
    tags = _tags_by_customer([c.pk for c in rows[:PAGE_SIZE]])
    for customer in rows:
        customer.tag_list = tags.get(customer.pk, [])
    return {"rows": rows[:PAGE_SIZE], "page": page, "has_next": len(rows) > PAGE_SIZE and page < MAX_PAGES,
            "has_prev": page > 1, "count": min(count, COUNT_CAP), "count_capped": count > COUNT_CAP}


def _tags_by_customer(ids: list[int]) -> dict[int, list[Tag]]:
    found: dict[int, list[Tag]] = {}
    for link in CustomerTag.objects.filter(customer_id__in=ids).select_related("tag").order_by("tag__name"):
        found.setdefault(link.customer_id, []).append(link.tag)
    return found


# --- segments ------------------------------------------------------------------------------------

def check_segment_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 40:
        raise ValidationError(_("分群名称不能为空，最多 40 个字"))
    return name


@transaction.atomic(savepoint=False)
def do_save_segment(staff: Staff, name: str, filters: dict) -> Segment:
    """Save FILTERS under NAME (a shop-wide list: supervisors and the owner keep it); the same name
    again replaces that segment's filter."""
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    name, filters = check_segment_name(name), check_filters(staff.shop, filters)
    if filters.get("sort") == "recent":
        del filters["sort"]  # the default: a segment saved from the plain list compares equal to {}
    existing = Segment.objects.filter(shop_id=staff.shop_id, name=name).first()
    if existing is None and Segment.objects.filter(shop_id=staff.shop_id).count() >= SEGMENTS_PER_SHOP:
        raise ValidationError(_("每个店最多 %(n)s 个分群") % {"n": SEGMENTS_PER_SHOP})
    segment = existing or Segment(shop_id=staff.shop_id, name=name, created_by=staff)
    segment.filters = filters
    segment.save()
    return segment


def access_segment(staff: Staff, segment_id) -> Segment:
    account_services.require_role(staff, account_services.CHAT_ROLES)
    try:
        return Segment.objects.get(pk=segment_id, shop_id=staff.shop_id)
    except (Segment.DoesNotExist, ValueError, TypeError):
        raise Http404("segment not found") from None


@transaction.atomic(savepoint=False)
def do_delete_segment(staff: Staff, segment: Segment) -> None:
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    if segment.shop_id != staff.shop_id:
        raise Http404("segment not found")
    segment.delete()


def segments_of(shop_id: int) -> list[Segment]:
    return list(Segment.objects.filter(shop_id=shop_id))


# --- exports -------------------------------------------------------------------------------------

EXPORT_HEADER = ("买家ID", "姓名", "手机", "城市", "等级", "RFM分群", "成交笔数", "累计消费", "最近购买", "标签")


def _export_row(staff: Staff, customer: Customer, tz) -> list:
    value = getattr(customer, "value", None)
    last = value.last_purchase_at.astimezone(tz).date().isoformat() if value and value.last_purchase_at else ""
    return [customer.buyer_id or "", customer.name, account_services.phone_for(staff, customer.phone),
            customer.city, value.level if value else "", value.rfm_segment if value else "",
            value.paid_orders if value else 0, value.total_paid if value else Decimal("0.00"), last,
            "、".join(link.tag.name for link in customer.tag_links.all())]


@transaction.atomic(savepoint=False)
def do_export(staff: Staff, filters: dict, file_format: str = "csv",
              segment: Segment | None = None) -> tuple[bytes, str, str]:
    """(content, content type, file name) of the customers FILTERS select, for supervisors and the
    owner only; every export is logged (ExportLog). Cells go through the CSV formula escape."""
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    if segment is not None and segment.shop_id != staff.shop_id:
        raise Http404("segment not found")
    filters = check_filters(staff.shop, filters)
    file_format = "xlsx" if file_format == "xlsx" else "csv"
    tz = zoneinfo.ZoneInfo(staff.shop.timezone or "Asia/Shanghai")
    qs = customers(staff.shop, filters).prefetch_related("tag_links__tag")
    rows = (_export_row(staff, c, tz) for c in qs.iterator(chunk_size=2000))
    content, count = (_xlsx if file_format == "xlsx" else _csv)(rows)
    ExportLog.objects.create(shop_id=staff.shop_id, staff=staff, segment=segment, filters=filters,
                             file_format=file_format, row_count=count)
    stem = f"customers-{segment.pk}" if segment else "customers"
    content_type = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if file_format == "xlsx"
                    else "text/csv; charset=utf-8")
    return content, content_type, f"{stem}.{file_format}"


def _csv(rows) -> tuple[bytes, int]:
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(EXPORT_HEADER)
    count = 0
    for row in rows:
        out.writerow([csv_safe(v) for v in row])
        count += 1
    return ("\ufeff" + buf.getvalue()).encode("utf-8"), count  # the BOM: Excel opens UTF-8 right


def _xlsx(rows) -> tuple[bytes, int]:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("customers")
    sheet.append(list(EXPORT_HEADER))
    count = 0
    for row in rows:
        sheet.append([csv_safe(v) for v in row])
        count += 1
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue(), count


def export_logs(staff: Staff, limit: int = 20) -> list[ExportLog]:
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    return list(ExportLog.objects.filter(shop_id=staff.shop_id).select_related("staff", "segment")[:limit])
