"""Conversations and messages.

Messages are written only by the group-commit writer (xiaoer.chat.writer) with raw SQL; the
column names here are part of that contract. Every message, internal notes included, takes the
next per-conversation ``seq``; shoppers never receive internal ones (see docs/protocol.md).
"""

from __future__ import annotations

from django.db import models

from xiaoer.accounts.models import Seat, Shop, Staff
from xiaoer.customers.models import Customer


class ConversationStatus(models.TextChoices):
    VISITOR = "visitor", "访客"  # opened the chat page, wrote nothing yet: no seat, not in the queue
    QUEUED = "queued", "排队中"
    OPEN = "open", "进行中"
    RESOLVED = "resolved", "已解决"


class Conversation(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="conversations")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversations")
    seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    status = models.CharField(max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.QUEUED)
    last_seq = models.BigIntegerField(default=0)
    last_shopper_seq = models.BigIntegerField(default=0)
    agent_read_seq = models.BigIntegerField(default=0)
    shopper_read_seq = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_message_preview = models.CharField(max_length=200, blank=True)
    # Set when a shopper message arrives with no staff reply after it; cleared by a staff reply.
    waiting_since = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["shop", "status", "queued_at"]),
            models.Index(fields=["seat", "status"]),
            models.Index(fields=["customer", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer}"

    @property
    def unread_for_agent(self) -> int:
        return max(0, self.last_shopper_seq - self.agent_read_seq) if self.last_shopper_seq else 0


class SenderKind(models.TextChoices):
    SHOPPER = "shopper", "顾客"
    AGENT = "agent", "客服"
    ROBOT = "robot", "机器人"
    SYSTEM = "system", "系统"


class MessageKind(models.TextChoices):
    TEXT = "text", "文字"
    IMAGE = "image", "图片"
    CARD = "card", "卡片"
    NOTE = "note", "内部备注"
    EVENT = "event", "事件"


class Message(models.Model):
    # Every index costs each group-commit insert: the (conversation, seq) and (conversation,
    # client_id) constraints already index conversation, and nothing looks messages up by shop,
    # seat or staff alone.
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages",
                                     db_index=False)
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", db_index=False)
    seq = models.BigIntegerField()
    client_id = models.CharField(max_length=64)
    sender_kind = models.CharField(max_length=10, choices=SenderKind.choices)
    kind = models.CharField(max_length=10, choices=MessageKind.choices, default=MessageKind.TEXT)
    internal = models.BooleanField(default=False, help_text="only staff see it")
    seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                             db_index=False)
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              db_index=False)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(fields=["conversation", "client_id"], name="message_client_id_unique"),
        ]
        ordering = ["conversation", "seq"]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq} {self.sender_kind}"


class Attachment(models.Model):
    """An uploaded image, checked by content (Pillow) before it is stored."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE)
    file = models.FileField(upload_to="chat/%Y/%m/")
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=50)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    token = models.CharField(max_length=40, unique=True, help_text="unguessable id used in URLs")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.content_type} {self.width}x{self.height}"


class Presence(models.Model):
    """A staff person has a workbench socket open in one server process (``node``).

    Routing sends shoppers only to seats whose operator has a row here (docs/decisions/
    080-presence-and-routing.md). Written on a person's first socket in a process and removed a
    grace period after their last one closes; each process refreshes ``seen_at`` of its rows, so
    the rows of a process that died expire on their own.
    """

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    node = models.CharField(max_length=80)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["staff", "node"], name="presence_staff_node_unique")]

    def __str__(self) -> str:
        return f"{self.staff_id}@{self.node}"
