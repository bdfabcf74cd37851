"""The robot's per-shop settings, what it suggested, and what agents taught it."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils.translation import gettext_lazy as _

from xiaoer.accounts.models import Shop, Staff
from xiaoer.chat.models import Conversation


class RobotMode(models.TextChoices):
    OFF = "off", _("关闭")
    SUGGEST = "suggest", _("只给建议")
    UNATTENDED = "unattended", _("无人在线或下班时自动回答")
    THRESHOLD = "threshold", _("置信度够高时自动回答")


class AssistantSettings(models.Model):
    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(max_length=12, choices=RobotMode.choices, default=RobotMode.SUGGEST)
    threshold = models.FloatField(default=0.85, help_text="confidence needed to answer alone (threshold mode)")
    work_start = models.TimeField(default=dt.time(9, 0))
    work_end = models.TimeField(default=dt.time(23, 0))
    handoff_text = models.CharField(max_length=200, default="亲，已为您转接人工客服，请稍等片刻～")

    def __str__(self) -> str:
        return f"AssistantSettings {self.pk}"


class Suggestion(models.Model):
    """The robot's reading of one shopper message, as shown in the workbench."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    message_id = models.BigIntegerField()
    seq = models.BigIntegerField(default=0)
    question = models.TextField()
    intent = models.CharField(max_length=20)
    confidence = models.FloatField()
    top_code = models.CharField(max_length=64, blank=True)
    top_text = models.TextField(blank=True)
    payload = models.JSONField(default=dict)
    robot_replied = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "-seq"])]

    def __str__(self) -> str:
        return f"Suggestion {self.pk}"


class LearnStatus(models.TextChoices):
    PENDING = "pending", _("待处理")
    PHRASING = "phrasing", _("已加为问法")
    NEW_ANSWER = "new_answer", _("已建新答案")
    DISMISSED = "dismissed", _("已忽略")


class LearnedPair(models.Model):
    """An agent replied with something other than the top suggestion: (question, reply) kept for review."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, null=True, on_delete=models.SET_NULL, related_name="+")
    question = models.TextField()
    reply = models.TextField()
    suggested_code = models.CharField(max_length=64, blank=True)
    suggested_text = models.TextField(blank=True)
    intent = models.CharField(max_length=20, blank=True)
    staff = models.ForeignKey(Staff, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=12, choices=LearnStatus.choices, default=LearnStatus.PENDING)
    resolved_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["shop", "status"])]

    def __str__(self) -> str:
        return f"LearnedPair {self.pk}"


class EmbeddingCache(models.Model):
    """Sentence vectors by sha1(encoder name + text): a rebuild encodes only new phrasings."""

    key = models.CharField(max_length=40, primary_key=True)
    vector = models.BinaryField()

    def __str__(self) -> str:
        return f"EmbeddingCache {self.pk}"


class ConfirmedPhrasing(models.Model):
    """A shopper's question an agent answered with one of the shop's standard answers (a suggestion
    other than the robot's first, or when the robot said nothing fits): another phrasing of that
    answer for this shop's robot, used at once (docs/decisions/168). Not shown as a knowledge edit:
    the supervisor's standard answers stay as written."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    answer = models.ForeignKey("knowledge.StandardAnswer", on_delete=models.CASCADE, related_name="+")
    question = models.CharField(max_length=500)
    conversation = models.ForeignKey(Conversation, null=True, on_delete=models.SET_NULL, related_name="+")
    staff = models.ForeignKey(Staff, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "answer", "question"], name="confirmed_phrasing_once")]

    def __str__(self) -> str:
        return f"ConfirmedPhrasing {self.pk}"
