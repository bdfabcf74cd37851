"""Pages of reviews (follow-ups, thank-you replies, figures) and revisit campaigns (results).
Thin: parse, call a service, render. docs/reviews-and-revisits.md."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from xiaoer.accounts import services as account_services
from xiaoer.aftersales import campaigns_services
from xiaoer.aftersales import reviews_services as services
from xiaoer.aftersales.models import ReplyTemplate


@login_required
@require_http_methods(["GET", "POST"])
def reviews_page(request: HttpRequest) -> HttpResponse:
    staff = account_services.staff_of(request, services.REVIEW_ROLES)
    replied, error = [], ""
    if request.method == "POST":
        try:
            with transaction.atomic():
                template = services.access_template(staff, request.POST.get("template", ""), ReplyTemplate.Kind.THANKS)
                ids = [i for i in request.POST.getlist("review")[:1000] if i.isdigit() and len(i) < 12]
                replied = services.do_thank_all(staff, ids, template)
        except ValidationError as exc:
            error = "；".join(exc.messages)
    now = timezone.now()
    return render(request, "aftersales/reviews.html", {
        "staff": staff, "followups": services.followups_for(staff), "now": now,
        "unreplied": services.reviews_of(staff, rating="good", unreplied=True, limit=100),
        "templates": services.templates_of(staff, ReplyTemplate.Kind.THANKS), "replied": replied, "error": error,
        "figures": services.figures(staff, now - dt.timedelta(days=30), now)["shop"]})


@login_required
@require_http_methods(["GET"])
def campaigns_page(request: HttpRequest) -> HttpResponse:
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    rows = [(c, campaigns_services.results(c)) for c in campaigns_services.campaigns_of(staff)[:50]]
    return render(request, "aftersales/campaigns.html", {"staff": staff, "rows": rows})
