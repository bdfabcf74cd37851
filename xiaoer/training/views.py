"""Pages of training: the scenario list and the training chat (plain POST; htmx swaps the chat).
Thin: parse, call a service, render (docs/training.md)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
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


def _exams_page(request: HttpRequest, staff, error: str = "", status: int = 200) -> HttpResponse:
    from xiaoer.accounts.models import Staff

    can_write = staff.role in SUPERVISOR_ROLES
    return render(request, "training/exams.html", {
        "staff": staff, "exams": services.exams(staff), "can_write": can_write, "error": error,
        "scenarios": services.scenarios(staff) if can_write else [],
        "trainees": list(Staff.objects.filter(shop_id=staff.shop_id, role__in=CHAT_ROLES, is_active=True))
        if can_write else []}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def exams(request: HttpRequest) -> HttpResponse:
    """Exams: supervisors set one (scenarios, trainees, pass mark, deadline); trainees see theirs."""
    staff = account_services.staff_of(request, CHAT_ROLES)
    if request.method == "POST":
        account_services.require_role(staff, SUPERVISOR_ROLES)
        try:
            deadline = dt.datetime.fromisoformat(request.POST.get("deadline", "")[:32])
            if timezone.is_naive(deadline):
                deadline = timezone.make_aware(deadline)
            ids = [int(v) for v in request.POST.getlist("scenario")[:50] if v.isdigit()]
            people = [int(v) for v in request.POST.getlist("trainee")[:200] if v.isdigit()]
            mark = request.POST.get("pass_mark", "60")[:3]
            with transaction.atomic():
                services.do_create_exam(staff, title=request.POST.get("title", "")[:100], scenario_ids=ids,
                                        trainee_ids=people, pass_mark=int(mark) if mark.isdigit() else -1,
                                        deadline=deadline)
        except ValueError:
            return _exams_page(request, staff, _("截止时间格式不对"), status=422)
        except ValidationError as exc:
            return _exams_page(request, staff, "；".join(exc.messages), status=422)
        return redirect("training-exams")
    return _exams_page(request, staff)


@login_required
@require_GET
def exam_page(request: HttpRequest, exam_id: int) -> HttpResponse:
    staff = account_services.staff_of(request, CHAT_ROLES)
    exam = services.access_exam(staff, exam_id)
    return render(request, "training/exam.html", {
        "staff": staff, "exam": exam, "results": services.exam_results(staff, exam),
        "scenarios": list(exam.scenarios.all()), "assigned": exam.trainees.filter(pk=staff.pk).exists()})


@login_required
@require_POST
def exam_start(request: HttpRequest, exam_id: int, scenario_id: int) -> HttpResponse:
    staff = account_services.staff_of(request, CHAT_ROLES)
    exam = services.access_exam(staff, exam_id)
    scenario = services.access_scenario(staff, scenario_id)
    try:
        with transaction.atomic():
            session = services.do_start_exam_session(staff, exam, scenario)
    except ValidationError as exc:
        return HttpResponse("；".join(exc.messages), status=422, content_type="text/plain; charset=utf-8")
    return redirect("training-session", trainingsession_id=session.pk)
