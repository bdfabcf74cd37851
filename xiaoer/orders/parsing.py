"""Turning the loose values of platform exports and webhooks into clean order fields.

Every function raises ValueError with a short Chinese reason; the importer reports it per row.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from xiaoer.importing import check_identifier
from xiaoer.orders.models import OrderStatus

# Platform status texts (Taobao/Tmall and English exports) → our statuses.
STATUS_ALIASES: dict[str, str] = {
    "等待买家付款": OrderStatus.UNPAID, "待付款": OrderStatus.UNPAID, "未付款": OrderStatus.UNPAID,
    "买家已付款，等待卖家发货": OrderStatus.PAID, "买家已付款,等待卖家发货": OrderStatus.PAID,
    "等待卖家发货": OrderStatus.PAID, "买家已付款": OrderStatus.PAID, "已付款": OrderStatus.PAID,
    "待发货": OrderStatus.READY_TO_SHIP,
    "卖家已发货，等待买家确认": OrderStatus.SHIPPED, "卖家已发货,等待买家确认": OrderStatus.SHIPPED,
    "卖家已发货": OrderStatus.SHIPPED, "已发货": OrderStatus.SHIPPED,
    "买家已签收": OrderStatus.DELIVERED, "已签收": OrderStatus.DELIVERED,
    "交易成功": OrderStatus.COMPLETED, "已完成": OrderStatus.COMPLETED,
    "交易关闭": OrderStatus.CLOSED, "已关闭": OrderStatus.CLOSED, "交易已关闭": OrderStatus.CLOSED,
    "退款中": OrderStatus.REFUNDING, "售后中": OrderStatus.REFUNDING,
}
for _value in OrderStatus.values:
    STATUS_ALIASES[_value] = _value
# OrderStatus.values builds a new list on every access: too slow for a per-row check.
VALID_STATUSES = frozenset(OrderStatus.values)
_ORDER_NO = re.compile(r"[\w\-.:/#]+")

_AMOUNT_JUNK = re.compile(r"[\s¥￥$,，元]|RMB|CNY|USD|HKD|EUR", re.IGNORECASE)
_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d",
                 "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日")
_CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")


def parse_amount(value, *, field: str = "金额") -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        text = str(value)
    else:
        text = _AMOUNT_JUNK.sub("", str(value))
    if text in ("", "-", "null", "None"):
        return None
    try:
        amount = Decimal(text).quantize(_CENT)
    except (InvalidOperation, ValueError):
        raise ValueError(f"{field}不是数字: {str(value)[:30]}") from None
    if amount < 0 or amount > MAX_AMOUNT or not amount.is_finite():
        raise ValueError(f"{field}超出范围: {str(value)[:30]}")
    return amount


def parse_time(value, tz: ZoneInfo, *, field: str = "时间", fmt: str | None = None) -> dt.datetime | None:
    """Naive platform times are in the shop's time zone; aware ones are kept."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        text = str(value).strip()
        if not text or text in ("-", "null", "None", "0000-00-00 00:00:00"):
            return None
        moment = None
        if fmt:
            try:
                moment = dt.datetime.strptime(text, fmt)
            except ValueError:
                raise ValueError(f"{field}格式不对: {text[:30]}") from None
        else:
            try:
                moment = dt.datetime.fromisoformat(text)
            except ValueError:
                for candidate in _TIME_FORMATS:
                    try:
                        moment = dt.datetime.strptime(text, candidate)
                        break
                    except ValueError:
                        continue
        if moment is None:
            raise ValueError(f"{field}格式不对: {text[:30]}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


def parse_quantity(value) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        number = int(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError):
        raise ValueError(f"数量不是整数: {str(value)[:20]}") from None
    if number < 0 or number > 1_000_000:
        raise ValueError(f"数量超出范围: {number}")
    return number


def parse_status(value, aliases: dict[str, str] | None = None) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    table = {**STATUS_ALIASES, **aliases} if aliases else STATUS_ALIASES
    status = table.get(text) or table.get(text.replace(" ", ""))
    if status is None or status not in VALID_STATUSES:
        raise ValueError(f"未知订单状态: {text[:30]}")
    return status


def text(value, limit: int) -> str:
    if value is None:
        return ""
    result = str(value).strip()
    if result in ("null", "None"):
        return ""
    return result[:limit]


def clean_order(raw: dict, tz: ZoneInfo, *, status_aliases: dict[str, str] | None = None,
                time_format: str | None = None) -> dict:
    """RAW (canonical field names → loose values) → clean fields. Only keys present in RAW are
    returned, so a partial update (a shipping event) touches nothing else."""
    order_no = check_identifier(text(raw.get("order_no"), 64), _("订单编号"))
    if not order_no:
        raise ValueError("缺少订单编号")
    if not _ORDER_NO.fullmatch(order_no):
        raise ValueError(f"订单编号含非法字符: {order_no[:30]}")
    data: dict = {"order_no": order_no}
    limits = {"buyer_id": 100, "receiver_name": 100, "receiver_phone": 30, "receiver_address": 300,
              "buyer_message": 500, "carrier": 50, "tracking_no": 64, "coupon_code": 40}
    for key, limit in limits.items():
        if key in raw:
            data[key] = text(raw[key], limit)
    for key, label in (("buyer_id", _("买家")), ("receiver_phone", _("联系手机")), ("tracking_no", _("物流单号"))):
        if key in data:
            check_identifier(data[key], label)
    labels = {"total_amount": "总金额", "paid_amount": "实付金额", "refunded_amount": "退款金额"}
    for key, label in labels.items():
        if key in raw:
            data[key] = parse_amount(raw[key], field=label)
    times = {"created_at": "创建时间", "paid_at": "付款时间", "shipped_at": "发货时间"}
    for key, label in times.items():
        if key in raw:
            data[key] = parse_time(raw[key], tz, field=label, fmt=time_format)
    if "status" in raw:
        data["status"] = parse_status(raw["status"], status_aliases)
    if "item_title" in raw or "items" in raw:
        data["items"] = _items(raw)
    return data


def _items(raw: dict) -> list[dict]:
    if raw.get("items") is not None and not isinstance(raw["items"], list):
        raise ValueError("items 必须是数组（每一项是一个对象）")
    if isinstance(raw.get("items"), list):
        items = []
        for entry in raw["items"][:100]:
            if not isinstance(entry, dict):
                raise ValueError("items 每一项必须是对象")
            items.append({"title": text(entry.get("title"), 200) or "商品",
                          "sku": text(entry.get("sku"), 100),
                          "quantity": parse_quantity(entry.get("quantity")) or 1,
                          "unit_price": parse_amount(entry.get("unit_price"), field="单价")})
        return items
    title = text(raw.get("item_title"), 200)
    if not title:
        return []
    return [{"title": title, "sku": text(raw.get("sku"), 100),
             "quantity": parse_quantity(raw.get("quantity")) or 1,
             "unit_price": parse_amount(raw.get("unit_price"), field="单价") if "unit_price" in raw else None}]
