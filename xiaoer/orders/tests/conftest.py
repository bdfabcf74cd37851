from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from xiaoer.accounts.models import Role
from xiaoer.chat import services as chat_services
from xiaoer.customers import services as customer_services
from xiaoer.notify.backends import LocmemSmsBackend
from xiaoer.orders import parsing
from xiaoer.orders import services as order_services
from xiaoer.testing import make_seat, make_shop, make_staff

_numbers = itertools.count(100001)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _sms_outbox(settings):
    settings.XIAOER_SMS_BACKEND = "xiaoer.notify.backends.LocmemSmsBackend"
    LocmemSmsBackend.outbox = []
    yield LocmemSmsBackend.outbox


@pytest.fixture
def outbox(_sms_outbox):
    return LocmemSmsBackend.outbox


class World:
    """A shop with an agent operating a seat, a warehouse and an after-sales colleague, and a
    buyer who has a conversation with the shop."""

    def __init__(self) -> None:
        self.shop = make_shop()
        self.agent = make_staff(self.shop, Role.AGENT)
        self.seat = make_seat(self.shop, operator=self.agent)
        self.warehouse = make_staff(self.shop, Role.WAREHOUSE)
        self.aftersales = make_staff(self.shop, Role.AFTERSALES)
        self.buyer = customer_services.get_or_create_buyer(self.shop, "tb_buyer_1")
        self.conversation = chat_services.get_or_create_conversation(self.shop, self.buyer)

    def order(self, *, buyer: str | None = "tb_buyer_1", created_at: dt.datetime | None = None, **fields):
        row = {"order_no": str(next(_numbers)), "total_amount": "99.00", "receiver_name": "张三",
               "receiver_phone": "13800000000", "receiver_address": "上海市浦东新区某路 1 号",
               "item_title": "纯棉T恤 白色 L", "quantity": "1", **fields}
        if buyer:
            row["buyer_id"] = buyer
        row["created_at"] = created_at or dt.datetime.now(dt.UTC)
        clean = parsing.clean_order(row, SHANGHAI)
        order, _ = order_services.do_upsert_order(None, self.shop, clean, source="api")
        return order


@pytest.fixture
def world(db) -> World:
    return World()


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)
