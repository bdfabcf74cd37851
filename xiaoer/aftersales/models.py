"""Models of aftersales."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from xiaoer.accounts.models import Seat, Shop, Staff
from xiaoer.chat.models import Conversation
from xiaoer.customers.models import Customer
from xiaoer.orders.models import Order

# === returns and exchanges, CSAT (h9: docs/aftersales.md "Returns and exchanges",
# "Satisfaction survey") ===========================================================================


class CaseKind(models.TextChoices):
    REFUND_ONLY = "refund_only", _("仅退款")
    RETURN_REFUND = "return_refund", _("退货退款")
    EXCHANGE = "exchange", _("换货")
    REISSUE = "reissue", _("补发")


class CaseReason(models.TextChoices):
    QUALITY = "quality", _("质量问题")
    WRONG_ITEM = "wrong_item", _("发错货")
    SIZE = "size", _("尺码不合适")
    COLOUR = "colour", _("色差")
    DAMAGED = "damaged", _("运输损坏")
    MISSING = "missing", _("少件漏发")
    NOT_AS_DESCRIBED = "not_as_described", _("与描述不符")
    NO_REASON = "no_reason", _("七天无理由")
    OTHER = "other", _("其他")


class CaseState(models.TextChoices):
    REQUESTED = "requested", _("待审核")
    APPROVED = "approved", _("已同意")
    REJECTED = "rejected", _("已拒绝")
    AWAITING_RETURN = "awaiting_return", _("待买家退货")
    RECEIVED = "received", _("已收到退货")
    REFUNDED = "refunded", _("已退款")
    REPLACEMENT_SHIPPED = "replacement_shipped", _("已发出换货/补发")
    CLOSED = "closed", _("已关闭")


class PostagePayer(models.TextChoices):
    BUYER = "buyer", _("买家承担")
    SHOP = "shop", _("店铺承担")
    INSURANCE = "insurance", _("运费险承担")
    NONE = "none", _("无需退回")


class ReturnSettings(models.Model):
    """A shop's after-sales rules (defaults in xiaoer/aftersales/returns.py DEFAULT_POSTAGE)."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="return_settings")
    approve_within_hours = models.PositiveIntegerField(default=24)
    refund_within_days = models.PositiveIntegerField(default=3)
    no_reason_days = models.PositiveIntegerField(default=7)
    shipping_insurance = models.BooleanField(default=False)
    agent_refund_limit = models.DecimalField(max_digits=12, decimal_places=2, default=200)
    # reason → "buyer" / "shop": who pays the return postage (docs/aftersales.md)
    postage_table = models.JSONField(default=dict, blank=True)
    return_name = models.CharField(max_length=50, blank=True)
    return_phone = models.CharField(max_length=30, blank=True)
    return_address = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"return settings of shop {self.shop_id}"


class ReturnCase(models.Model):
    """售后单: one request about one order, moved on by ``returns.do_*`` only."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="return_cases")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="return_cases")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=16, choices=CaseKind.choices)
    reason = models.CharField(max_length=20, choices=CaseReason.choices)
    description = models.CharField(max_length=500, blank=True)
    photo_message_ids = models.JSONField(default=list, blank=True)  # image messages of the chat
    state = models.CharField(max_length=20, choices=CaseState.choices, default=CaseState.REQUESTED)
    requested_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    refunded_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    postage_payer = models.CharField(max_length=10, choices=PostagePayer.choices)
    postage_rule = models.CharField(max_length=40)
    postage_why = models.CharField(max_length=200)
    postage_override_note = models.CharField(max_length=300, blank=True)
    reject_reason = models.CharField(max_length=300, blank=True)
    return_carrier = models.CharField(max_length=50, blank=True)
    return_tracking_no = models.CharField(max_length=64, blank=True)
    received_condition = models.CharField(max_length=300, blank=True)
    replacement_carrier = models.CharField(max_length=50, blank=True)
    replacement_tracking_no = models.CharField(max_length=64, blank=True)
    opened_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    opened_at = models.DateTimeField()
    approve_due_at = models.DateTimeField()
    received_at = models.DateTimeField(null=True, blank=True)
    refund_due_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["shop", "state", "-opened_at"], name="return_case_shop_idx")]

    def __str__(self) -> str:
        return f"售后单 #{self.pk} [{self.state}]"


class CaseStep(models.Model):
    """Every step of a case: who (person and seat), when, from which state to which, and why."""

    case = models.ForeignKey(ReturnCase, on_delete=models.CASCADE, related_name="steps")
    action = models.CharField(max_length=30)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20)
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    by_shopper = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} → {self.to_state}"


class CsatSurvey(models.Model):
    """One satisfaction card per conversation (the unique constraint is the 'at most once')."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="csat_surveys")
    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="csat")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    served_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sent_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sent_at = models.DateTimeField()
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.CharField(max_length=300, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["shop", "-sent_at"], name="csat_shop_idx")]

    def __str__(self) -> str:
        return f"CSAT of conversation {self.conversation_id}: {self.rating}"

# === end of h9's block ============================================================================
