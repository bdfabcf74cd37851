"""Product knowledge, standard answers and quick phrases (docs/decisions/030-knowledge-files.md).
Every row belongs to one shop; codes (``code``) are the ids the shop
chooses and uses in its import files."""

from __future__ import annotations

from django.db import models

from xiaoer.accounts.models import Seat, Shop, Staff


class Category(models.TextChoices):
    GREETING = "greeting", "问候"
    PRODUCT_QUALITY = "product_quality", "质量材质"
    SIZE_SPEC = "size_spec", "尺码规格"
    BARGAIN = "bargain", "议价优惠"
    SHIPPING = "shipping", "发货物流"
    AFTER_SALES = "after_sales", "售后"
    PAYMENT = "payment", "付款"
    ORDER_CHANGE = "order_change", "订单变更"
    PRODUCT_USAGE = "product_usage", "使用方法"
    OTHER = "other", "其他"


class Product(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="products")
    code = models.CharField(max_length=64, help_text="the shop's product id")
    title = models.CharField(max_length=200)
    category = models.CharField(max_length=100, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    stock = models.IntegerField(default=0, help_text="page stock; real stock is checked with the warehouse")
    material = models.TextField(blank=True)
    # {"S": {"height": [150, 160], "weight": [40, 50], "chest": [80, 84]}, "M": {...}} in order, small to
    # large; ranges in cm and kg (docs/knowledge-import.md).
    size_chart = models.JSONField(default=dict, blank=True)
    usage = models.TextField(blank=True)
    precautions = models.TextField(blank=True)
    care = models.TextField(blank=True)
    suits = models.TextField(blank=True)
    not_suits = models.TextField(blank=True)
    images = models.JSONField(default=list, blank=True)
    related = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="+")
    upsell = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="+")
    published = models.BooleanField(default=False)
    published_at = models.DateTimeField(null=True, blank=True)
    must_read = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "code"], name="product_code_unique_in_shop")]
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class Sku(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="skus")
    code = models.CharField(max_length=64)
    attrs = models.JSONField(default=dict, blank=True, help_text='{"颜色": "黑", "尺码": "M"}')
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    stock = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "code"], name="sku_code_unique_in_product")]

    def __str__(self) -> str:
        return f"Sku {self.pk}"


class StandardAnswer(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="standard_answers")
    code = models.CharField(max_length=64, help_text="the shop's id for this answer")
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.OTHER)
    question = models.CharField(max_length=500)
    similar = models.JSONField(default=list, blank=True, help_text="other phrasings")
    answer = models.TextField()
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    enabled = models.BooleanField(default=True)
    must_read = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "code"], name="answer_code_unique_in_shop")]
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.question}"


class QuickPhrase(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="quick_phrases")
    seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                             help_text="empty: shared by every seat")
    shortcut = models.CharField(max_length=30)
    text = models.TextField()
    group = models.CharField(max_length=30, blank=True, help_text="empty: 未分组")
    # Lower-case pinyin initials of shortcut and text ("发货" → "fh"), for `/fh` lookups.
    initials = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut"]
        indexes = [models.Index(fields=["shop", "seat"])]

    def __str__(self) -> str:
        return f"QuickPhrase {self.pk}"


class KnowledgeNotice(models.Model):
    """A knowledge broadcast: a product published or a card marked must-read."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    answer = models.ForeignKey(StandardAnswer, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"KnowledgeNotice {self.pk}"


class NoticeAck(models.Model):
    notice = models.ForeignKey(KnowledgeNotice, on_delete=models.CASCADE, related_name="acks")
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["notice", "staff"], name="notice_ack_once")]

    def __str__(self) -> str:
        return f"NoticeAck {self.pk}"


class KnowledgeState(models.Model):
    """A per-shop counter bumped on every knowledge change; the robot rebuilds when it moves."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="+")
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"KnowledgeState {self.pk}"


class ImportJob(models.Model):
    """A web import running in the task queue; the page polls ``done``/``total``."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)
    filename = models.CharField(max_length=200)
    content = models.BinaryField()
    skip_bad_rows = models.BooleanField(default=False)
    status = models.CharField(max_length=10, default="pending")  # pending/running/done/failed
    total = models.IntegerField(default=0)
    done = models.IntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(Staff, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"ImportJob {self.pk}"
