"""Orders, their append-only change log, the workflow settings and internal tasks (issue 4).

Workflow state lives in columns of Order (remind_state, confirm_state, shipping_notified_at)
so periodic tasks are idempotent: each step is claimed by a conditional update or a unique
Notice key before anything is sent (docs/decisions/040-workflow-state.md).
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext_lazy as _

from xiaoer.accounts.models import Role, Seat, Shop, Staff
from xiaoer.chat.models import Conversation
from xiaoer.customers.models import Customer


class OrderStatus(models.TextChoices):
    UNPAID = "unpaid", _("待付款")
    PAID = "paid", _("已付款")
    CONFIRMED = "confirmed", _("已核对")
    AWAITING_STOCK_CHECK = "awaiting_stock_check", _("待确认库存")
    READY_TO_SHIP = "ready_to_ship", _("待发货")
    SHIPPED = "shipped", _("已发货")
    DELIVERED = "delivered", _("已签收")
    COMPLETED = "completed", _("交易成功")
    CLOSED = "closed", _("已关闭")
    REFUNDING = "refunding", _("退款中")


class UnpaidCause(models.TextChoices):
    FORGOT = "forgot", _("忘记付款")
    HESITATING = "hesitating", _("犹豫不决")
    DUPLICATE_OR_WRONG_ADDRESS = "duplicate_or_wrong_address", _("重复拍下或地址有误")
    OTHER = "other", _("其他")


class RemindState(models.TextChoices):
    NONE = "", _("未催付")
    SENT = "sent", _("已催付")
    NO_CHANNEL = "no_channel", _("无法联系")


class ConfirmState(models.TextChoices):
    NONE = "", _("未发送")
    ASKED = "asked", _("待顾客核对")
    CONFIRMED = "confirmed", _("已核对")
    TIMEOUT = "timeout", _("超时按原地址")
    NO_CHANNEL = "no_channel", _("无法联系")


class OrderSource(models.TextChoices):
    IMPORT = "import", "导入"
    WEBHOOK = "webhook", "平台推送"
    API = "api", "接口"
    MANUAL = "manual", "手工"


class OrderSettings(models.Model):
    """Per-shop workflow settings; a shop without a row uses the defaults."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="order_settings")
    remind_after_minutes = models.PositiveIntegerField(default=30)
    confirm_timeout_minutes = models.PositiveIntegerField(default=120)
    quiet_start = models.TimeField(default=dt.time(22, 0))
    quiet_end = models.TimeField(default=dt.time(8, 0))
    quiet_enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"settings of {self.shop_id}"


class Order(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="orders")
    order_no = models.CharField(max_length=64, help_text="the platform's order number")
    buyer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    status = models.CharField(max_length=24, choices=OrderStatus.choices, default=OrderStatus.UNPAID)
    source = models.CharField(max_length=10, choices=OrderSource.choices, default=OrderSource.MANUAL)

    total_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    paid_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    refunded_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    receiver_name = models.CharField(max_length=100, blank=True)
    receiver_phone = models.CharField(max_length=30, blank=True)
    receiver_address = models.CharField(max_length=300, blank=True)
    buyer_message = models.CharField(max_length=500, blank=True)
    coupon_code = models.CharField(max_length=40, blank=True)  # the shop coupon used (crm records it)
    carrier = models.CharField(max_length=50, blank=True)
    tracking_no = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(help_text="when the shopper placed it on the platform")
    paid_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    refund_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    attributed_seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    remind_state = models.CharField(max_length=12, choices=RemindState.choices, default="", blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    unpaid_cause = models.CharField(max_length=30, choices=UnpaidCause.choices, blank=True)
    close_reason = models.CharField(max_length=200, blank=True)
    confirm_state = models.CharField(max_length=12, choices=ConfirmState.choices, default="", blank=True)
    confirm_asked_at = models.DateTimeField(null=True, blank=True)
    shipping_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "order_no"], name="order_no_unique_in_shop")]
        indexes = [
            models.Index(fields=["status", "remind_state", "created_at"], name="order_remind_idx"),
            models.Index(fields=["status", "confirm_state", "paid_at"], name="order_confirm_idx"),
            models.Index(fields=["buyer", "-created_at"], name="order_buyer_idx"),
            models.Index(fields=["shop", "-created_at"], name="order_shop_idx"),
        ]

    def __str__(self) -> str:
        return self.order_no


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    title = models.CharField(max_length=200)
    sku = models.CharField(max_length=100, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.title} x{self.quantity}"


CHANGE_KIND_LABELS = {
    "sync": "平台同步", "unpaid_cause": "记录未付款原因", "payment_guide": "付款引导", "remind": "催付",
    "close": "关闭订单", "confirm": "顾客已核对", "confirm_timeout": "超时按原地址", "change": "订单变更",
    "shipping": "发货", "stock_check": "库存确认", "stock_in": "库存：有货", "stock_short": "库存：缺货",
}


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionDenied("订单变更记录不能修改")

    def delete(self):
        raise PermissionDenied("订单变更记录不能删除")


class OrderChange(models.Model):
    """One entry of an order's change log. Append-only: no code path updates or deletes it
    (save() of an existing row, QuerySet.update/delete and the admin all refuse)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=30)
    reason = models.CharField(max_length=300, blank=True)
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    changes = models.JSONField(default=dict, blank=True, help_text="field: [old, new]")
    at = models.DateTimeField()

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["order", "-at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionDenied("订单变更记录不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied("订单变更记录不能删除")

    @property
    def kind_label(self) -> str:
        return CHANGE_KIND_LABELS.get(self.kind, self.kind)


class TaskKind(models.TextChoices):
    STOCK_CHECK = "stock_check", _("库存确认")
    DAMAGED_PARCEL = "damaged_parcel", _("包裹破损")
    MISSING_ITEM = "missing_item", _("缺件少件")
    LOGISTICS = "logistics", _("物流问题")
    PROCESS = "process", _("流程问题")
    OTHER = "other", _("其他")


# Who answers what. Logistics colleagues use the warehouse role.
TASK_ROLES = {
    TaskKind.STOCK_CHECK: Role.WAREHOUSE,
    TaskKind.DAMAGED_PARCEL: Role.AFTERSALES,
    TaskKind.MISSING_ITEM: Role.WAREHOUSE,
    TaskKind.LOGISTICS: Role.WAREHOUSE,
    TaskKind.PROCESS: Role.AFTERSALES,
    TaskKind.OTHER: Role.AFTERSALES,
}


class TaskStatus(models.TextChoices):
    OPEN = "open", _("待处理")
    ANSWERED = "answered", _("已答复")


class Task(models.Model):
    """An internal task raised by an agent (stock check, damaged parcel, ...) to a colleague role."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="order_tasks")
    kind = models.CharField(max_length=20, choices=TaskKind.choices)
    assignee_role = models.CharField(max_length=20, choices=Role.choices)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    question = models.CharField(max_length=1000)
    raised_by = models.ForeignKey(Staff, null=True, on_delete=models.SET_NULL, related_name="+")
    raised_seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    answer = models.CharField(max_length=1000, blank=True)
    in_stock = models.BooleanField(null=True, blank=True)
    short_by = models.PositiveIntegerField(null=True, blank=True)
    answered_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["shop", "assignee_role", "status", "created_at"], name="task_queue_idx"),
            models.Index(fields=["conversation", "-created_at"], name="task_conv_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class WebhookEvent(models.Model):
    """Event ids seen on the order webhook, so a replayed delivery changes nothing."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(max_length=100)
    event = models.CharField(max_length=30)
    order_no = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "event_id"], name="webhook_event_unique")]

    def __str__(self) -> str:
        return self.event_id
