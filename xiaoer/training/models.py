"""Models of training: scenarios, and role-play sessions kept apart from real conversations.

A training session and its messages live only here: no Conversation, Customer or Order is ever
created or changed by training, so no KPI, notice or shopper sees it (docs/training.md).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from xiaoer.accounts.models import Shop, Staff
from xiaoer.customers.models import ShopperType
from xiaoer.knowledge.models import Product


class Situation(models.TextChoices):
    PRODUCT = "product", _("商品咨询")
    SIZE = "size", _("尺码建议")
    BARGAIN = "bargain", _("议价")
    COMPLAINT = "complaint", _("投诉")
    BAD_REVIEW = "bad_review", _("差评回访")
    RETURN = "return", _("退换货")
    PAYMENT = "payment", _("催付")
    ADDRESS = "address", _("改地址")


class Scenario(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=100)
    situation = models.CharField(max_length=12, choices=Situation.choices, default=Situation.PRODUCT)
    shopper_type = models.CharField(max_length=12, choices=ShopperType.choices, default=ShopperType.EASYGOING)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    order_facts = models.TextField(blank=True, help_text="e.g. paid yesterday, not shipped; no real order")
    goal = models.CharField(max_length=200, blank=True)
    hidden_facts = models.TextField(blank=True, help_text="what the shopper does not say at first")
    # what the simulated shopper says: the opening line, then the questions it asks in order
    opening = models.CharField(max_length=500)
    questions = models.JSONField(default=list, blank=True)
    # words in a reply that talk this shopper round (e.g. 赠品, 包邮): the hidden "will buy if…"
    persuaded_by = models.JSONField(default=list, blank=True)
    source_conversation_id = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["shop", "title"], name="training_scenario_title")]

    def __str__(self) -> str:
        return self.title


class SessionStatus(models.TextChoices):
    ACTIVE = "active", _("进行中")
    ORDERED = "ordered", _("已下单")
    CALMED = "calmed", _("已安抚")
    LEFT = "left", _("顾客离开")
    ENDED = "ended", _("已结束")


class TrainingSession(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="sessions")
    exam = models.ForeignKey("Exam", null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions")
    trainee = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=SessionStatus.choices, default=SessionStatus.ACTIVE)
    state = models.JSONField(default=dict)  # the simulated shopper's memory (training.simulator)
    score = models.FloatField(null=True, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.scenario_id}/{self.pk}"


class TrainingMessage(models.Model):
    session = models.ForeignKey(TrainingSession, on_delete=models.CASCADE, related_name="messages")
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    from_shopper = models.BooleanField()
    text = models.CharField(max_length=1000)
    at = models.DateTimeField()
    # trainee replies: the score (0–100), its reasons and the shop's better answer
    score = models.FloatField(null=True, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    better_answer = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.text[:30]


class Exam(models.Model):
    """A supervisor's set of scenarios with a pass mark and a deadline, assigned to trainees."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=100)
    scenarios = models.ManyToManyField(Scenario, related_name="+")
    trainees = models.ManyToManyField(Staff, related_name="+")
    pass_mark = models.PositiveSmallIntegerField(default=60)
    deadline = models.DateTimeField()
    created_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return self.title
