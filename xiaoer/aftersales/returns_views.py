"""Pages of returns: the shopper's link (address, return parcel), the cases list, a case page and
the workbench side panel. Thin: parse, call a service, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_http_methods

from xiaoer.accounts.models import Seat
from xiaoer.aftersales import returns
from xiaoer.aftersales.models import CaseKind, CaseReason, CaseState
from xiaoer.orders.models import Order

PANEL_TITLE = gettext_noop("售后")  # its entry in settings.XIAOER_SIDE_PANELS, for the catalogue


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


# --- staff pages ---------------------------------------------------------------------------------

def _staff(request: HttpRequest):
    from xiaoer.accounts import services as account_services

    return account_services.staff_of(request, returns.READ_ROLES)


@login_required
@require_GET
def cases_page(request: HttpRequest) -> HttpResponse:
    """Cases of the shop with filters (state, reason, overdue, seat); overdue ones counted on top."""
    staff = _staff(request)
    q = request.GET
    seat = q.get("seat", "")
    cases = returns.cases_of(staff, state=q.get("state", "")[:20], reason=q.get("reason", "")[:20],
                             overdue=q.get("overdue") == "1", seat_id=int(seat) if seat.isdigit() else None)
    overdue = returns.cases_of(staff, overdue=True, limit=1000).count()
    rows = [(c, returns.due_at(c), returns.is_overdue(c)) for c in cases]
    return render(request, "aftersales/cases.html", {
        "staff": staff, "rows": rows, "overdue_count": overdue, "states": CaseState.choices,
        "reasons": CaseReason.choices, "seats": Seat.objects.filter(shop_id=staff.shop_id, is_active=True),
        "q": {"state": q.get("state", ""), "reason": q.get("reason", ""), "overdue": q.get("overdue", ""),
              "seat": seat}})


@login_required
@require_http_methods(["GET", "POST"])
def case_page(request: HttpRequest, returncase_id: int) -> HttpResponse:
    """One case: its timer, the postage rule and why, every step, and the next actions."""
    staff = _staff(request)
    case = returns.access_case(staff, returncase_id)
    error, status = "", 200
    if request.method == "POST":
        try:
            with transaction.atomic():
                returns.do_step(staff, case, request.POST.get("action", "")[:30], request.POST.dict())
            return redirect("aftersales-case", returncase_id=case.pk)
        except ValidationError as exc:
            error, status = _errors(exc), 400
        except PermissionDenied as exc:
            error, status = str(exc) or _("没有权限"), 403
        case = returns.access_case(staff, returncase_id)
    actions = sorted({a for (a, s), (_t, kinds) in returns.TRANSITIONS.items()
                      if s == case.state and (kinds is None or case.kind in kinds)})
    return render(request, "aftersales/case.html", {
        "staff": staff, "case": case, "due": returns.due_at(case), "overdue": returns.is_overdue(case),
        "steps": [(s, _(returns.STEP_LABELS.get(s.action, s.action)), CaseState(s.to_state).label)
                  for s in case.steps.select_related("staff", "seat")], "actions": actions, "labels": {k: _(v) for k, v in returns.ACTION_LABELS.items()},
        "error": error}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def panel(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The workbench side panel: the customer's cases, and a form to open one about one of their orders."""
    from xiaoer.accounts import services as account_services
    from xiaoer.chat import services as chat_services

    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    conv = chat_services.access_conversation(staff, conversation_id)
    orders = list(Order.objects.filter(shop_id=staff.shop_id, buyer_id=conv.customer_id)
                  .order_by("-created_at")[:20]) if conv.customer_id else []
    error, status = "", 200
    if request.method == "POST":
        try:
            order_id = request.POST.get("order", "")
            order = next((o for o in orders if str(o.pk) == order_id), None)
            if order is None:
                raise ValidationError(_("请选择这位顾客的订单"))
            with transaction.atomic():
                returns.do_open_case(staff, order, kind=request.POST.get("kind", ""),
                                     reason=request.POST.get("reason", ""),
                                     description=request.POST.get("description", ""),
                                     amount=request.POST.get("amount") or None, conversation=conv)
        except ValidationError as exc:
            error, status = _errors(exc), 400
    cases = returns.cases_of(staff, customer_id=conv.customer_id, limit=20) if conv.customer_id else []
    return render(request, "aftersales/panel.html", {
        "conversation": conv, "orders": orders, "cases": [(c, returns.due_at(c), returns.is_overdue(c)) for c in cases],
        "kinds": CaseKind.choices, "reasons": CaseReason.choices, "error": error}, status=status)


OVERDUE_TITLE = gettext_noop("超时的售后单")  # its entry in settings.XIAOER_SUPERVISOR_SECTIONS


@login_required
@require_GET
def overdue_section(request: HttpRequest) -> HttpResponse:
    """The supervisor page's section: overdue cases, the latest first (htmx partial)."""
    from xiaoer.accounts import services as account_services

    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    cases = returns.cases_of(staff, overdue=True, limit=1000)
    rows = [(c, returns.due_at(c), True) for c in cases[:20]]
    return render(request, "aftersales/overdue_section.html", {"rows": rows, "count": cases.count()})
