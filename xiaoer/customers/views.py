"""The workbench's customer side panel: basic profile and shop-level notes (htmx partials)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Seat
from xiaoer.chat import services as chat_services
from xiaoer.customers import services


@login_required
@require_http_methods(["GET", "POST"])
def customer_panel(request: HttpRequest, conversation_id: int) -> HttpResponse:
    staff = account_services.staff_for_user(request.user)
    conv = chat_services.access_conversation(staff, conversation_id)
    customer = conv.customer
    error = ""
    if request.method == "POST":
        # Written as the conversation's seat when the author operates it, else as their first seat.
        seat = conv.seat if conv.seat and conv.seat.operator_id == staff.pk else (
            Seat.objects.filter(shop_id=staff.shop_id, operator=staff).order_by("pk").first())
        try:
            services.do_add_note(staff, customer, request.POST.get("text", ""), seat=seat)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    return render(request, "customers/panel.html", {
        "conversation": conv, "customer": customer, "notes": services.notes_for(customer), "error": error,
        "conversations_count": customer.conversations.count(), "staff": staff,
    })
