from django.contrib import admin

from xiaoer.chat.models import Attachment, Conversation, Message


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "shop", "customer", "seat", "status", "last_seq", "last_message_at")
    list_filter = ("shop", "status")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("conversation", "seq", "sender_kind", "kind", "internal", "created_at")
    list_filter = ("shop", "sender_kind", "kind")


admin.site.register(Attachment)
