"""A shop for the coupon, questionnaire and birthday tests: owner, supervisor, agent with a seat,
and buyers (helpers, not fixtures: each test module declares the fixture it needs)."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from django.test import Client

from xiaoer.accounts.models import Role
from xiaoer.crm import coupons
from xiaoer.customers import services as customer_services
from xiaoer.orders import parsing
from xiaoer.orders import services as order_services
from xiaoer.testing import PASSWORD, make_seat, make_shop, make_staff, owner_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
_numbers = itertools.count(700001)


class CareWorld:
    def __init__(self, name: str = "关怀小店") -> None:
        self.shop = make_shop(name=name)
        self.owner = owner_of(self.shop)
        self.supervisor = make_staff(self.shop, Role.SUPERVISOR)
        self.agent = make_staff(self.shop, Role.AGENT)
        self.seat = make_seat(self.shop, operator=self.agent)
        self.buyer = customer_services.get_or_create_buyer(self.shop, "tb_care_1", name="小雨")

    def customer(self, buyer_id: str, **fields):
        customer = customer_services.get_or_create_buyer(self.shop, buyer_id)
        for key, value in fields.items():
            setattr(customer, key, value)
        if fields:
            customer.save()
        return customer

    def batch(self, **fields):
        values = {"name": "满100减10", "kind": "amount", "value": "10", "threshold": "100", **fields}
        return coupons.do_create_batch(self.owner, **values)

    def order(self, *, buyer: str = "tb_care_1", **fields):
        row = {"order_no": str(next(_numbers)), "buyer_id": buyer, "total_amount": "120.00",
               "created_at": dt.datetime.now(dt.UTC), **fields}
        clean = parsing.clean_order(row, SHANGHAI)
        order, _ = order_services.do_upsert_order(None, self.shop, clean, source="webhook")
        return order

    def client(self, staff=None) -> Client:
        client = Client()
        assert client.login(username=(staff or self.owner).user.username, password=PASSWORD)
        return client
