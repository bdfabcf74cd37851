from django.contrib import admin

from xiaoer.accounts.models import Seat, SeatAssignment, Shop, Staff


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "timezone", "max_concurrent_per_seat", "created_at")
    exclude = ("secret",)


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ("display_name", "user", "shop", "role", "is_active")
    list_filter = ("shop", "role")


class AssignmentInline(admin.TabularInline):
    model = SeatAssignment
    fk_name = "seat"
    extra = 0
    readonly_fields = ("staff", "started_at", "ended_at", "assigned_by")


@admin.register(Seat)
class SeatAdmin(admin.ModelAdmin):
    list_display = ("display_name", "name", "shop", "operator", "is_online", "max_concurrent")
    list_filter = ("shop",)
    inlines = [AssignmentInline]
