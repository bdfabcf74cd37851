"""``xiaoer chat import``: past conversations from a JSON Lines file (docs/chat-import.md).

One message a line. Each line lands in its buyer's one conversation (docs/decisions/003) with its
own time, through a bulk path beside the live writer: no fan-out, no robot, no seq gaps. A line's
idempotency key is its ``client_id`` (``sys:imp:`` + a hash of the line's content and its
occurrence), unique per conversation already, so a re-import stores nothing (decision 160).
Each batch emits one ``chat.HistoryImported`` in its transaction: the KPI projection hears it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from django.db import transaction
from django.db.models import F

from xiaoer.accounts.models import Seat, Shop, Staff
from xiaoer.chat.events import HistoryImported
from xiaoer.chat.frames import MAX_BODY, preview
from xiaoer.chat.models import Conversation, ConversationStatus, Message
from xiaoer.customers.models import Customer
from xiaoer.events import emit
from xiaoer.importing import clean_cell

SENDERS = ("shopper", "agent", "robot")
MAX_ID = 100
MAX_LINE_BYTES = 64 * 1024


class ImportFileError(Exception):
    """The file as a whole cannot be read."""


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0
    lines: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped": self.skipped, "errors": self.errors}


@dataclass(frozen=True)
class Line:
    number: int
    conversation: str
    buyer: str
    sender: str
    seat: str
    staff: str
    text: str
    time: dt.datetime
    product: str

    def key(self, occurrence: int) -> str:
        raw = "\x1f".join([self.conversation, self.sender, self.seat, self.staff, self.time.isoformat(),
                           self.text, self.product, str(occurrence)])
        return "sys:imp:" + hashlib.sha1(raw.encode()).hexdigest()  # noqa: S324 - a key, not a secret


def _text(data: dict, name: str, *, limit: int = MAX_ID, required: bool = False) -> str:
    value = data.get(name)
    if value is None:
        value = ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = clean_cell(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} 必须是文字")
    value = clean_cell(value) if name != "text" else value
    if required and not value:
        raise ValueError(f"缺少 {name}")
    if len(value) > limit:
        raise ValueError(f"{name} 超过 {limit} 个字符")
    return value


def parse_line(number: int, raw: bytes) -> Line:
    """One line → Line; ValueError with the reason (in Chinese, shown to the importer)."""
    if len(raw) > MAX_LINE_BYTES:
        raise ValueError(f"一行超过 {MAX_LINE_BYTES // 1024} KiB")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("不是有效的 JSON") from None
    if not isinstance(data, dict):
        raise ValueError("每行必须是一个 JSON 对象")
    sender = _text(data, "sender", required=True)
    if sender not in SENDERS:
        raise ValueError("sender 必须是 shopper、agent 或 robot")
    seat = _text(data, "seat", limit=50)
    if sender != "shopper" and not seat:
        raise ValueError("客服和机器人的消息必须有 seat")
    stamp = _text(data, "time", required=True, limit=40)
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:
        raise ValueError("time 不是 ISO 8601 时间") from None
    if when.tzinfo is None:
        raise ValueError("time 必须带时区，如 +08:00")
    text = _text(data, "text", limit=MAX_BODY)
    product = _text(data, "product", limit=64)
    if not text and not product:
        raise ValueError("text 为空")
    return Line(number=number, conversation=_text(data, "conversation", limit=200, required=True),
                buyer=_text(data, "buyer", required=True), sender=sender,
                seat=seat if sender != "shopper" else "", staff=_text(data, "staff", limit=150) if sender == "agent"
                else "", text=text, time=when.astimezone(dt.UTC), product=product)


class _Batch:
    """Resolves buyers, seats and staff of one batch and stores its messages."""

    def __init__(self, shop: Shop, *, create_seats: bool) -> None:
        self.shop = shop
        self.create_seats = create_seats

    def seats(self, names: set[str]) -> dict[str, int]:
        found = dict(Seat.objects.filter(shop=self.shop, name__in=names).values_list("name", "id"))
        missing = names - found.keys()
        if missing and self.create_seats:
            Seat.objects.bulk_create([Seat(shop=self.shop, name=n, display_name=n) for n in sorted(missing)],
                                     ignore_conflicts=True)
            found.update(Seat.objects.filter(shop=self.shop, name__in=missing).values_list("name", "id"))
        return found

    def staff(self, logins: set[str]) -> dict[str, int]:
        return dict(Staff.objects.filter(shop=self.shop, user__username__in=logins)
                    .values_list("user__username", "id"))

    def conversations(self, buyers: set[str]) -> dict[str, tuple[int, int]]:
        """buyer id → (conversation, customer); new buyers get a customer and a resolved conversation."""
        customers = dict(Customer.objects.filter(shop=self.shop, buyer_id__in=buyers).values_list("buyer_id", "id"))
        missing = buyers - customers.keys()
        if missing:
            Customer.objects.bulk_create([Customer(shop=self.shop, buyer_id=b) for b in sorted(missing)],
                                         ignore_conflicts=True)
            customers.update(Customer.objects.filter(shop=self.shop, buyer_id__in=missing)
                             .values_list("buyer_id", "id"))
        convs: dict[int, int] = {}
        for conv_id, customer_id in (Conversation.objects.filter(shop=self.shop, customer_id__in=customers.values())
                                     .order_by("created_at").values_list("id", "customer_id")):
            convs.setdefault(customer_id, conv_id)
        new = [c for c in customers.values() if c not in convs]
        if new:
            Conversation.objects.bulk_create([Conversation(shop=self.shop, customer_id=c,
                                                           status=ConversationStatus.RESOLVED) for c in new])
            for conv_id, customer_id in Conversation.objects.filter(shop=self.shop, customer_id__in=new) \
                    .values_list("id", "customer_id"):
                convs.setdefault(customer_id, conv_id)
        return {b: (convs[c], c) for b, c in customers.items()}


def store(shop: Shop, lines: list[tuple[Line, str]], *, create_seats: bool, report: ImportReport) -> None:
    """Store one batch of (line, client_id) in the caller's transaction; errors go to REPORT."""
    batch = _Batch(shop, create_seats=create_seats)
    seats = batch.seats({ln.seat for ln, _ in lines if ln.seat})
    staff = batch.staff({ln.staff for ln, _ in lines if ln.staff})
    convs = batch.conversations({ln.buyer for ln, _ in lines})
    good: list[tuple[Line, str, int, int]] = []
    for ln, client_id in lines:
        if ln.seat and ln.seat not in seats:
            report.errors.append({"line": ln.number, "reason": f"没有这个客服席位: {ln.seat} (可用 --create-seats)"})
        elif ln.staff and ln.staff not in staff:
            report.errors.append({"line": ln.number, "reason": f"没有这个客服登录名: {ln.staff}"})
        else:
            conv_id, customer_id = convs[ln.buyer]
            good.append((ln, client_id, conv_id, customer_id))
    report.skipped += len(lines) - len(good)
    existing = set(Message.objects.filter(conversation_id__in={g[2] for g in good},
                                          client_id__in={g[1] for g in good})
                   .values_list("conversation_id", "client_id"))
    fresh = [g for g in good if (g[2], g[1]) not in existing]
    report.skipped += len(good) - len(fresh)
    if not fresh:
        return
    per_conv: dict[int, list[tuple[Line, str, int, int]]] = defaultdict(list)
    for g in sorted(fresh, key=lambda g: (g[2], g[0].time, g[0].number)):
        per_conv[g[2]].append(g)
    rows: list[Message] = []
    for conv_id, items in per_conv.items():
        last_seq = _allocate(conv_id, items)
        for offset, (ln, client_id, _c, _cu) in enumerate(items):
            rows.append(_message(shop.pk, conv_id, last_seq - len(items) + 1 + offset, ln, client_id,
                                 seats.get(ln.seat), staff.get(ln.staff)))
    Message.objects.bulk_create(rows, batch_size=500)
    report.imported += len(rows)
    emit(HistoryImported(shop_id=shop.pk, message_count=len(rows), conversations=[
        [conv_id, items[0][3], min(i[0].time for i in items).isoformat()] for conv_id, items in per_conv.items()]))


def _allocate(conv_id: int, items: list[tuple[Line, str, int, int]]) -> int:
    """Take len(items) seqs of the conversation; returns its new last_seq."""
    latest = max(i[0].time for i in items)
    Conversation.objects.filter(pk=conv_id).update(last_seq=F("last_seq") + len(items))
    Conversation.objects.filter(pk=conv_id, last_message_at__isnull=True).update(
        last_message_at=latest, last_message_preview=preview("text", items[-1][0].text))
    return Conversation.objects.filter(pk=conv_id).values_list("last_seq", flat=True).get()


def _message(shop_id: int, conv_id: int, seq: int, ln: Line, client_id: str, seat_id: int | None,
             staff_id: int | None) -> Message:
    payload = {"imported": True}
    if ln.product:
        payload["product"] = ln.product
    return Message(conversation_id=conv_id, shop_id=shop_id, seq=seq, client_id=client_id, sender_kind=ln.sender,
                   kind="text", internal=False, seat_id=seat_id, staff_id=staff_id, body=ln.text,
                   payload=payload, created_at=ln.time)


def import_file(shop: Shop, path: str | Path, *, create_seats: bool = False, batch_size: int = 1000,
                show_progress: bool = False) -> ImportReport:
    """Import PATH into SHOP, one transaction per batch of lines. Idempotent."""
    from tqdm import tqdm

    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"文件不存在: {path}")
    report = ImportReport()
    seen: Counter[tuple] = Counter()
    pending: list[tuple[Line, str]] = []
    bar = tqdm(total=path.stat().st_size, unit="B", unit_scale=True, file=sys.stderr, disable=not show_progress,
               desc="导入聊天记录", mininterval=0.5)

    def flush() -> None:
        with transaction.atomic():
            store(shop, pending, create_seats=create_seats, report=report)
        pending.clear()

    with path.open("rb") as fh, bar:
        for number, raw in enumerate(fh, start=1):
            bar.update(len(raw))
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            report.lines += 1
            try:
                line = parse_line(number, raw.strip())
            except ValueError as exc:
                report.errors.append({"line": number, "reason": str(exc)})
                report.skipped += 1
                continue
            ident = (line.buyer, line.conversation, line.sender, line.seat, line.staff, line.time, line.text,
                     line.product)
            seen[ident] += 1
            pending.append((line, line.key(seen[ident])))
            if len(pending) >= batch_size:
                flush()
        if pending:
            flush()
    report.errors.sort(key=lambda e: e["line"])
    return report
