"""Pages: the workbench side-panel section "顾客类型与待确认资料" (htmx partial) and the shopper
type tips page for supervisors. Thin: parse, call a service, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_http_methods, require_POST

from xiaoer.accounts import services as account_services
from xiaoer.crm import hints
from xiaoer.customers.models import Gender, ShopperType

# The section's title in settings.XIAOER_SIDE_PANELS, marked here so makemessages finds it.
PANEL_TITLE = gettext_noop("顾客类型与待确认资料")


def _panel(request: HttpRequest, staff, conversation_id: int, error: str = "", status: int = 200) -> HttpResponse:
    view = hints.panel_view(staff, conversation_id)
    proposals = [(p, *hints.shown(staff, p)) for p in view.proposals]
    return render(request, "crm/hints_panel.html", {
        "staff": staff, "view": view, "proposals": proposals, "types": ShopperType.choices,
        "genders": [(v, label) for v, label in Gender.choices if v], "error": error,
        "sees_phone": account_services.sees_whole_phone(staff),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def panel(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The section; POST sets the customer's shopper type."""
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    if request.method == "POST":
        view = hints.panel_view(staff, conversation_id)
        try:
            with transaction.atomic():
                hints.do_set_shopper_type(staff, view.customer, request.POST.get("shopper_type", "")[:12])
        except ValidationError as exc:
            return _panel(request, staff, conversation_id, error="；".join(exc.messages), status=422)
    return _panel(request, staff, conversation_id)


@login_required
@require_POST
def proposal_action(request: HttpRequest, proposal_id: int, action: str) -> HttpResponse:
    """Confirm (with the agent's edit in ``value``) or dismiss; answers with the section again."""
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    proposal = hints.access_proposal(staff, proposal_id)
    try:
        with transaction.atomic():
            if action == "confirm":
                edited = request.POST.get("value")
                hints.do_confirm_proposal(staff, proposal, edited[:1000] if edited else None)
            elif action == "dismiss":
                hints.do_dismiss_proposal(staff, proposal)
            else:
                raise ValidationError("未知操作")
    except ValidationError as exc:
        return _panel(request, staff, proposal.conversation_id, error="；".join(exc.messages), status=422)
    return _panel(request, staff, proposal.conversation_id)


@login_required
@require_http_methods(["GET", "POST"])
def tips_page(request: HttpRequest) -> HttpResponse:
    """Handling tips per shopper type: everyone who chats reads them, supervisors and owners edit."""
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    can_edit = staff.role in account_services.SUPERVISOR_ROLES
    error, saved, status = "", False, 200
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("只有主管和店主可以修改应对建议")
        try:
            with transaction.atomic():
                for value, _label in ShopperType.choices:
                    if f"tips_{value}" in request.POST:
                        hints.do_save_tip(staff, value, request.POST[f"tips_{value}"][:5000])
            saved = True
        except ValidationError as exc:
            error, status = "；".join(exc.messages), 422
    tips, own = hints.tips_for(staff.shop_id), hints.customised_types(staff.shop_id)
    rows = [{"value": value, "label": label, "tips": tips[value], "customised": value in own}
            for value, label in ShopperType.choices]
    return render(request, "crm/tips.html", {"staff": staff, "rows": rows, "can_edit": can_edit, "error": error,
                                              "saved": saved, "max_chars": hints.TIP_MAX_CHARS}, status=status)
