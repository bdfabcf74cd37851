"""What crm keeps about a shop's customers (docs/customers.md)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy

from xiaoer.accounts.models import Shop, Staff
from xiaoer.customers.models import Customer, ShopperType


class CustomerValue(models.Model):
    """A customer's value, projected from order events (a durable listener) and rebuilt in full by
    `xiaoer customers recompute`. One row per customer with at least one order."""

    customer = models.OneToOneField(Customer, primary_key=True, on_delete=models.CASCADE, related_name="value")
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    paid_orders = models.PositiveIntegerField(default=0)
    total_paid = models.DecimalField(max_digits=14, decimal_places=2, default=0)  # paid minus refunded
    refunded = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    refund_orders = models.PositiveIntegerField(default=0)
    first_purchase_at = models.DateTimeField(null=True, blank=True)
    last_purchase_at = models.DateTimeField(null=True, blank=True)
    purchase_cycle_days = models.FloatField(null=True, blank=True)  # null under two paid orders
    level = models.PositiveSmallIntegerField(default=0)  # 0: no level reached
    # RFM as of RFM_AS_OF (refreshed daily and by the recompute command; quintiles move with every
    # order, so the stored scores are a daily snapshot; exports with --as-of compute exactly).
    rfm_as_of = models.DateField(null=True, blank=True)
    recency_days = models.PositiveIntegerField(null=True, blank=True)
    r = models.PositiveSmallIntegerField(null=True, blank=True)
    f = models.PositiveSmallIntegerField(null=True, blank=True)
    m = models.PositiveSmallIntegerField(null=True, blank=True)
    rfm_segment = models.CharField(max_length=8, blank=True, default="")  # "重要价值", …
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["shop", "total_paid"], name="crm_value_shop_paid"),
            models.Index(fields=["shop", "last_purchase_at"], name="crm_value_shop_last"),
            models.Index(fields=["shop", "rfm_segment"], name="crm_value_shop_segment"),
            # the customers page: sort by paid orders, filter by level (docs/decisions/136)
            models.Index(fields=["shop", "paid_orders"], name="crm_value_shop_orders"),
            models.Index(fields=["shop", "level"], name="crm_value_shop_level"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.total_paid}"


class LevelBasis(models.TextChoices):
    TOTAL_PAID = "total_paid", "累计消费"
    PAID_ORDERS = "paid_orders", "成交笔数"


class LevelRule(models.Model):
    """VIP level N is reached at THRESHOLD of BASIS (the shop sets them; the highest reached wins)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    level = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=20)  # "VIP1", "金卡", …
    basis = models.CharField(max_length=12, choices=LevelBasis.choices, default=LevelBasis.TOTAL_PAID)
    threshold = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["level"]
        constraints = [models.UniqueConstraint(fields=["shop", "level"], name="crm_level_unique_in_shop")]

    def __str__(self) -> str:
        return self.name


# --- attributes spotted in chat, shopper types (docs/customers-spotting.md) -------------------------
class SpottedKind(models.TextChoices):
    PHONE = "phone", gettext_lazy("手机/电话")
    EMAIL = "email", gettext_lazy("邮箱")
    ADDRESS = "address", gettext_lazy("地址")
    HEIGHT = "height", gettext_lazy("身高(cm)")
    WEIGHT = "weight", gettext_lazy("体重(kg)")
    SIZE = "size", gettext_lazy("常穿尺码")
    SHOE_SIZE = "shoe_size", gettext_lazy("鞋码")
    BIRTHDAY = "birthday", gettext_lazy("生日")
    WECHAT = "wechat", gettext_lazy("微信")
    QQ = "qq", gettext_lazy("QQ")
    GENDER = "gender", gettext_lazy("性别")


class ProposalState(models.TextChoices):
    PROPOSED = "proposed", gettext_lazy("待确认")
    CONFIRMED = "confirmed", gettext_lazy("已确认")
    DISMISSED = "dismissed", gettext_lazy("已忽略")


class AttributeProposal(models.Model):
    """An attribute a shopper stated in a chat message, waiting for an agent to confirm it (then it
    is a profile fact, and this row is its record: source message, who, when) or dismiss it. One
    row per (customer, kind, spotted value): a value is proposed once, whatever its fate."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="attribute_proposals")
    kind = models.CharField(max_length=12, choices=SpottedKind.choices)
    value = models.CharField(max_length=300)  # as spotted (normalised); the key for "proposed once"
    parts = models.JSONField(default=dict, blank=True)  # address parts, birthday month/day/lunar, units
    # The source message (ids, not foreign keys: crm keeps its record if chat history is pruned).
    conversation_id = models.BigIntegerField()
    message_id = models.BigIntegerField()
    excerpt = models.CharField(max_length=200)  # the message text around the value, for the panel
    state = models.CharField(max_length=10, choices=ProposalState.choices, default=ProposalState.PROPOSED)
    confirmed_value = models.CharField(max_length=300, blank=True)  # what the agent kept (may be edited)
    decided_by = models.ForeignKey("accounts.Staff", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["customer", "kind", "value"], name="crm_proposal_once")]
        indexes = [models.Index(fields=["shop", "customer", "state"], name="crm_proposal_customer_state")]

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"


class ShopperTypeTip(models.Model):
    """A shop's own handling tips for one shopper type (without a row: the defaults we wrote,
    crm.shopper_types.DEFAULT_TIPS)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    shopper_type = models.CharField(max_length=12, choices=ShopperType.choices)
    tips = models.TextField(max_length=1000)
    updated_by = models.ForeignKey("accounts.Staff", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "shopper_type"], name="crm_tip_once_per_type")]

    def __str__(self) -> str:
        return self.shopper_type


class Segment(models.Model):
    """A saved filter of the customers page (docs/customers-pages.md)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=40)
    filters = models.JSONField(default=dict)  # the cleaned filter of crm.listing.check_filters
    created_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["shop", "name"], name="crm_segment_unique_in_shop")]

    def __str__(self) -> str:
        return self.name


class ExportLog(models.Model):
    """Who exported which customers, when, and how many rows (every export is logged)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    filters = models.JSONField(default=dict)
    file_format = models.CharField(max_length=4)  # csv | xlsx
    row_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.staff_id} {self.created_at:%Y-%m-%d %H:%M} {self.row_count}"
