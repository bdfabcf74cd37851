"""Customers belong to the shop, not to an agent (docs/decisions/001-layout-and-tenancy.md)."""

from __future__ import annotations

from django.db import models

from xiaoer.accounts.models import Seat, Shop, Staff


class ShopperType(models.TextChoices):
    """The eight shopper types of the domain (docs/customers.md "Shopper types")."""

    OUTGOING = "outgoing", "外向型"
    EASYGOING = "easygoing", "随和型"
    INDECISIVE = "indecisive", "犹豫型"
    THRIFTY = "thrifty", "精明型"  # bargains, compares prices
    STEADY = "steady", "稳重型"
    BLUNT = "blunt", "直爽型"
    SLOW = "slow", "慢性型"
    PICKY = "picky", "挑剔型"


class Gender(models.TextChoices):
    UNKNOWN = "", "未知"
    FEMALE = "female", "女"
    MALE = "male", "男"



class Customer(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="customers")
    # A known buyer (platform member name / id) arrives through a signed link; an anonymous
    # visitor has only visitor_id until the shop links it to a buyer.
    # NULL, not "": the per-shop unique constraints must allow many customers without one.
    buyer_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    visitor_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    wechat = models.CharField(max_length=40, blank=True)  # left with an offline message (decision 125)
    email = models.EmailField(blank=True)
    address = models.CharField(max_length=300, blank=True)
    # Advanced profile (issue 11). The default phone/email/address above stay the quick-read copy
    # of the default CustomerContact of each kind.
    city = models.CharField(max_length=50, blank=True)
    qq = models.CharField(max_length=20, blank=True)
    gender = models.CharField(max_length=8, choices=Gender.choices, blank=True, default="")
    birth_date = models.DateField(null=True, blank=True)
    birthday_month = models.PositiveSmallIntegerField(null=True, blank=True)
    birthday_day = models.PositiveSmallIntegerField(null=True, blank=True)
    birthday_lunar = models.BooleanField(default=False, help_text="month/day are of the lunar calendar")
    age_band = models.CharField(max_length=10, blank=True)  # "18-24", "25-29", …
    shopper_type = models.CharField(max_length=12, choices=ShopperType.choices, blank=True, default="")
    # Merging keeps the absorbed row (pointing here) so old links and events still resolve.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    anonymised_at = models.DateTimeField(null=True, blank=True)
    last_seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shop", "buyer_id"], name="customer_buyer_unique_in_shop"),
            models.UniqueConstraint(fields=["shop", "visitor_id"], name="customer_visitor_unique_in_shop"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.buyer_id or f"访客{(self.visitor_id or str(self.pk))[:6]}"


class CustomerNote(models.Model):
    """Shop-level note about a customer; records the seat and the person who wrote it."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL)
    author = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL)
    text = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text[:40]


class ContactKind(models.TextChoices):
    PHONE = "phone", "手机"
    EMAIL = "email", "邮箱"
    ADDRESS = "address", "地址"


class CustomerContact(models.Model):
    """One of a customer's phones, e-mails or addresses; one default per kind."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    kind = models.CharField(max_length=8, choices=ContactKind.choices)
    value = models.CharField(max_length=300)  # the phone, the e-mail, or the full address line
    province = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=30, blank=True)
    district = models.CharField(max_length=30, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "kind", "value"], name="customer_contact_unique"),
        ]

    def __str__(self) -> str:
        return self.value


class Tag(models.Model):
    """A shop-defined, coloured label for customers."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="customer_tags")
    name = models.CharField(max_length=20)
    colour = models.CharField(max_length=7, default="#1677ff")  # "#rrggbb"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "name"], name="customer_tag_unique_in_shop")]

    def __str__(self) -> str:
        return self.name


class CustomerTag(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="customer_links")
    added_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "tag"], name="customer_tag_once")]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.tag_id}"


class AttributeKind(models.TextChoices):
    TEXT = "text", "文本"
    NUMBER = "number", "数字"
    DATE = "date", "日期"
    CHOICE = "choice", "选项"


class CustomAttribute(models.Model):
    """A profile field the shop defines (Chatwoot-style custom attributes)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="customer_attributes")
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=40)
    kind = models.CharField(max_length=8, choices=AttributeKind.choices, default=AttributeKind.TEXT)
    choices = models.JSONField(default=list, blank=True)  # for kind "choice": the allowed values

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "key"], name="custom_attribute_key_unique")]

    def __str__(self) -> str:
        return self.label


class CustomerAttributeValue(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="attribute_values")
    attribute = models.ForeignKey(CustomAttribute, on_delete=models.CASCADE, related_name="values")
    value = models.CharField(max_length=200)  # normalised text: numbers as decimal, dates ISO

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "attribute"], name="customer_attribute_once")]
        # the customers page's "attribute = value" filter starts from here (docs/decisions/136)
        indexes = [models.Index(fields=["attribute", "value"], name="customer_attribute_value")]

    def __str__(self) -> str:
        return self.value
