"""Reviews (评价处理): upsert from imports and the API, follow-ups of medium and bad reviews, replies
from templates, figures. docs/reviews-and-revisits.md; decisions 190–192."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts.models import Role, Shop, Staff
from xiaoer.accounts.services import CHAT_ROLES, SUPERVISOR_ROLES, require_role
from xiaoer.aftersales.models import (
    ReplyTemplate,
    Review,
    ReviewCause,
    ReviewFollowUp,
    ReviewOutcome,
    ReviewRating,
    ReviewSettings,
)
from xiaoer.customers.models import Customer
from xiaoer.orders.models import Order

REVIEW_ROLES = CHAT_ROLES | {Role.AFTERSALES}
IMPORT_ROLES = SUPERVISOR_ROLES | {Role.AFTERSALES}
_WORD_RATINGS = {"好评": ReviewRating.GOOD, "中评": ReviewRating.MEDIUM, "差评": ReviewRating.BAD,
                 "good": ReviewRating.GOOD, "medium": ReviewRating.MEDIUM, "neutral": ReviewRating.MEDIUM,
                 "bad": ReviewRating.BAD, "negative": ReviewRating.BAD, "positive": ReviewRating.GOOD}
_STARS = re.compile(r"([1-5])(?:\.0)?\s*(?:星|分|stars?)?", re.IGNORECASE)
MAX_REPLY = 500


def parse_rating(value) -> tuple[str, int | None]:
    """好评/中评/差评, 1–5 stars (``5``, ``5星``, ``★★★★★``) → (rating, stars). 4–5 stars are good,
    3 medium, 1–2 bad (decision 190)."""
    text = str(value if value is not None else "").strip()
    if text in _WORD_RATINGS or text.lower() in _WORD_RATINGS:
        return _WORD_RATINGS.get(text) or _WORD_RATINGS[text.lower()], None
    if text and set(text) <= {"★", "☆"}:
        stars = text.count("★")
    else:
        match = _STARS.fullmatch(text)
        if not match:
            raise ValueError(_("评价等级看不懂: %(value)s") % {"value": text[:20]})
        stars = int(match.group(1))
    if not 1 <= stars <= 5:
        raise ValueError(_("评价等级看不懂: %(value)s") % {"value": text[:20]})
    rating = ReviewRating.GOOD if stars >= 4 else ReviewRating.MEDIUM if stars == 3 else ReviewRating.BAD
    return rating, stars


@dataclass
class UpsertResult:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    followups_opened: int = 0


_FIELDS = ("buyer_id", "rating", "stars", "text", "reviewed_at", "followup_text")


def upsert_reviews(shop: Shop, rows: list[dict]) -> UpsertResult:
    """Create or update clean review rows (keys: order_no, product, buyer_id, rating, stars, text,
    reviewed_at, followup_text), in bulk. A medium or bad review opens its follow-up once (the
    follow-up's unique link to the review is the guard); a medium or bad review rated good later
    is revised and its open follow-up closed."""
    result = UpsertResult()
    with transaction.atomic(savepoint=False):
        existing = _existing(shop, rows)
        fresh: list[Review] = []
        for row in rows:
            review = existing.get((row["order_no"], row.get("product", "")))
            if review is None:
                fresh.append(_new(shop, row))
            elif _update(review, row):
                result.updated += 1
            else:
                result.skipped += 1
        _link(shop, fresh)
        Review.objects.bulk_create(fresh, batch_size=500)
        result.imported = len(fresh)
        # bulk_create sets ids on PostgreSQL and SQLite ≥ 3.35; read them back to be sure
        ids = dict(Review.objects.filter(shop=shop, order_no__in={r["order_no"] for r in rows})
                   .exclude(rating=ReviewRating.GOOD).values_list("pk", "first_rating"))
        result.followups_opened = _open_followups(shop, list(ids))
    return result


def _existing(shop: Shop, rows: list[dict]) -> dict[tuple[str, str], Review]:
    numbers = {row["order_no"] for row in rows}
    reviews = Review.objects.filter(shop=shop, order_no__in=numbers)
    return {(r.order_no, r.product): r for r in reviews}


def _new(shop: Shop, row: dict) -> Review:
    return Review(shop=shop, order_no=row["order_no"], product=row.get("product", ""), first_rating=row["rating"],
                  **{name: row.get(name) if name in ("stars", "reviewed_at") else row.get(name, "") for name in _FIELDS})


def _link(shop: Shop, reviews: list[Review]) -> None:
    """The order, the buyer and the seat that served them (the order's attributed seat, else the
    buyer's last seat), looked up in bulk."""
    orders = {o.order_no: o for o in Order.objects.filter(shop=shop, order_no__in={r.order_no for r in reviews})
              .only("pk", "order_no", "buyer_id", "attributed_seat_id")}
    buyers = {c.buyer_id: c for c in Customer.objects.filter(shop=shop, buyer_id__in={r.buyer_id for r in reviews
                                                                                    if r.buyer_id})
              .only("pk", "buyer_id", "last_seat_id")}
    by_id = {c.pk: c for c in Customer.objects.filter(
        shop=shop, pk__in={o.buyer_id for o in orders.values() if o.buyer_id}).only("pk", "last_seat_id")}
    for review in reviews:
        order = orders.get(review.order_no)
        customer = by_id.get(order.buyer_id) if order and order.buyer_id else buyers.get(review.buyer_id)
        review.customer, review.order_id_ref = customer, order.pk if order else None
        review.seat_id = (order.attributed_seat_id if order else None) or (customer.last_seat_id if customer else None)


def _update(review: Review, row: dict) -> bool:
    changed = [name for name in _FIELDS
               if name in row and row[name] not in (None, "") and getattr(review, name) != row[name]]
    if not changed:
        return False
    for name in changed:
        setattr(review, name, row[name])
    if review.first_rating != ReviewRating.GOOD and review.rating == ReviewRating.GOOD and not review.revised:
        review.revised = True
        changed.append("revised")
        _close_as_revised(review)
    review.save(update_fields=[*changed, "updated_at"])
    return True


def _close_as_revised(review: Review) -> None:
    ReviewFollowUp.objects.filter(review=review, state=ReviewFollowUp.State.OPEN).update(
        state=ReviewFollowUp.State.CLOSED, outcome=ReviewOutcome.REVISED, closed_at=timezone.now())


def revision_days(shop: Shop) -> int:
    settings_row = ReviewSettings.objects.filter(shop=shop).first()
    return settings_row.revision_days if settings_row else ReviewSettings._meta.get_field("revision_days").default


def _open_followups(shop: Shop, review_ids: list[int]) -> int:
    """Open the follow-ups of the medium/bad reviews REVIEW_IDS that have none; how many this call
    opened. A concurrent import's twin is ignored by the unique link (decision 191)."""
    have = set(ReviewFollowUp.objects.filter(review_id__in=review_ids).values_list("review_id", flat=True))
    todo = Review.objects.filter(pk__in=[i for i in review_ids if i not in have]).only("pk", "seat_id", "reviewed_at")
    days = dt.timedelta(days=revision_days(shop))
    now = timezone.now()
    rows = [ReviewFollowUp(shop=shop, review_id=r.pk, seat_id=r.seat_id, deadline=(r.reviewed_at or now) + days,
                           assignee_role="" if r.seat_id else Role.AFTERSALES) for r in todo]
    ReviewFollowUp.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return len(rows)


# ---- reading -------------------------------------------------------------------------------


def access_review(staff: Staff, review_id) -> Review:
    require_role(staff, REVIEW_ROLES)
    try:
        return Review.objects.get(pk=int(review_id), shop_id=staff.shop_id)
    except (Review.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("review not found") from None


def access_followup(staff: Staff, followup_id) -> ReviewFollowUp:
    require_role(staff, REVIEW_ROLES)
    try:
        return ReviewFollowUp.objects.select_related("review").get(pk=int(followup_id), shop_id=staff.shop_id)
    except (ReviewFollowUp.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("follow-up not found") from None


def reviews_of(staff: Staff, *, rating: str = "", unreplied: bool = False, limit: int = 200) -> list[Review]:
    require_role(staff, REVIEW_ROLES)
    rows = Review.objects.filter(shop_id=staff.shop_id)
    if rating:
        rows = rows.filter(rating=rating)
    if unreplied:
        rows = rows.filter(reply_text="")
    return list(rows.order_by("-reviewed_at", "-id")[:limit])


def followups_for(staff: Staff, *, include_closed: bool = False) -> list[ReviewFollowUp]:
    """The follow-ups STAFF works on: those of the seats they operate, the after-sales role's, and
    all of them for supervisors."""
    require_role(staff, REVIEW_ROLES)
    rows = ReviewFollowUp.objects.filter(shop_id=staff.shop_id).select_related("review", "seat")
    if not include_closed:
        rows = rows.filter(state=ReviewFollowUp.State.OPEN)
    if staff.role not in SUPERVISOR_ROLES:
        rows = rows.filter(Q(seat__operator=staff) | Q(assignee_role=staff.role))
    return list(rows.order_by("deadline")[:500])


# ---- templates and replies -----------------------------------------------------------------


def _text(value: str, limit: int, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationError(_("%(field)s不能为空") % {"field": field})
    if len(text) > limit:
        raise ValidationError(_("%(field)s太长了（最多 %(limit)s 字）") % {"field": field, "limit": limit})
    return text


def do_save_template(staff: Staff, *, kind: str, title: str, text: str) -> ReplyTemplate:
    require_role(staff, IMPORT_ROLES)
    if kind not in ReplyTemplate.Kind.values:
        raise ValidationError(_("未知的回复模板类型"))
    with transaction.atomic(savepoint=False):
        return ReplyTemplate.objects.create(shop_id=staff.shop_id, kind=kind, title=_text(title, 50, _("标题")),
                                            text=_text(text, MAX_REPLY, _("回复内容")))


def templates_of(staff: Staff, kind: str = "") -> list[ReplyTemplate]:
    require_role(staff, REVIEW_ROLES)
    rows = ReplyTemplate.objects.filter(shop_id=staff.shop_id)
    return list(rows.filter(kind=kind) if kind else rows)


def access_template(staff: Staff, template_id, kind: str) -> ReplyTemplate:
    try:
        return ReplyTemplate.objects.get(pk=int(template_id), shop_id=staff.shop_id, kind=kind)
    except (ReplyTemplate.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("template not found") from None


def render_reply(template: ReplyTemplate, review: Review) -> str:
    """The template's text with ``{buyer}`` and ``{product}`` filled in (plain replacement: a
    buyer name with braces can't break it)."""
    text = template.text.replace("{buyer}", review.buyer_id or _("亲")).replace("{product}", review.product)
    return text[:MAX_REPLY]


def do_thank(staff: Staff, review: Review, template: ReplyTemplate) -> Review:
    """Record the thank-you reply of a good review (posted by pasting it on the platform)."""
    require_role(staff, REVIEW_ROLES)
    if review.rating != ReviewRating.GOOD:
        raise ValidationError(_("只有好评用感谢回复；中差评请走跟进"))
    with transaction.atomic(savepoint=False):
        review.reply_text = render_reply(template, review)
        review.replied_at, review.replied_by = timezone.now(), staff
        review.save(update_fields=["reply_text", "replied_at", "replied_by", "updated_at"])
    return review


def do_thank_all(staff: Staff, review_ids: Iterable, template: ReplyTemplate) -> list[Review]:
    """Bulk thank-you: the good reviews among REVIEW_IDS not yet replied to."""
    require_role(staff, REVIEW_ROLES)
    ids = [int(i) for i in list(review_ids)[:1000]]
    rows = Review.objects.filter(shop_id=staff.shop_id, pk__in=ids, rating=ReviewRating.GOOD, reply_text="")
    with transaction.atomic(savepoint=False):
        return [do_thank(staff, review, template) for review in rows]


def do_record_followup(staff: Staff, followup: ReviewFollowUp, *, cause: str = "", outcome: str = "",
                       template: ReplyTemplate | None = None, note: str = "") -> ReviewFollowUp:
    """Record the cause, the explanatory reply (from a template) and the outcome; an outcome closes it."""
    require_role(staff, REVIEW_ROLES)
    if cause and cause not in ReviewCause.values:
        raise ValidationError(_("未知的原因"))
    if outcome and outcome not in ReviewOutcome.values:
        raise ValidationError(_("未知的处理结果"))
    if len(note) > 500:
        raise ValidationError(_("备注太长了（最多 500 字）"))
    with transaction.atomic(savepoint=False):
        followup.cause = cause or followup.cause
        followup.note = note.strip() or followup.note
        if template is not None:
            followup.reply_text = render_reply(template, followup.review)
            if not outcome:
                outcome = ReviewOutcome.EXPLAINED
        if outcome:
            followup.outcome, followup.state = outcome, ReviewFollowUp.State.CLOSED
            followup.closed_at, followup.closed_by = timezone.now(), staff
        followup.save()
    return followup


# ---- figures -------------------------------------------------------------------------------


def _rates(counter: Counter, revised: int) -> dict:
    total = sum(counter[r] for r in ReviewRating.values)
    bad_first = counter["first_not_good"]
    row = {r: counter[r] for r in ReviewRating.values}
    row.update(total=total, revised=revised,
               **{f"{r}_rate": round(counter[r] / total, 4) if total else None for r in ReviewRating.values},
               revised_share=round(revised / bad_first, 4) if bad_first else None)
    return row


def figures(staff: Staff, start: dt.datetime, end: dt.datetime) -> dict:
    """Counts and rates of good/medium/bad reviews made in [START, END), over the shop, per seat and
    per product; revised share = revised / (first rated medium or bad); causes of follow-ups."""
    require_role(staff, REVIEW_ROLES)
    rows = Review.objects.filter(shop_id=staff.shop_id, reviewed_at__gte=start, reviewed_at__lt=end)
    groups: dict[str, dict[str, Counter]] = {"shop": {}, "seat": {}, "product": {}}
    revised: dict[str, Counter] = {"shop": Counter(), "seat": Counter(), "product": Counter()}
    for review in rows.values("rating", "first_rating", "revised", "seat__display_name", "product").iterator():
        keys = {"shop": "", "seat": review["seat__display_name"] or _("无接待客服"), "product": review["product"]}
        for group, key in keys.items():
            counter = groups[group].setdefault(key, Counter())
            counter[review["rating"]] += 1
            counter["first_not_good"] += review["first_rating"] != ReviewRating.GOOD
            revised[group][key] += review["revised"]
    causes = Counter(ReviewFollowUp.objects.filter(review__in=rows).exclude(cause="")
                     .values_list("cause", flat=True))
    return {
        "shop": _rates(groups["shop"].get("", Counter()), revised["shop"][""]),
        "seats": {k: _rates(c, revised["seat"][k]) for k, c in sorted(groups["seat"].items())},
        "products": {k: _rates(c, revised["product"][k]) for k, c in sorted(groups["product"].items())},
        "causes": dict(causes.most_common()),
    }
