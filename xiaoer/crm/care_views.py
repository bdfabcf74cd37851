"""Pages of coupons, questionnaires and birthday care (supervisors and owners), and the shopper's
public answer page reached by a signed link. Thin: parse, call a service, render."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from xiaoer.accounts import services as account_services
from xiaoer.crm import care, coupons, questionnaires
from xiaoer.crm.models import CouponKind, CouponReason, QuestionKind
from xiaoer.customers.models import CustomAttribute, Customer
from xiaoer.orders.models import Order

ERROR_MAX = 200
PANEL_TITLE = gettext_noop("问卷与优惠券")  # settings.XIAOER_SIDE_PANELS names it; marked for makemessages


def _manager(request: HttpRequest):
    return account_services.staff_of(request, coupons.MANAGE_ROLES)


def _back(name: str, *args, error: str = "") -> HttpResponse:
    url = reverse(name, args=args)
    return redirect(f"{url}?error={error[:ERROR_MAX]}" if error else url)


def _errors(exc: ValidationError) -> str:
    return "；".join(exc.messages)


def _local_datetime(value: str, tz: ZoneInfo) -> dt.datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value[:19])
    except ValueError:
        raise ValidationError(_("时间格式不对")) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _int_or_none(value: str) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


# --- coupons -----------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def coupons_page(request: HttpRequest) -> HttpResponse:
    staff = _manager(request)
    if request.method == "POST":
        post, tz = request.POST, ZoneInfo(staff.shop.timezone)
        try:
            with transaction.atomic():
                coupons.do_create_batch(
                    staff, name=post.get("name", ""), kind=post.get("kind", ""), value=post.get("value", "")[:20],
                    threshold=post.get("threshold", "")[:20] or "0",
                    valid_from=_local_datetime(post.get("valid_from", ""), tz),
                    valid_until=_local_datetime(post.get("valid_until", ""), tz),
                    valid_days=_int_or_none(post.get("valid_days", "")), limit=_int_or_none(post.get("limit", "")))
        except ValidationError as exc:
            return _back("crm-coupons", error=_errors(exc))
        return _back("crm-coupons")
    return render(request, "crm/coupons.html", {
        "staff": staff, "stats": coupons.batch_stats(staff), "kinds": CouponKind.choices,
        "error": request.GET.get("error", "")[:ERROR_MAX]})


@login_required
@require_http_methods(["GET", "POST"])
def coupon_batch_page(request: HttpRequest, batch_id: int) -> HttpResponse:
    staff = _manager(request)
    batch = coupons.access_batch(staff, batch_id)
    if request.method == "POST":
        try:
            with transaction.atomic():
                _batch_action(staff, batch, request.POST)
        except ValidationError as exc:
            return _back("crm-coupon-batch", batch.pk, error=_errors(exc))
        return _back("crm-coupon-batch", batch.pk)
    rows = coupons.batch_coupons(staff, batch)
    return render(request, "crm/coupon_batch.html", {
        "staff": staff, "batch": batch, "rows": [(c, coupons.coupon_state(c), coupons.show_code(c.code)) for c in rows],
        "reasons": CouponReason.choices, "error": request.GET.get("error", "")[:ERROR_MAX]})


def _batch_action(staff, batch, post) -> None:
    action = post.get("action", "")
    if action == "issue":
        customer = Customer.objects.filter(shop_id=staff.shop_id, buyer_id=post.get("buyer_id", "").strip()[:100]).first()
        if customer is None:
            raise ValidationError(_("没有这个买家"))
        coupons.do_issue_coupon(staff, batch, customer, reason=post.get("reason", CouponReason.MANUAL))
    elif action == "redeem":
        order = Order.objects.filter(shop_id=staff.shop_id, order_no=post.get("order_no", "").strip()[:64]).first()
        if order is None:
            raise ValidationError(_("没有这个订单"))
        coupons.do_redeem_code(staff, staff.shop, post.get("code", ""), order, via="manual")
    elif action in ("stop", "start"):
        coupons.do_set_batch_active(staff, batch, action == "start")
    else:
        raise ValidationError(_("未知操作"))


# --- questionnaires ----------------------------------------------------------------------------

FORM_ROWS = 20


def _questions_from(post) -> list[dict]:
    """Rows q<N>_text / _kind / _choices (one option per line) / _maps / _required; empty rows skipped."""
    questions = []
    for n in range(1, FORM_ROWS + 1):
        text = post.get(f"q{n}_text", "").strip()
        if not text:
            continue
        questions.append({"text": text[:200], "kind": post.get(f"q{n}_kind", "single"),
                          "choices": [c.strip() for c in post.get(f"q{n}_choices", "")[:600].splitlines() if c.strip()],
                          "maps_to": post.get(f"q{n}_maps", "")[:50], "required": bool(post.get(f"q{n}_required"))})
    return questions


@login_required
@require_http_methods(["GET", "POST"])
def questionnaires_page(request: HttpRequest) -> HttpResponse:
    staff = _manager(request)
    if request.method == "POST":
        try:
            with transaction.atomic():
                questionnaire = questionnaires.do_save_questionnaire(
                    staff, title=request.POST.get("title", ""), intro=request.POST.get("intro", ""),
                    questions=_questions_from(request.POST),
                    coupon_batch_id=_int_or_none(request.POST.get("coupon_batch", "")))
        except ValidationError as exc:
            return _back("crm-questionnaires", error=_errors(exc))
        return _back("crm-questionnaire", questionnaire.pk)
    targets = [("", _("不映射")), ("gender", _("性别")), ("birthday", _("生日")), ("city", _("城市")),
               ("age_band", _("年龄段"))]
    targets += [(f"attr:{a.key}", a.label) for a in CustomAttribute.objects.filter(shop_id=staff.shop_id)]
    return render(request, "crm/questionnaires.html", {
        "staff": staff, "questionnaires": questionnaires.questionnaires_of(staff), "kinds": QuestionKind.choices,
        "targets": targets, "rows": range(1, 6), "more_rows": range(6, FORM_ROWS + 1),
        "batches": coupons.batch_stats(staff), "error": request.GET.get("error", "")[:ERROR_MAX]})


@login_required
@require_http_methods(["GET", "POST"])
def questionnaire_page(request: HttpRequest, questionnaire_id: int) -> HttpResponse:
    staff = _manager(request)
    questionnaire = questionnaires.access_questionnaire(staff, questionnaire_id)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            with transaction.atomic():
                if action == "sms":
                    customer = Customer.objects.filter(shop_id=staff.shop_id,
                                                       buyer_id=request.POST.get("buyer_id", "").strip()[:100]).first()
                    if customer is None:
                        raise ValidationError(_("没有这个买家"))
                    questionnaires.do_send_sms(staff, questionnaire, customer)
                elif action in ("stop", "start"):
                    questionnaires.do_set_active(staff, questionnaire, action == "start")
                else:
                    raise ValidationError(_("未知操作"))
        except ValidationError as exc:
            return _back("crm-questionnaire", questionnaire.pk, error=_errors(exc))
        return _back("crm-questionnaire", questionnaire.pk)
    responses = [(r, questionnaires.answers_shown(r)) for r in questionnaires.responses_of(questionnaire)]
    return render(request, "crm/questionnaire.html", {
        "staff": staff, "questionnaire": questionnaire, "questions": questionnaire.questions.all(),
        "responses": responses, "error": request.GET.get("error", "")[:ERROR_MAX]})


# --- birthday care -----------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def care_page(request: HttpRequest) -> HttpResponse:
    staff = _manager(request)
    if request.method == "POST":
        post = request.POST
        try:
            with transaction.atomic():
                care.do_save_settings(staff, enabled=bool(post.get("enabled")), message=post.get("message", "")[:400],
                                      hours_start=_int_or_none(post.get("hours_start", "")) or 0,
                                      hours_end=_int_or_none(post.get("hours_end", "")) or 0,
                                      batch_id=_int_or_none(post.get("coupon_batch", "")))
        except ValidationError as exc:
            return _back("crm-care", error=_errors(exc))
        return _back("crm-care")
    return render(request, "crm/care.html", {
        "staff": staff, "care": care.settings_of(staff.shop_id), "greetings": care.greetings_of(staff.shop),
        "batches": coupons.batch_stats(staff), "hours": range(0, 25), "error": request.GET.get("error", "")[:ERROR_MAX]})


# --- the workbench side panel -----------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def care_panel(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The conversation's customer: their coupons and questionnaire answers, and the shop's
    active questionnaires to send as a card (htmx partial of the workbench side panel)."""
    from xiaoer.chat import services as chat_services

    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    conv = chat_services.access_conversation(staff, conversation_id)
    error, status = "", 200
    if request.method == "POST":
        try:
            with transaction.atomic():
                questionnaire = questionnaires.access_questionnaire(staff, _int_or_none(request.POST.get("questionnaire", "")))
                questionnaires.do_send_in_chat(staff, questionnaire, conv.pk)
        except ValidationError as exc:
            error, status = _errors(exc), 400
    customer = conv.customer
    return render(request, "crm/care_panel.html", {
        "conversation": conv, "may_send": chat_services.may_reply(staff, conv),
        "questionnaires": [q for q in questionnaires.questionnaires_of(staff) if q.active],
        "coupons": [(c, coupons.coupon_state(c), coupons.show_code(c.code)) for c in
                    customer.coupons.filter(shop_id=staff.shop_id).select_related("batch").order_by("-issued_at")[:20]],
        "answered": set(customer.questionnaire_responses.values_list("questionnaire_id", flat=True)),
        "error": error}, status=status)


# --- the shopper's answer page -----------------------------------------------------------------

@csrf_protect
@require_http_methods(["GET", "POST"])
def answer_page(request: HttpRequest, shop_slug: str, token: str) -> HttpResponse:
    """Public: the signed link is the authority (one questionnaire, one customer)."""
    questionnaire, customer = questionnaires.resolve_token(shop_slug, token)
    done = questionnaire.responses.filter(customer=customer).select_related("coupon").first()
    error, status = "", 200
    if request.method == "POST" and done is None:
        raw = {str(q.pk): (request.POST.getlist(str(q.pk)) if q.kind == QuestionKind.MULTIPLE
                           else request.POST.get(str(q.pk), "")) for q in questionnaire.questions.all()}
        try:
            with transaction.atomic():
                done = questionnaires.do_submit_answers(questionnaire, customer, raw).response
        except ValidationError as exc:
            error, status = _errors(exc), 400
    coupon = done.coupon if done else None
    return render(request, "crm/answer.html", {
        "shop": questionnaire.shop, "questionnaire": questionnaire, "questions": questionnaire.questions.all(),
        "done": done, "coupon": coupon, "coupon_code": coupons.show_code(coupon.code) if coupon else "",
        "error": error}, status=status)
