from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class ShopTimezoneMiddleware:
    """Show times in the signed-in staff's shop time zone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        staff = getattr(getattr(request, "user", None), "staff", None) if request.user.is_authenticated else None
        if staff is not None:
            timezone.activate(staff.shop.timezone)
        else:
            timezone.deactivate()
        return self.get_response(request)
