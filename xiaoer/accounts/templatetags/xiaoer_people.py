"""Template filters about what a person may see: ``{{ phone|phone_for:staff }}``."""

from __future__ import annotations

from django import template

from xiaoer.accounts import services

register = template.Library()


@register.filter
def phone_for(phone: str | None, staff) -> str:
    return services.phone_for(staff, phone)
