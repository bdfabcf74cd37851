from django.contrib import admin

from xiaoer.orders.models import Order, OrderChange, OrderItem, OrderSettings, Task


class ItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0


class ChangeInline(admin.TabularInline):
    model = OrderChange
    extra = 0
    can_delete = False
    readonly_fields = ("kind", "reason", "staff", "seat", "changes", "at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("order_no", "shop", "status", "total_amount", "created_at", "attributed_seat")
    list_filter = ("shop", "status")
    search_fields = ("order_no",)
    inlines = [ItemInline, ChangeInline]


@admin.register(OrderChange)
class OrderChangeAdmin(admin.ModelAdmin):
    """Read-only: the change log can't be edited or deleted by anyone, superusers included."""

    list_display = ("order", "kind", "staff", "seat", "at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


admin.site.register(OrderSettings)
admin.site.register(Task)
