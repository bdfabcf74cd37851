"""Demo return cases and a CSAT answer for a shop that has a paid order and a conversation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from xiaoer.accounts.models import Role, Staff
from xiaoer.aftersales import csat, returns
from xiaoer.aftersales.models import CsatSurvey
from xiaoer.chat.models import Conversation
from xiaoer.orders.models import Order, OrderStatus


def seed(shop) -> None:
    owner = Staff.objects.filter(shop=shop, role=Role.OWNER).first()
    conv = Conversation.objects.filter(shop=shop, customer__isnull=False).order_by("pk").first()
    if owner is None or conv is None:
        return
    returns.do_update_settings(owner, return_name="售后组", return_phone="0571-88880000",
                               return_address="杭州市余杭区仓前街道 8 号 售后仓")
    now = timezone.now()
    order, _ = Order.objects.get_or_create(
        shop=shop, order_no="AS-DEMO-1",
        defaults={"buyer_id": conv.customer_id, "status": OrderStatus.DELIVERED, "total_amount": Decimal("199"),
                  "paid_amount": Decimal("199"), "created_at": now - dt.timedelta(days=5),
                  "paid_at": now - dt.timedelta(days=5), "delivered_at": now - dt.timedelta(days=1)})
    if not order.return_cases.exists():
        returns.do_open_case(owner, order, kind="return_refund", reason="size", amount="199",
                             conversation=conv, description="尺码偏小")
    if not CsatSurvey.objects.filter(conversation=conv).exists():
        survey = csat.do_send_by_hand(owner, conv.pk)
        csat.do_answer(survey, 5, "回复很快")
