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


# --- Coupons, questionnaires, birthday care (issue 11; docs/customers-care.md) -------------------

class CouponKind(models.TextChoices):
    AMOUNT = "amount", "立减金额"
    PERCENT = "percent", "折扣"


class CouponReason(models.TextChoices):
    QUESTIONNAIRE = "questionnaire", "问卷奖励"
    REVISIT = "revisit", "回访"
    COMPENSATION = "compensation", "补偿"
    BIRTHDAY = "birthday", "生日关怀"
    MANUAL = "manual", "手动发放"


class CouponBatch(models.Model):
    """A kind of coupon the shop issues: VALUE yuan off (AMOUNT) or VALUE percent off (PERCENT)
    from THRESHOLD on, valid in a window or for VALID_DAYS after issue, at most LIMIT of them."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=40)
    kind = models.CharField(max_length=8, choices=CouponKind.choices, default=CouponKind.AMOUNT)
    value = models.DecimalField(max_digits=10, decimal_places=2)
    threshold = models.DecimalField(max_digits=10, decimal_places=2, default=0)  # 满 X 可用; 0: none
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    valid_days = models.PositiveSmallIntegerField(null=True, blank=True)  # counted from the issue
    limit = models.PositiveIntegerField(null=True, blank=True)  # null: no count limit
    issued_count = models.PositiveIntegerField(default=0)  # moved by a conditional UPDATE (race-safe)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    """One coupon issued to one customer; at most one per customer per batch (a constraint, so a
    double submit or two workers cannot issue two)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    batch = models.ForeignKey(CouponBatch, on_delete=models.CASCADE, related_name="coupons")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="coupons")
    code = models.CharField(max_length=16, unique=True)  # secrets-drawn, readable alphabet
    reason = models.CharField(max_length=16, choices=CouponReason.choices, default=CouponReason.MANUAL)
    issued_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")  # null: a rule (RULE says which)
    rule = models.CharField(max_length=40, blank=True)  # "questionnaire:12", "birthday:2027", …
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    redeemed_via = models.CharField(max_length=10, blank=True)  # import, webhook, api, manual
    redeemed_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "customer"], name="crm_coupon_once_per_batch")]
        indexes = [models.Index(fields=["customer", "-issued_at"], name="crm_coupon_customer")]

    def __str__(self) -> str:
        return self.code


class QuestionKind(models.TextChoices):
    SINGLE = "single", "单选"
    MULTIPLE = "multiple", "多选"
    TEXT = "text", "文字"
    DATE = "date", "日期"


class Questionnaire(models.Model):
    """A short questionnaire (at most 20 questions); completing it issues COUPON_BATCH once."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=60)
    intro = models.CharField(max_length=300, blank=True)
    coupon_batch = models.ForeignKey(CouponBatch, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=QuestionKind.choices, default=QuestionKind.SINGLE)
    choices = models.JSONField(default=list, blank=True)  # single/multiple: the options (≤ 10)
    required = models.BooleanField(default=False)
    # The profile field an answer fills: gender, birthday, city, age_band, or attr:<custom key>.
    maps_to = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class QuestionnaireResponse(models.Model):
    """A customer's answers; one per customer per questionnaire (the double-submit guard)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.CASCADE, related_name="responses")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="questionnaire_responses")
    answers = models.JSONField(default=dict)  # {question id (str): answer as shown}
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    submitted_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["questionnaire", "customer"],
                                               name="crm_response_once_per_customer")]

    def __str__(self) -> str:
        return f"{self.questionnaire_id}: {self.customer_id}"


class CareSettings(models.Model):
    """A shop's birthday care: the message, an optional coupon batch and the hours (shop time)
    in which greetings go out."""

    shop = models.OneToOneField(Shop, primary_key=True, on_delete=models.CASCADE, related_name="+")
    birthday_enabled = models.BooleanField(default=False)
    birthday_message = models.CharField(max_length=300, default="亲爱的{name}，{shop}祝您生日快乐！{coupon}")
    birthday_batch = models.ForeignKey(CouponBatch, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    hours_start = models.PositiveSmallIntegerField(default=10)  # first hour greetings may go out
    hours_end = models.PositiveSmallIntegerField(default=20)  # greetings stop at this hour

    def __str__(self) -> str:
        return f"care {self.shop_id}"


class BirthdayGreeting(models.Model):
    """The claim: one row per customer per year, inserted before the notice is queued and in
    the same transaction, so a crash or a second worker never greets twice."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField()
    channel = models.CharField(max_length=8)  # chat, sms
    notice_key = models.CharField(max_length=150)
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "year"], name="crm_birthday_once_a_year")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.year}"
