"""``xiaoer chat import``: JSON Lines history, idempotent, bad lines with number and reason."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command

from xiaoer.accounts.models import Role, Seat
from xiaoer.chat.models import Conversation, Message
from xiaoer.events.models import OutboxEvent
from xiaoer.testing import make_seat, make_shop, make_staff

pytestmark = pytest.mark.django_db


def _run(shop, path, *extra) -> dict:
    out = io.StringIO()
    call_command("chat", "import", str(path), "--shop", shop.slug, "--json", *extra, stdout=out)
    return json.loads(out.getvalue())


def _write(path, lines: list) -> None:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines),
                    encoding="utf-8")


GOOD = [
    {"conversation": "9", "buyer": "tb_a", "sender": "shopper", "text": "在吗", "time": "2026-11-02T10:00:00+08:00",
     "product": "P1"},
    {"conversation": "9", "buyer": "tb_a", "sender": "agent", "seat": "阿美", "staff": "amei", "text": "在的",
     "time": "2026-11-02T10:01:00+08:00"},
    {"conversation": "9", "buyer": "tb_a", "sender": "robot", "seat": "阿美", "text": "自动回复",
     "time": "2026-11-02T10:00:30+08:00"},
]


def test_import_keeps_times_and_order_and_is_idempotent(tmp_path):
    shop = make_shop()
    make_staff(shop, Role.AGENT, username="amei")
    make_seat(shop, "阿美")  # display name only: the file names seats by Seat.name
    Seat.objects.filter(shop=shop, display_name="阿美").update(name="阿美")
    path = tmp_path / "h.jsonl"
    _write(path, GOOD)
    assert _run(shop, path) == {"imported": 3, "skipped": 0, "errors": []}
    conv = Conversation.objects.get(shop=shop, customer__buyer_id="tb_a")
    msgs = list(Message.objects.filter(conversation=conv).order_by("seq"))
    assert [m.sender_kind for m in msgs] == ["shopper", "robot", "agent"]  # stored in time order
    assert msgs[0].created_at == dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
    assert msgs[0].payload == {"imported": True, "product": "P1"}
    assert msgs[2].staff.user.username == "amei"
    assert OutboxEvent.objects.filter(name="chat.HistoryImported", shop_id=shop.pk).count() == 1
    assert not OutboxEvent.objects.filter(name="chat.MessagesCommitted", shop_id=shop.pk).exists()

    assert _run(shop, path) == {"imported": 0, "skipped": 3, "errors": []}  # a re-import adds nothing
    _write(path, [*GOOD, {**GOOD[0], "text": "还在吗", "time": "2026-11-02T10:05:00+08:00"}])
    assert _run(shop, path)["imported"] == 1
    assert Message.objects.filter(conversation=conv).count() == 4


def test_bad_lines_are_reported_with_number_and_reason(tmp_path):
    shop = make_shop()
    path = tmp_path / "bad.jsonl"
    _write(path, [
        "{not json",
        {**GOOD[0], "sender": "boss"},
        {**GOOD[0], "time": "2026-11-02 10:00"},
        {**GOOD[1]},  # the seat does not exist
        {**GOOD[0], "buyer": ""},
        "",
        {**GOOD[0]},
    ])
    report = _run(shop, path)
    assert report["imported"] == 1
    assert [e["line"] for e in report["errors"]] == [1, 2, 3, 4, 5]
    reasons = " ".join(e["reason"] for e in report["errors"])
    assert "JSON" in reasons and "sender" in reasons and "时区" in reasons and "阿美" in reasons and "buyer" in reasons


def test_create_seats_and_unknown_staff(tmp_path):
    shop = make_shop()
    path = tmp_path / "h.jsonl"
    _write(path, GOOD)
    report = _run(shop, path, "--create-seats")
    assert Seat.objects.filter(shop=shop, name="阿美").exists()
    assert report["imported"] == 2
    assert report["errors"] == [{"line": 2, "reason": "没有这个客服登录名: amei"}]


def test_other_shops_buyers_are_not_touched(tmp_path):
    shop, other = make_shop(), make_shop()
    path = tmp_path / "h.jsonl"
    _write(path, GOOD[:1])
    _run(other, path)
    _run(shop, path)
    assert Conversation.objects.filter(customer__buyer_id="tb_a").count() == 2
    assert {c.shop_id for c in Conversation.objects.filter(customer__buyer_id="tb_a")} == {shop.pk, other.pk}
