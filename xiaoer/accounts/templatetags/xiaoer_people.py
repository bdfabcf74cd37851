"""Template filters about what a person may see: ``{{ phone|phone_for:staff }}``."""

from __future__ import annotations

from django import template

from xiaoer.accounts import services

register = template.Library()


@register.filter
def phone_for(phone: str | None, staff) -> str:
    """The phone as STAFF may see it (PHONE_VISIBLE_ROLES; docs/configuration.md)."""
    if not phone or staff is None:
        return "" if not phone else services.mask_phone(phone)
    return services.phone_for(staff, phone)
