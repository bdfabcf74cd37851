"""Knowledge JSON API (mounted at /api/knowledge/): quick-phrase lookup for the workbench input,
answers and products for integrations, broadcasts and their acknowledgements, imports."""

from __future__ import annotations

from django.db import transaction
from django.http import JsonResponse
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Schema
from ninja.files import UploadedFile

from xiaoer.accounts import services as account_services
from xiaoer.knowledge import services
from xiaoer.knowledge.importer import FileProblem
from xiaoer.knowledge.models import Product, StandardAnswer

router = Router(tags=["knowledge"])


class PhraseOut(Schema):
    id: int
    shortcut: str
    text: str
    shared: bool
    group: str


@router.get("/phrases", response=list[PhraseOut])
def phrases(request, q: str = "", seat_id: int | None = None, limit: int = 10):
    """`/fh` in the workbench input: matches by shortcut, pinyin initials or text."""
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    if seat_id is not None:
        account_services.access_seat(staff, seat_id)
    rows = services.search_phrases(staff, q, seat_id=seat_id, limit=max(1, min(limit, 30)))
    return [{"id": p.id, "shortcut": p.shortcut, "text": p.text, "shared": p.seat_id is None,
             "group": p.group} for p in rows]


MAX_OFFSET = 10**9  # further than any shop's list: an empty page, not a database error


class AnswerIn(Schema):
    code: str
    category: str
    question: str
    similar: list[str] = []
    answer: str
    product: str = ""
    enabled: bool = True


def _answer_json(a: StandardAnswer) -> dict:
    return {"id": a.id, "code": a.code, "category": a.category, "question": a.question, "similar": a.similar,
            "answer": a.answer, "product": a.product.code if a.product else "", "enabled": a.enabled,
            "must_read": a.must_read}


@router.get("/answers")
def list_answers(request, q: str = "", category: str = "", offset: int = 0, limit: int = 50):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    qs = StandardAnswer.objects.filter(shop_id=staff.shop_id).select_related("product")
    if q:
        qs = qs.filter(question__icontains=q[:100])
    if category:
        qs = qs.filter(category=category)
    offset = max(0, min(offset, MAX_OFFSET))
    return [_answer_json(a) for a in qs[offset: offset + max(1, min(limit, 200))]]


@router.post("/answers")
def create_answer(request, data: AnswerIn):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    with transaction.atomic():
        obj = services.do_save_answer(staff, code=data.code, category=data.category, question=data.question,
                                      similar=data.similar, answer=data.answer, product_code=data.product,
                                      enabled=data.enabled)
    return _answer_json(obj)


@router.put("/answers/{answer_id}")
def update_answer(request, answer_id: int, data: AnswerIn):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    with transaction.atomic():
        obj = services.do_save_answer(staff, code=data.code, category=data.category, question=data.question,
                                      similar=data.similar, answer=data.answer, product_code=data.product,
                                      enabled=data.enabled, instance=services.access_answer(staff, answer_id))
    return _answer_json(obj)


@router.delete("/answers/{answer_id}")
def delete_answer(request, answer_id: int):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    with transaction.atomic():
        services.do_delete_answer(staff, services.access_answer(staff, answer_id))
    return {"ok": True}


@router.post("/answers/{answer_id}/must-read")
def answer_must_read(request, answer_id: int):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    with transaction.atomic():
        notice = services.do_set_must_read(staff, services.access_answer(staff, answer_id))
    return services.notice_dict(notice)


@router.get("/products")
def list_products(request, q: str = "", offset: int = 0, limit: int = 50):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    qs = Product.objects.filter(shop_id=staff.shop_id)
    if q:
        qs = qs.filter(title__icontains=q[:100])
    offset = max(0, min(offset, MAX_OFFSET))
    return [{"id": p.id, "code": p.code, "title": p.title, "material": p.material, "size_chart": p.size_chart,
             "usage": p.usage, "precautions": p.precautions, "care": p.care, "suits": p.suits,
             "not_suits": p.not_suits, "published": p.published, "must_read": p.must_read}
            for p in qs[offset: offset + max(1, min(limit, 200))]]


@router.post("/products/{product_id}/publish")
def publish_product(request, product_id: int):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    with transaction.atomic():
        notice = services.do_publish_product(staff, services.access_product(staff, product_id))
    return services.notice_dict(notice)


@router.get("/notices/pending")
def pending_notices(request):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    return [services.notice_dict(n) for n in services.pending_notices(staff)]


@router.post("/notices/{notice_id}/ack")
def ack_notice(request, notice_id: int):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    services.do_ack_notice(staff, notice_id)
    return {"ok": True}


@router.get("/notices/{notice_id}/unread")
def unread(request, notice_id: int):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    notice = services.access_notice(staff, notice_id)
    return [{"id": s.id, "display_name": s.display_name} for s in services.unread_staff(notice)]


@router.post("/import")
def import_file(request, kind: Form[str], file: File[UploadedFile], skip_bad_rows: Form[bool] = False):
    """Synchronous import for scripts; the web page uses the task queue with progress instead."""
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    if kind not in services.KINDS:
        return JsonResponse({"detail": _("kind 只能是 %s") % " / ".join(services.KINDS)}, status=400)
    if file.size > 20 * 1024 * 1024:
        return JsonResponse({"detail": _("文件太大（上限 20 MB）")}, status=413)
    try:
        result = services.import_file(staff.shop, kind, file.read(), file.name or "", skip_bad_rows=skip_bad_rows)
    except FileProblem as exc:
        return JsonResponse({"detail": str(exc), "errors": []}, status=400)
    return result.as_dict()
