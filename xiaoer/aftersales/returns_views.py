"""Pages of returns: the shopper's link (address, return parcel), the cases list, a case page and
the workbench side panel. Thin: parse, call a service, render."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from xiaoer.aftersales import returns


def _errors(exc: ValidationError) -> str:
    return "；".join(exc.messages)[:200]


@require_http_methods(["GET", "POST"])
def return_link(request: HttpRequest, shop_slug: str, token: str) -> HttpResponse:
    """Public: the signed link is the authority (one case)."""
    case = returns.resolve_token(shop_slug, token)
    error, status = "", 200
    if request.method == "POST":
        try:
            with transaction.atomic():
                case = returns.do_set_return_tracking(None, case, carrier=request.POST.get("carrier", ""),
                                                      tracking_no=request.POST.get("tracking_no", ""))
        except ValidationError as exc:
            error, status = _errors(exc), 400
    return render(request, "aftersales/return_link.html", {
        "case": case, "cfg": returns.shop_settings(case.shop_id), "postage": returns.postage_line(case),
        "error": error}, status=status)
