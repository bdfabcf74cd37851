"""Pages of training: the scenario list and the training chat (plain POST; htmx swaps the chat).
Thin: parse, call a service, render (docs/training.md)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xiaoer.accounts import services as account_services
from xiaoer.accounts.services import CHAT_ROLES, SUPERVISOR_ROLES
from xiaoer.crm import hints
from xiaoer.training import services
from xiaoer.training.models import SessionStatus


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    staff = account_services.staff_of(request, CHAT_ROLES)
    return render(request, "training/home.html", {
        "staff": staff, "scenarios": services.scenarios(staff), "sessions": services.my_sessions(staff),
        "can_write": staff.role in SUPERVISOR_ROLES, "error": request.GET.get("error", "")[:200]})


@login_required
@require_POST
def start(request: HttpRequest, scenario_id: int) -> HttpResponse:
    staff = account_services.staff_of(request, CHAT_ROLES)
    scenario = services.access_scenario(staff, scenario_id)
    with transaction.atomic():
        session = services.do_start_session(staff, scenario)
    return redirect("training-session", trainingsession_id=session.pk)


@login_required
@require_POST
def from_conversation(request: HttpRequest) -> HttpResponse:
    """One step: a past conversation (its number) becomes a scenario."""
    staff = account_services.staff_of(request, SUPERVISOR_ROLES)
    raw = request.POST.get("conversation_id", "").strip()[:20]
    if not raw.isdigit():
        return render(request, "training/home.html", {
            "staff": staff, "scenarios": services.scenarios(staff), "sessions": services.my_sessions(staff),
            "can_write": True, "error": _("请输入会话编号")}, status=422)
    try:
        with transaction.atomic():
            services.do_scenario_from_conversation(staff, int(raw))
    except ValidationError as exc:
        return render(request, "training/home.html", {
            "staff": staff, "scenarios": services.scenarios(staff), "sessions": services.my_sessions(staff),
            "can_write": True, "error": "；".join(exc.messages)}, status=422)
    return redirect("training-home")


def _chat(request: HttpRequest, staff, session, error: str = "", status: int = 200) -> HttpResponse:
    template = "training/_chat.html" if request.headers.get("HX-Request") else "training/session.html"
    scenario = session.scenario
    return render(request, template, {
        "staff": staff, "session": session, "scenario": scenario, "messages": list(session.messages.all()),
        "tip": hints.tips_for(staff.shop_id).get(scenario.shopper_type, ""),
        "active": session.status == SessionStatus.ACTIVE, "mine": session.trainee_id == staff.pk,
        "error": error}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def session_page(request: HttpRequest, trainingsession_id: int) -> HttpResponse:
    """The training chat; POST sends the trainee's reply (scored, then the shopper answers)."""
    staff = account_services.staff_of(request, CHAT_ROLES)
    session = services.access_session(staff, trainingsession_id)
    if request.method == "POST":
        try:
            with transaction.atomic():
                services.do_reply(staff, session, request.POST.get("text", "")[: services.MAX_REPLY])
        except ValidationError as exc:
            return _chat(request, staff, session, error="；".join(exc.messages), status=422)
        if not request.headers.get("HX-Request"):
            return redirect("training-session", trainingsession_id=session.pk)
    return _chat(request, staff, session)


@login_required
@require_POST
def tick(request: HttpRequest, trainingsession_id: int) -> HttpResponse:
    """Polled by the page: the shopper hurries or leaves after a silence."""
    staff = account_services.staff_of(request, CHAT_ROLES)
    session = services.access_session(staff, trainingsession_id)
    if session.status == SessionStatus.ACTIVE and session.trainee_id == staff.pk:
        with transaction.atomic():
            services.do_tick(staff, session)
    return _chat(request, staff, session)


@login_required
@require_POST
def end(request: HttpRequest, trainingsession_id: int) -> HttpResponse:
    staff = account_services.staff_of(request, CHAT_ROLES)
    session = services.access_session(staff, trainingsession_id)
    try:
        with transaction.atomic():
            services.do_end_session(staff, session)
    except ValidationError as exc:
        return _chat(request, staff, session, error="；".join(exc.messages), status=422)
    return redirect("training-session", trainingsession_id=session.pk)
