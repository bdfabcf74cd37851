from django.contrib import admin

from xiaoer.customers.models import Customer, CustomerNote


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("display_name", "buyer_id", "shop", "last_seat", "created_at")
    list_filter = ("shop",)
    search_fields = ("buyer_id", "name", "phone")


admin.site.register(CustomerNote)
