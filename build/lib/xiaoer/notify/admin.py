from django.contrib import admin

from xiaoer.notify.models import Notice, NoticeTemplate


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    list_display = ("key", "shop", "channel", "template", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "channel", "shop")
    search_fields = ("key",)

    # The record of what was sent is evidence: read-only in the admin.
    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(NoticeTemplate)
class NoticeTemplateAdmin(admin.ModelAdmin):
    list_display = ("shop", "name")
