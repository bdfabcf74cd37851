"""A hand-computed KPI scene (figures worked out in test_definitions.py), built through the public
surface: the chat history import for messages, ``orders.services.upsert_orders`` for orders."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.core.management import call_command
from django.db import transaction

from xiaoer.accounts.models import Role, Seat, Shop, Staff
from xiaoer.knowledge.models import Product, Sku
from xiaoer.orders import services as order_services
from xiaoer.testing import make_shop, make_staff

CN = dt.timezone(dt.timedelta(hours=8))
D1, D2, D3 = dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)


def at(day: dt.date, hhmmss: str) -> str:
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmmss), tzinfo=CN).isoformat()


def line(conv: str, buyer: str, sender: str, when: str, text: str = "…", **extra) -> dict:
    return {"conversation": conv, "buyer": buyer, "sender": sender, "time": when, "text": text, **extra}


# alice: T1 (2 messages, robot in between) and T2 answered by 小美/mei at 10:02 (120 s, 60 s); T3
# answered after 300 s; on D2, T4 answered by 小王/wang after 50 s. bob: T5 (no seat: nobody wrote
# before it) and T6 (小王's robot wrote before it), never answered. carol: T7, 10 s by 小王/wang.
LINES = [
    line("a1", "alice", "shopper", at(D1, "10:00:00"), "在吗", product="P1"),
    line("a1", "alice", "shopper", at(D1, "10:00:30"), "这件有M码吗"),
    line("a1", "alice", "robot", at(D1, "10:00:40"), "您好", seat="小美"),
    line("a1", "alice", "shopper", at(D1, "10:01:00"), "人工"),
    line("a1", "alice", "agent", at(D1, "10:02:00"), "有的", seat="小美", staff="mei"),
    line("a1", "alice", "agent", at(D1, "10:02:10"), "还要别的吗", seat="小美", staff="mei"),
    line("a1", "alice", "shopper", at(D1, "14:00:00"), "发货了吗"),
    line("a1", "alice", "agent", at(D1, "14:05:00"), "今天发", seat="小美", staff="mei"),
    line("a2", "alice", "shopper", at(D2, "09:00:00"), "我又来了"),
    line("a2", "alice", "agent", at(D2, "09:00:50"), "在", seat="小王", staff="wang"),
    line("b1", "bob", "shopper", at(D1, "11:00:00"), "有优惠吗"),
    line("b1", "bob", "robot", at(D1, "11:00:05"), "满减活动", seat="小王"),
    line("b1", "bob", "shopper", at(D1, "11:10:00"), "？"),
    line("c1", "carol", "shopper", at(D1, "20:00:00"), "你好"),
    line("c1", "carol", "agent", at(D1, "20:00:10"), "您好", seat="小王", staff="wang"),
]


def order(no: str, buyer: str, created: str, *, paid: str | None = None, amount: str = "0",
          items: list[dict] | None = None) -> dict:
    row = {"order_no": no, "buyer_id": buyer, "created_at": dt.datetime.fromisoformat(created),
           "total_amount": Decimal(amount), "items": items or []}
    if paid:
        row["paid_at"] = dt.datetime.fromisoformat(paid)
        row["paid_amount"] = Decimal(amount)
    return row


ORDERS = [
    # alice D1 → her D1 inquiry (小美): 100 main (SKU P1-M of P1), 50 related
    order("O1", "alice", at(D1, "10:30:00"), paid=at(D1, "10:40:00"), amount="150", items=[
        {"title": "连衣裙 M", "sku": "P1-M", "quantity": 1, "unit_price": Decimal("100")},
        {"title": "袜子", "sku": "S9", "quantity": 2, "unit_price": Decimal("25")}]),
    # alice D2 → her D2 inquiry (小王), the latest whose window holds it
    order("O2", "alice", at(D2, "12:00:00"), paid=at(D2, "12:10:00"), amount="80", items=[
        {"title": "帽子", "sku": "H1", "quantity": 1, "unit_price": Decimal("80")}]),
    # carol: D3 is past her D1 inquiry's window (silent); D2 23:00 is inside, never paid
    order("O3", "carol", at(D3, "10:00:00"), paid=at(D3, "10:05:00"), amount="60"),
    order("O5", "carol", at(D2, "23:00:00"), amount="70"),
    # dave never chatted: silent
    order("O4", "dave", at(D1, "16:00:00"), paid=at(D1, "16:01:00"), amount="30"),
]


@dataclass
class World:
    shop: Shop
    mei: Staff
    wang: Staff
    seat_mei: Seat
    seat_wang: Seat


def make_world(slug: str | None = None) -> World:
    shop = make_shop(slug)
    mei = make_staff(shop, Role.AGENT, username="mei" if slug is None else f"{slug}-mei")
    wang = make_staff(shop, Role.AGENT, username="wang" if slug is None else f"{slug}-wang")
    seat_mei = Seat.objects.create(shop=shop, name="小美", display_name="小美", operator=mei)
    seat_wang = Seat.objects.create(shop=shop, name="小王", display_name="小王", operator=wang)
    product = Product.objects.create(shop=shop, code="P1", title="连衣裙")
    Sku.objects.create(product=product, code="P1-M")
    return World(shop, mei, wang, seat_mei, seat_wang)


def write_lines(path: Path, lines: list[dict], *, renames: dict[str, str] | None = None) -> Path:
    renames = renames or {}
    with path.open("w", encoding="utf-8") as fh:
        for item in lines:
            item = dict(item)
            if "staff" in item:
                item["staff"] = renames.get(item["staff"], item["staff"])
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return path


def import_chat(shop: Shop, path: Path, *extra: str) -> dict:
    out = io.StringIO()
    call_command("chat", "import", str(path), "--shop", shop.slug, "--json", *extra, stdout=out)
    return json.loads(out.getvalue())


def add_orders(shop: Shop, rows: list[dict]) -> None:
    with transaction.atomic():
        order_services.upsert_orders(shop, rows, source="api")


def kpi_report(shop: Shop, start: dt.date, end: dt.date, by: str = "seat") -> dict:
    out = io.StringIO()
    call_command("kpi", "report", "--shop", shop.slug, "--from", start.isoformat(), "--to", end.isoformat(),
                 "--by", by, "--json", stdout=out)
    return json.loads(out.getvalue())


def settle() -> None:
    """Deliver every pending event, then work off what the KPI listener noted (a task does it
    after each delivery commits; a test's transaction never commits)."""
    from xiaoer.events.testing import deliver_all
    from xiaoer.kpi import compute

    deliver_all()
    compute.process_dirty()
