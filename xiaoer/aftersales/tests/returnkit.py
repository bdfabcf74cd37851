"""A small world for the returns and CSAT tests: a shop, its roles, a shopper with a chat and a paid order."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from xiaoer.accounts.models import Role
from xiaoer.aftersales import returns
from xiaoer.orders.models import Order, OrderStatus
from xiaoer.testing import client_for, make_seat, make_shop, make_staff, owner_of, shopper_arrives


class ReturnWorld:
    def __init__(self, slug: str | None = None) -> None:
        self.shop = make_shop(slug)
        self.owner = owner_of(self.shop)
        self.supervisor = make_staff(self.shop, Role.SUPERVISOR)
        self.agent = make_staff(self.shop, Role.AGENT)
        self.warehouse = make_staff(self.shop, Role.WAREHOUSE)
        self.aftersales = make_staff(self.shop, Role.AFTERSALES)
        self.seat = make_seat(self.shop, operator=self.agent)
        self.session = shopper_arrives(self.shop)
        self.conversation = self.session.conversation
        self.customer_id = self.conversation.customer_id
        returns.do_update_settings(self.owner, return_name="售后组", return_phone="0571-88888888",
                                   return_address="杭州市余杭区仓前街道 1 号")

    def order(self, paid: str = "300.00", *, delivered_days_ago: int = 2, no: str | None = None) -> Order:
        now = timezone.now()
        return Order.objects.create(
            shop=self.shop, buyer_id=self.customer_id, order_no=no or f"O{Order.objects.count() + 1:08d}",
            status=OrderStatus.DELIVERED, total_amount=Decimal(paid), paid_amount=Decimal(paid),
            created_at=now - dt.timedelta(days=10), paid_at=now - dt.timedelta(days=10),
            shipped_at=now - dt.timedelta(days=delivered_days_ago + 1),
            delivered_at=now - dt.timedelta(days=delivered_days_ago), receiver_phone="13800001111")

    def open(self, order: Order | None = None, *, kind: str = "return_refund", reason: str = "quality",
             amount=None, staff=None):
        return returns.do_open_case(staff or self.agent, order or self.order(), kind=kind, reason=reason,
                                    amount=amount, conversation=self.conversation, description="鞋底开胶")

    def client(self, staff=None):
        return client_for(staff or self.owner)
