"""JSON API of coupons, questionnaires and birthday care, mounted under /api/crm/ by crm/api.py
(docs/customers-care.md). Thin edges: each write opens the unit of work and calls a service."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from ninja import Router, Schema
from pydantic import Field

from xiaoer.accounts import services as account_services
from xiaoer.crm import care, care_timeline, coupons, questionnaires
from xiaoer.crm.models import Coupon, CouponKind, CouponReason
from xiaoer.customers import services as customer_services
from xiaoer.orders import services as order_services

router = Router(tags=["crm: coupons, questionnaires, care"])


class BatchIn(Schema):
    name: str = Field(max_length=40)
    kind: str = CouponKind.AMOUNT
    value: str = Field(max_length=20)
    threshold: str = Field("0", max_length=20)
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    valid_days: int | None = Field(None, ge=1, le=3650)
    limit: int | None = Field(None, ge=1, le=10_000_000)


class IssueIn(Schema):
    customer_id: int
    reason: str = CouponReason.MANUAL


class RedeemIn(Schema):
    code: str = Field(max_length=40)
    order_id: int


class QuestionIn(Schema):
    text: str = Field(max_length=200)
    kind: str = "single"
    choices: list[str] = Field(default_factory=list, max_length=10)
    required: bool = False
    maps_to: str = Field("", max_length=50)


class QuestionnaireIn(Schema):
    title: str = Field(max_length=60)
    intro: str = Field("", max_length=300)
    questions: list[QuestionIn] = Field(max_length=20)
    coupon_batch_id: int | None = None
    active: bool = True


class SendChatIn(Schema):
    conversation_id: int


class SendSmsIn(Schema):
    customer_id: int


class CareIn(Schema):
    enabled: bool
    message: str = Field(max_length=300)
    hours_start: int = Field(10, ge=0, le=23)
    hours_end: int = Field(20, ge=1, le=24)
    coupon_batch_id: int | None = None


def _staff(request, roles=coupons.MANAGE_ROLES):
    return account_services.staff_of(request, roles)


# --- coupons -----------------------------------------------------------------------------------

@router.get("/coupon-batches")
def list_batches(request):
    staff = _staff(request)
    return {"batches": [{**coupons.batch_json(s.batch), "issued": s.issued, "redeemed": s.redeemed,
                         "expired": s.expired, "open": s.open, "order_total": str(s.order_total)}
                        for s in coupons.batch_stats(staff)]}


@router.post("/coupon-batches")
def create_batch(request, payload: BatchIn):
    with transaction.atomic():
        batch = coupons.do_create_batch(_staff(request), **payload.dict())
    return coupons.batch_json(batch)


@router.get("/coupon-batches/{int:batch_id}")
def get_batch(request, batch_id: int):
    staff = _staff(request)
    batch = coupons.access_batch(staff, batch_id)
    return {**coupons.batch_json(batch), "coupons": [coupons.coupon_json(c) for c in coupons.batch_coupons(staff, batch)]}


@router.post("/coupon-batches/{int:batch_id}/issue")
def issue_coupon(request, batch_id: int, payload: IssueIn):
    with transaction.atomic():
        staff = _staff(request)
        batch = coupons.access_batch(staff, batch_id)
        customer = customer_services.access_customer(staff, payload.customer_id)
        coupon, created = coupons.do_issue_coupon(staff, batch, customer, reason=payload.reason)
    return {"created": created, "coupon": coupons.coupon_json(coupon)}


@router.post("/coupons/redeem")
def redeem_coupon(request, payload: RedeemIn):
    """Record an order as a coupon's redemption (by hand or from another system)."""
    with transaction.atomic():
        staff = _staff(request)
        order = order_services.access_order(staff, payload.order_id)
        coupon = coupons.do_redeem_code(staff, staff.shop, payload.code, order, via="api")
    return coupons.coupon_json(Coupon.objects.get(pk=coupon.pk))


@router.get("/customers/{int:customer_id}/coupons")
def customer_coupons(request, customer_id: int):
    staff = account_services.staff_of(request)
    customer = customer_services.access_customer(staff, customer_id)
    rows = Coupon.objects.filter(customer=customer, shop_id=staff.shop_id).order_by("-issued_at")[:200]
    return {"coupons": [coupons.coupon_json(c) for c in rows]}


@router.get("/customers/{int:customer_id}/care")
def customer_care(request, customer_id: int):
    """The customer's coupons, questionnaire answers and birthday greetings, newest first."""
    staff = account_services.staff_of(request)
    customer = customer_services.access_customer(staff, customer_id)
    return {"entries": [{"at": e.at.isoformat(), "kind": e.kind, "title": e.title, "detail": e.detail}
                        for e in care_timeline.care_events(customer)]}


# --- questionnaires ----------------------------------------------------------------------------

@router.get("/questionnaires")
def list_questionnaires(request):
    staff = account_services.staff_of(request)
    return {"questionnaires": [questionnaires.questionnaire_json(q) for q in questionnaires.questionnaires_of(staff)]}


@router.post("/questionnaires")
def create_questionnaire(request, payload: QuestionnaireIn):
    with transaction.atomic():
        data = payload.dict()
        questionnaire = questionnaires.do_save_questionnaire(_staff(request), **data)
    return questionnaires.questionnaire_json(questionnaire, detail=True)


@router.get("/questionnaires/{int:questionnaire_id}")
def get_questionnaire(request, questionnaire_id: int):
    staff = account_services.staff_of(request)
    return questionnaires.questionnaire_json(questionnaires.access_questionnaire(staff, questionnaire_id), detail=True)


@router.put("/questionnaires/{int:questionnaire_id}")
def update_questionnaire(request, questionnaire_id: int, payload: QuestionnaireIn):
    with transaction.atomic():
        staff = _staff(request)
        questionnaire = questionnaires.access_questionnaire(staff, questionnaire_id)
        questionnaire = questionnaires.do_save_questionnaire(staff, questionnaire=questionnaire, **payload.dict())
    return questionnaires.questionnaire_json(questionnaire, detail=True)


@router.get("/questionnaires/{int:questionnaire_id}/responses")
def list_responses(request, questionnaire_id: int):
    staff = _staff(request)
    questionnaire = questionnaires.access_questionnaire(staff, questionnaire_id)
    return {"responses": [{"id": r.pk, "customer_id": r.customer_id, "answers": r.answers,
                           "coupon_id": r.coupon_id, "submitted_at": r.submitted_at.isoformat()}
                          for r in questionnaires.responses_of(questionnaire)]}


@router.post("/questionnaires/{int:questionnaire_id}/send-chat")
def send_in_chat(request, questionnaire_id: int, payload: SendChatIn):
    """The agent sends the questionnaire as a link card into a conversation they may answer."""
    with transaction.atomic():
        staff = account_services.staff_of(request)
        questionnaire = questionnaires.access_questionnaire(staff, questionnaire_id)
        return questionnaires.do_send_in_chat(staff, questionnaire, payload.conversation_id)


@router.post("/questionnaires/{int:questionnaire_id}/send-sms")
def send_sms(request, questionnaire_id: int, payload: SendSmsIn):
    with transaction.atomic():
        staff = account_services.staff_of(request)
        questionnaire = questionnaires.access_questionnaire(staff, questionnaire_id)
        customer = customer_services.access_customer(staff, payload.customer_id)
        return {"key": questionnaires.do_send_sms(staff, questionnaire, customer)}


# --- birthday care -----------------------------------------------------------------------------

def _care_json(row) -> dict:
    return {"enabled": row.birthday_enabled, "message": row.birthday_message, "hours_start": row.hours_start,
            "hours_end": row.hours_end, "coupon_batch_id": row.birthday_batch_id}


@router.get("/care/birthday")
def get_care(request):
    return _care_json(care.settings_of(_staff(request).shop_id))


@router.put("/care/birthday")
def put_care(request, payload: CareIn):
    with transaction.atomic():
        row = care.do_save_settings(_staff(request), enabled=payload.enabled, message=payload.message,
                                    hours_start=payload.hours_start, hours_end=payload.hours_end,
                                    batch_id=payload.coupon_batch_id)
    return _care_json(row)
