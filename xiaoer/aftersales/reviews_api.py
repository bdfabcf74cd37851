"""JSON API of reviews: /api/aftersales/reviews/… (session auth). docs/reviews-and-revisits.md."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Body, File, Form, Router, Schema
from ninja.files import UploadedFile

from xiaoer.accounts import services as account_services
from xiaoer.aftersales import reviews_import
from xiaoer.aftersales import reviews_services as services
from xiaoer.aftersales.models import ReplyTemplate, Review, ReviewFollowUp

router = Router(tags=["reviews"])
MAX_UPLOAD = 20 * 1024 * 1024


def review_json(review: Review) -> dict:
    return {"id": review.id, "order_no": review.order_no, "product": review.product, "buyer_id": review.buyer_id,
            "rating": review.rating, "stars": review.stars, "text": review.text,
            "followup_text": review.followup_text, "first_rating": review.first_rating, "revised": review.revised,
            "reviewed_at": review.reviewed_at, "seat_id": review.seat_id,
            "reply_text": review.reply_text, "replied_at": review.replied_at}


def followup_json(followup: ReviewFollowUp) -> dict:
    return {"id": followup.id, "review": review_json(followup.review), "seat_id": followup.seat_id,
            "assignee_role": followup.assignee_role, "state": followup.state, "cause": followup.cause,
            "outcome": followup.outcome, "reply_text": followup.reply_text, "note": followup.note,
            "deadline": followup.deadline, "overdue": followup.state == "open" and followup.deadline < timezone.now()}


@router.get("/reviews")
def list_reviews(request, rating: str = "", unreplied: bool = False, limit: int = 100):
    staff = account_services.staff_of(request)
    rows = services.reviews_of(staff, rating=rating[:10], unreplied=unreplied, limit=max(1, min(limit, 500)))
    return {"reviews": [review_json(r) for r in rows]}


@router.post("/reviews")
def upsert_reviews(request, payload: dict = Body(...)):  # noqa: B008 - ninja idiom
    """Reviews as JSON: {"reviews": [{order_no, rating, product, buyer_id, text, reviewed_at,
    followup_text}, …]} (at most 1000); reported like the file import."""
    with transaction.atomic():
        staff = account_services.staff_of(request, services.IMPORT_ROLES)
        rows = payload.get("reviews")
        if not isinstance(rows, list) or len(rows) > 1000:
            raise ValidationError(_("reviews 必须是最多 1000 条的列表"))
        tz, clean, errors = ZoneInfo(staff.shop.timezone), {}, []
        for number, raw in enumerate(rows, start=1):
            try:
                if not isinstance(raw, dict):
                    raise ValueError(_("每条评价必须是一个对象"))
                row = reviews_import.clean_review(raw, tz)
                clean[(row["order_no"], row["product"])] = row
            except ValueError as exc:
                errors.append({"row": number, "reason": str(exc)})
        result = services.upsert_reviews(staff.shop, list(clean.values()))
        return {"imported": result.imported, "updated": result.updated,
                "skipped": result.skipped + len(errors), "errors": errors,
                "followups_opened": result.followups_opened}


@router.post("/reviews/import")
def import_reviews(request, file: File[UploadedFile], mapping: Form[str] = ""):
    """A platform review export (CSV or xlsx), imported synchronously; ``mapping`` is the mapping
    file's JSON text."""
    staff = account_services.staff_of(request, services.IMPORT_ROLES)
    if file.size > MAX_UPLOAD:
        return JsonResponse({"detail": _("文件太大（上限 20 MB）")}, status=413)
    suffix = ".xlsx" if (file.name or "").lower().endswith((".xlsx", ".xlsm")) else ".csv"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(file.read())
        try:
            rules = None
            if mapping:
                (Path(folder) / "m.json").write_text(mapping[:20000], "utf-8")
                rules = reviews_import.load_mapping(Path(folder) / "m.json")
            report = reviews_import.import_file(staff.shop, path, mapping=rules)
        except reviews_import.ImportFileError as exc:
            return JsonResponse({"detail": str(exc), "errors": []}, status=400)
    return report.as_dict()


@router.get("/reviews/followups")
def list_followups(request, include_closed: bool = False):
    staff = account_services.staff_of(request)
    return {"followups": [followup_json(f) for f in services.followups_for(staff, include_closed=include_closed)]}


class FollowUpIn(Schema):
    cause: str = ""
    outcome: str = ""
    template_id: int | None = None
    note: str = ""


@router.post("/reviews/followups/{int:followup_id}")
def record_followup(request, followup_id: int, body: FollowUpIn):
    with transaction.atomic():
        staff = account_services.staff_of(request)
        followup = services.access_followup(staff, followup_id)
        template = services.access_template(staff, body.template_id, ReplyTemplate.Kind.EXPLAIN) \
            if body.template_id is not None else None
        services.do_record_followup(staff, followup, cause=body.cause[:30], outcome=body.outcome[:30],
                                    template=template, note=body.note)
        return followup_json(followup)


class ThankIn(Schema):
    template_id: int
    review_ids: list[int]


@router.post("/reviews/thank")
def thank(request, body: ThankIn):
    """Thank-you replies to good reviews, one or many; the texts come back ready to paste."""
    with transaction.atomic():
        staff = account_services.staff_of(request)
        template = services.access_template(staff, body.template_id, ReplyTemplate.Kind.THANKS)
        if len(body.review_ids) == 1:
            done = [services.do_thank(staff, services.access_review(staff, body.review_ids[0]), template)]
        else:
            done = services.do_thank_all(staff, body.review_ids, template)
        return {"replied": [{"id": r.id, "order_no": r.order_no, "reply_text": r.reply_text} for r in done]}


@router.get("/reviews/templates")
def list_templates(request, kind: str = ""):
    staff = account_services.staff_of(request)
    return {"templates": [{"id": t.id, "kind": t.kind, "title": t.title, "text": t.text}
                          for t in services.templates_of(staff, kind[:10])]}


class TemplateIn(Schema):
    kind: str
    title: str
    text: str


@router.post("/reviews/templates")
def add_template(request, body: TemplateIn):
    with transaction.atomic():
        staff = account_services.staff_of(request)
        template = services.do_save_template(staff, kind=body.kind, title=body.title, text=body.text)
        return {"id": template.id, "kind": template.kind, "title": template.title, "text": template.text}


@router.get("/reviews/figures")
def figures(request, start: dt.date | None = None, end: dt.date | None = None):
    """Figures of reviews made from START to END (both days included, the shop's time zone;
    default: the last 30 days)."""
    staff = account_services.staff_of(request)
    tz = ZoneInfo(staff.shop.timezone)
    end = end or timezone.now().astimezone(tz).date()
    start = start or end - dt.timedelta(days=29)
    if end < start or (end - start).days > 400:
        raise ValidationError(_("时间段不对（最长 400 天）"))
    since = dt.datetime.combine(start, dt.time(), tz)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz)
    return services.figures(staff, since, until)
