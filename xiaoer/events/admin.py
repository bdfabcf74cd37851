from django.contrib import admin
from django.utils import timezone

from xiaoer.events.models import ListenerCursor, OutboxEvent


@admin.register(ListenerCursor)
class ListenerCursorAdmin(admin.ModelAdmin):
    """Durable listeners: where each is, and the failing ones first (docs/events.md)."""

    list_display = ("name", "position_id", "handled", "handled_at", "attempts", "failing_event_id",
                    "next_attempt_at", "last_error")
    readonly_fields = [f.name for f in ListenerCursor._meta.fields]
    actions = ["retry_now"]

    def get_ordering(self, request):
        return ["-attempts", "name"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset) -> None:
        from xiaoer.events.queue import enqueue

        names = list(queryset.values_list("name", flat=True))
        queryset.update(next_attempt_at=timezone.now())
        for name in names:
            enqueue(name, force=True)


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "shop_id", "created_at")
    list_filter = ("name",)
    readonly_fields = ("id", "name", "shop_id", "payload", "created_at", "txid")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
