"""JSON API of aftersales: /api/aftersales/ (session auth). Thin: parse, call a service."""

from __future__ import annotations

from django.db import transaction
from ninja import Router, Schema

from xiaoer.accounts import services as account_services
from xiaoer.aftersales import csat, returns
from xiaoer.orders import services as order_services

router = Router(tags=["aftersales"])

# --- returns and CSAT (h9) ------------------------------------------------------------------------

class CaseIn(Schema):
    order_id: int
    kind: str
    reason: str
    description: str = ""
    amount: str | None = None
    conversation_id: int | None = None
    photo_message_ids: list[int] = []


class StepIn(Schema):
    action: str
    note: str = ""
    amount: str | None = None
    carrier: str = ""
    tracking_no: str = ""
    payer: str = ""


class ReturnSettingsIn(Schema):
    approve_within_hours: int | None = None
    refund_within_days: int | None = None
    no_reason_days: int | None = None
    shipping_insurance: bool | None = None
    agent_refund_limit: str | None = None
    postage_table: dict[str, str] | None = None
    return_name: str | None = None
    return_phone: str | None = None
    return_address: str | None = None


class CsatSendIn(Schema):
    conversation_id: int


@router.get("/cases")
def list_cases(request, state: str = "", reason: str = "", overdue: bool = False, seat_id: int | None = None,
               order_id: int | None = None, customer_id: int | None = None):
    staff = account_services.staff_of(request)
    cases = returns.cases_of(staff, state=state[:20], reason=reason[:20], overdue=overdue, seat_id=seat_id,
                             order_id=order_id, customer_id=customer_id)
    return {"cases": [returns.case_json(c) for c in cases]}


@router.post("/cases")
def open_case(request, data: CaseIn):
    with transaction.atomic():
        staff = account_services.staff_of(request, returns.CASE_ROLES)
        order = order_services.access_order(staff, data.order_id)
        conv = order_services.access_conversation(staff, data.conversation_id) if data.conversation_id else None
        case = returns.do_open_case(staff, order, kind=data.kind, reason=data.reason, description=data.description,
                                    amount=data.amount, conversation=conv, photo_message_ids=data.photo_message_ids)
    return returns.case_json(case, detail=True)


@router.get("/cases/{int:returncase_id}")
def get_case(request, returncase_id: int):
    return returns.case_json(returns.access_case(account_services.staff_of(request), returncase_id), detail=True)


@router.post("/cases/{int:returncase_id}/steps")
def case_step(request, returncase_id: int, data: StepIn):
    with transaction.atomic():
        staff = account_services.staff_of(request)
        case = returns.do_step(staff, returns.access_case(staff, returncase_id), data.action, data.dict())
    return returns.case_json(case, detail=True)


@router.get("/settings")
def get_settings(request):
    staff = account_services.staff_of(request, returns.READ_ROLES)
    return returns.settings_json(returns.shop_settings(staff.shop_id))


@router.put("/settings")
def put_settings(request, data: ReturnSettingsIn):
    with transaction.atomic():
        cfg = returns.do_update_settings(account_services.staff_of(request), **data.dict())
    return returns.settings_json(cfg)


@router.post("/csat/send")
def csat_send(request, data: CsatSendIn):
    with transaction.atomic():
        survey = csat.do_send_by_hand(account_services.staff_of(request), data.conversation_id)
    return {"id": survey.pk, "conversation_id": survey.conversation_id, "sent_at": survey.sent_at.isoformat()}


@router.get("/csat/stats")
def csat_stats(request, seat_id: int | None = None):
    return csat.stats(account_services.staff_of(request), seat_id=seat_id)

# --- end of returns and CSAT ----------------------------------------------------------------------
