"""Per-shop drafting settings and the log of every call to a language model."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from xiaoer.accounts.models import Shop, Staff
from xiaoer.chat.models import Conversation

# A shop's key is named, never stored: the name of an environment variable the deployment sets.
KEY_ENV_PATTERN = r"^XIAOER_LLM_KEY_[A-Z0-9_]{1,40}$"


class DraftingSettings(models.Model):
    """What a shop does with the model. The endpoint fields (base URL, model, key's variable) are the
    deployment operator's (Django admin); supervisors switch drafting, auto-send and masking."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(default=True)
    auto_send = models.BooleanField(default=False, help_text="let the robot send an unflagged draft "
                                    "in the robot modes that answer alone, above the robot's threshold")
    mask_personal = models.BooleanField(default=True, help_text="mask phones, e-mails, ids before text leaves")
    monthly_cap = models.PositiveIntegerField(null=True, blank=True, help_text="calls a month; empty: deployment's")
    base_url = models.URLField(blank=True, help_text="empty: the deployment's LLM_BASE_URL")
    model = models.CharField(max_length=100, blank=True, help_text="empty: the deployment's LLM_MODEL")
    key_env = models.CharField(max_length=60, blank=True, validators=[RegexValidator(KEY_ENV_PATTERN)],
                               help_text="environment variable holding this shop's key, XIAOER_LLM_KEY_…; "
                                         "empty: the deployment's LLM_API_KEY")

    def __str__(self) -> str:
        return f"DraftingSettings {self.pk}"


class CallOutcome(models.TextChoices):
    OK = "ok", _("成功")
    TIMEOUT = "timeout", _("超时")
    RATE_LIMITED = "rate_limited", _("被限流")
    SERVER_ERROR = "server_error", _("服务出错")
    MALFORMED = "malformed", _("返回格式错误")
    ERROR = "error", _("连接失败")
    CAPPED = "capped", _("已达本月上限")


class LlmCall(models.Model):
    """One call (or one refused call) to the model: who, how long, how many tokens, how it ended.
    No prompt or completion text is kept: it carries shoppers' words."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    purpose = models.CharField(max_length=12)  # draft, rewrite, auto, simulate
    model = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=12, choices=CallOutcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    flags = models.PositiveSmallIntegerField(default=0, help_text="guardrail flags on the result")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["shop", "created_at"])]

    def __str__(self) -> str:
        return f"LlmCall {self.pk}"
