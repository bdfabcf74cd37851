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


# === reviews and follow-ups, revisit campaigns (h10: docs/reviews-and-revisits.md) ===============


class ReviewRating(models.TextChoices):
    GOOD = "good", _("好评")
    MEDIUM = "medium", _("中评")
    BAD = "bad", _("差评")


class ReviewCause(models.TextChoices):
    QUALITY = "quality", _("质量")
    SIZE = "size", _("尺码")
    COLOUR = "colour", _("颜色")
    LOGISTICS = "logistics", _("物流")
    SERVICE = "service", _("服务")
    NOT_AS_DESCRIBED = "not_as_described", _("与描述不符")
    OTHER = "other", _("其他")


class ReviewOutcome(models.TextChoices):
    REVISED = "revised", _("买家已修改评价")
    EXPLAINED = "explained", _("已发解释回复")
    COMPENSATED = "compensated", _("已补偿（优惠券或部分退款）")
    NO_CONTACT = "no_contact", _("联系不上")


class ReviewSettings(models.Model):
    """Per-shop review handling settings (decision 190)."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="review_settings")
    revision_days = models.PositiveIntegerField(default=30)

    def __str__(self) -> str:
        return f"review settings of shop {self.shop_id}"


class ReplyTemplate(models.Model):
    """A reply the shop posts under a review: a thank-you (good) or an explanation (medium/bad).
    ``{buyer}`` and ``{product}`` are filled in."""

    class Kind(models.TextChoices):
        THANKS = "thanks", _("感谢回复")
        EXPLAIN = "explain", _("解释回复")

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    title = models.CharField(max_length=50)
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "id"]

    def __str__(self) -> str:
        return self.title


class Review(models.Model):
    """One platform review of one product of one order. Natural key (shop, order_no, product):
    a re-import updates it, never duplicates it."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    order_no = models.CharField(max_length=64)
    product = models.CharField(max_length=200, blank=True)
    buyer_id = models.CharField(max_length=100, blank=True)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    order_id_ref = models.BigIntegerField(null=True, blank=True, help_text="id of the matching order, if any")
    seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rating = models.CharField(max_length=8, choices=ReviewRating.choices)
    stars = models.PositiveSmallIntegerField(null=True, blank=True)
    text = models.CharField(max_length=2000, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    followup_text = models.CharField(max_length=2000, blank=True, help_text="追评")
    first_rating = models.CharField(max_length=8, choices=ReviewRating.choices)
    revised = models.BooleanField(default=False, help_text="medium/bad first, good later")
    reply_text = models.CharField(max_length=500, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    replied_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "order_no", "product"], name="review_natural_key")]
        indexes = [models.Index(fields=["shop", "reviewed_at"])]

    def __str__(self) -> str:
        return f"{self.order_no} {self.rating}"


class ReviewFollowUp(models.Model):
    """The follow-up of a medium or bad review; one per review at most (a DB-unique link)."""

    class State(models.TextChoices):
        OPEN = "open", _("处理中")
        CLOSED = "closed", _("已结束")

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    review = models.OneToOneField(Review, on_delete=models.CASCADE, related_name="follow_up")
    seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assignee_role = models.CharField(max_length=20, blank=True, help_text="set when no seat served the buyer")
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    cause = models.CharField(max_length=20, choices=ReviewCause.choices, blank=True)
    outcome = models.CharField(max_length=20, choices=ReviewOutcome.choices, blank=True)
    reply_text = models.CharField(max_length=500, blank=True)
    note = models.CharField(max_length=500, blank=True)
    deadline = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["shop", "state", "deadline"])]

    def __str__(self) -> str:
        return f"follow-up of review {self.review_id}"


# ---- Revisit campaigns (h10: docs/reviews-and-revisits.md, decisions 193–194) -----------------


class CampaignTarget(models.TextChoices):
    PAID_NO_REVIEW = "paid_no_review", _("付款 7–14 天前、已签收、未评价")
    SEGMENT = "segment", _("已保存的客户分组")


class CampaignState(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SCHEDULED = "scheduled", _("已排期")
    DONE = "done", _("已发完")
    STOPPED = "stopped", _("已停止")


class Campaign(models.Model):
    """A revisit campaign: whom (a target), what (a template with {name} {shop} {coupon}), when
    (a start time, a per-minute rate, never in the shop's quiet hours), with an optional coupon."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=50)
    target = models.CharField(max_length=20, choices=CampaignTarget.choices)
    segment = models.ForeignKey("crm.Segment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.CharField(max_length=500)
    coupon_batch = models.ForeignKey("crm.CouponBatch", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    starts_at = models.DateTimeField()
    rate_per_minute = models.PositiveIntegerField(default=60)
    orders_within_days = models.PositiveIntegerField(default=7, help_text="an order this soon after counts")
    state = models.CharField(max_length=10, choices=CampaignState.choices, default=CampaignState.DRAFT)
    created_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "starts_at"])]

    def __str__(self) -> str:
        return self.name


class CampaignSend(models.Model):
    """The claim of one customer in one campaign, inserted in the transaction that queues the
    message: unique (campaign, customer), so no crash or second worker sends twice (decision 193)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="sends")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=8)
    conversation_id_ref = models.BigIntegerField(null=True, blank=True)
    notice_key = models.CharField(max_length=150)
    coupon = models.ForeignKey("crm.Coupon", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "customer"], name="campaign_send_once")]
        indexes = [models.Index(fields=["campaign", "sent_at"])]

    def __str__(self) -> str:
        return self.notice_key
