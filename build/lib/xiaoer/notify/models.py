"""Every outbound notice, recorded before it is sent (docs/notifications.md).

The unique ``key`` is the idempotency key: whoever decides to notify inserts the row first, so a
second decision for the same thing (a retry, a second worker) finds the row and sends nothing.
"""

from __future__ import annotations

from django.db import models

from xiaoer.accounts.models import Shop


class Channel(models.TextChoices):
    CHAT = "chat", "聊天消息"
    SMS = "sms", "短信"
    EMAIL = "email", "邮件"


class NoticeStatus(models.TextChoices):
    PENDING = "pending", "待发送"
    SENDING = "sending", "发送中"
    SENT = "sent", "已发送"
    FAILED = "failed", "失败待重试"
    DEAD = "dead", "多次失败已放弃"
    # A send started and nobody recorded how it ended (process died) on a channel that can't
    # deduplicate: we never resend those (at most once), a person looks at them.
    UNKNOWN = "unknown", "结果未知"


class Notice(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="notices")
    key = models.CharField(max_length=150, unique=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    template = models.CharField(max_length=50)
    recipient = models.CharField(max_length=200, blank=True, help_text="phone, e-mail or conversation id")
    conversation_id = models.BigIntegerField(null=True, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=NoticeStatus.choices, default=NoticeStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_ref = models.CharField(max_length=100, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["shop", "-created_at"]),
            models.Index(fields=["claim_token"]),
        ]

    def __str__(self) -> str:
        return f"{self.key} [{self.status}]"


class NoticeTemplate(models.Model):
    """A shop's own wording for one of the built-in templates (xiaoer.notify.texts)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="notice_templates")
    name = models.CharField(max_length=50)
    text = models.TextField(max_length=1000)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "name"], name="notice_template_unique")]

    def __str__(self) -> str:
        return self.name
