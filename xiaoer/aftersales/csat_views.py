"""The shopper's CSAT page (reached from the card's signed link; answerable later)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from xiaoer.aftersales import csat


@require_http_methods(["GET", "POST"])
def answer_page(request: HttpRequest, shop_slug: str, token: str) -> HttpResponse:
    survey = csat.resolve_token(shop_slug, token)
    error, status = "", 200
    if request.method == "POST":
        try:
            with transaction.atomic():
                survey = csat.do_answer(survey, request.POST.get("rating"), request.POST.get("comment", ""))
        except ValidationError as exc:
            error, status = "；".join(exc.messages), 400
    return render(request, "aftersales/csat_answer.html",
                  {"survey": survey, "stars": range(1, 6), "error": error}, status=status)
