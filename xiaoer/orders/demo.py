"""Demo orders for the demo shop's customers (called by ``xiaoer demo`` through seed(shop))."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from xiaoer.accounts.models import Role, Shop, Staff
from xiaoer.chat.models import Conversation
from xiaoer.customers.models import Customer
from xiaoer.orders import services as order_services
from xiaoer.orders.models import Order, OrderSource, OrderStatus, TaskKind

ADDRESS = "浙江省杭州市西湖区文三路 {n} 号"


def _row(no: str, buyer: str, *, ago: dt.timedelta, title: str, price: str, qty: int = 1,
         paid: bool = False, name: str = "", **extra) -> dict:
    now = timezone.now()
    created = now - ago
    row = {"order_no": no, "buyer_id": buyer, "created_at": created, "total_amount": price,
           "receiver_name": name or "顾客", "receiver_phone": "13800000000",
           "receiver_address": ADDRESS.format(n=len(no)), "items": [{"title": title, "quantity": qty,
                                                                      "unit_price": price}]}
    if paid:
        row.update(paid_at=created + dt.timedelta(minutes=3), paid_amount=price)
    row.update(extra)
    return row


def seed(shop: Shop) -> None:
    prefix = f"DEMO{shop.pk}-"
    if Order.objects.filter(shop=shop, order_no__startswith=prefix).exists():
        return
    buyers = list(Customer.objects.filter(shop=shop, buyer_id__isnull=False).order_by("id")
                  .values_list("buyer_id", "name"))
    if not buyers:
        return
    by_id = dict(buyers)

    def pick(preferred: str, index: int) -> tuple[str, str]:
        if preferred in by_id:
            return preferred, by_id[preferred]
        buyer = buyers[index % len(buyers)]
        return buyer[0], buyer[1]

    akang, xiaoyu, xiaofeng, lin = (pick("tb_akang", 0), pick("tb_xiaoyu", 1), pick("tb_xiaofeng", 2),
                                    pick("tb_lin", 3))
    rows = [
        # Unpaid for 40 minutes: the next reminder sweep sends 催付 (outside quiet hours).
        _row(prefix + "1001", akang[0], name=akang[1], ago=dt.timedelta(minutes=40),
             title="加绒连帽卫衣 黑色 XL", price="258.00", qty=2),
        _row(prefix + "1002", akang[0], name=akang[1], ago=dt.timedelta(days=2),
             title="加绒连帽卫衣 黑色 XL", price="129.00"),
        # Paid an hour ago: order confirmation (核对订单) goes out on the next sweep.
        _row(prefix + "1003", xiaoyu[0], name=xiaoyu[1], ago=dt.timedelta(hours=1), paid=True,
             title="碎花连衣裙 S 码", price="189.00", buyer_message="请不要放发票"),
        # Shipped (old enough that seeding sends no notice).
        _row(prefix + "1004", xiaofeng[0], name=xiaofeng[1], ago=dt.timedelta(days=8), paid=True,
             title="不锈钢保温杯 500ml", price="79.00", carrier="中通快递", tracking_no="ZT7310000001",
             shipped_at=timezone.now() - dt.timedelta(days=3)),
        _row(prefix + "1005", lin[0], name=lin[1], ago=dt.timedelta(days=20), paid=True,
             title="手绘陶瓷马克杯", price="59.00", status=OrderStatus.COMPLETED),
        _row(prefix + "1006", lin[0], name=lin[1], ago=dt.timedelta(hours=3), paid=True,
             title="手绘陶瓷马克杯 一对装", price="109.00"),
    ]
    order_services.upsert_orders(shop, rows, source=OrderSource.MANUAL, reason="演示数据")
    agent = Staff.objects.filter(shop=shop, role=Role.AGENT, is_active=True).order_by("id").first()
    if agent is None:
        return
    orders = {o.order_no.removeprefix(prefix): o for o in Order.objects.filter(shop=shop, order_no__startswith=prefix)}
    supervisor = Staff.objects.filter(shop=shop, role__in=[Role.OWNER, Role.SUPERVISOR],
                                      is_active=True).order_by("id").first() or agent

    def serving(order: Order) -> Staff:
        """Whoever operates the seat serving the buyer's conversation (the one rule: 081)."""
        conv = Conversation.objects.filter(shop=shop, customer_id=order.buyer_id).select_related("seat").first()
        operator = conv.seat.operator if conv and conv.seat and conv.seat.operator else None
        # No seat serves it yet (a visitor, or waiting in the queue): only a supervisor may act.
        return operator or supervisor

    order_services.do_record_unpaid_cause(agent, orders["1002"], "duplicate_or_wrong_address", "重复拍下了一单")
    order_services.do_close_order(serving(orders["1002"]), orders["1002"], "顾客重复拍下，保留另一单")
    order_services.do_confirm_order(serving(orders["1006"]), orders["1006"])
    order_services.do_raise_stock_check(agent, orders["1006"], "一对装还有现货吗？上次运输破损过，请加气泡膜")
    order_services.do_raise_task(agent, kind=TaskKind.LOGISTICS, order=orders["1004"],
                                 question="顾客说物流三天没更新，请帮忙问一下中通网点")
