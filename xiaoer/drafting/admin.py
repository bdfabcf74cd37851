from django.contrib import admin

from xiaoer.drafting.models import DraftingSettings, LlmCall


@admin.register(DraftingSettings)
class DraftingSettingsAdmin(admin.ModelAdmin):
    """The deployment operator sets a shop's own endpoint here; the key itself stays in the environment."""

    list_display = ("shop", "enabled", "auto_send", "model", "base_url", "key_env", "monthly_cap")


@admin.register(LlmCall)
class LlmCallAdmin(admin.ModelAdmin):
    list_display = ("created_at", "shop", "purpose", "model", "outcome", "latency_ms", "prompt_tokens",
                    "completion_tokens", "flags")
    list_filter = ("outcome", "purpose")
    readonly_fields = [f.name for f in LlmCall._meta.fields]
