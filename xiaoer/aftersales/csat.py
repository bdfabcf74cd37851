"""Satisfaction survey (CSAT): one rating card per resolved conversation (docs/aftersales.md
"Satisfaction survey"; decision 188).

Satisfaction = answers rated 4 or 5 / answers; response rate = answers / cards sent.
"""

from __future__ import annotations

import datetime as dt

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Shop, Staff
from xiaoer.aftersales.models import CsatSurvey
from xiaoer.chat.models import Conversation

LINK_SALT = "xiaoer.aftersales.csat"
LINK_MAX_AGE = 60 * 60 * 24 * 90
MAX_COMMENT = 300


def make_token(survey: CsatSurvey) -> str:
    return signing.TimestampSigner(salt=f"{LINK_SALT}:{survey.shop.secret}").sign_object({"s": survey.pk})


def link_path(survey: CsatSurvey) -> str:
    return reverse("aftersales-csat-answer", args=[survey.shop.slug, make_token(survey)])


def resolve_token(shop_slug: str, token: str) -> CsatSurvey:
    shop = Shop.objects.filter(slug=str(shop_slug)[:50]).first()
    if shop is None or len(token or "") > 300:
        raise Http404("not found")
    try:
        data = signing.TimestampSigner(salt=f"{LINK_SALT}:{shop.secret}").unsign_object(token, max_age=LINK_MAX_AGE)
        return CsatSurvey.objects.select_related("shop").get(pk=int(data["s"]), shop=shop)
    except (signing.BadSignature, KeyError, TypeError, ValueError, CsatSurvey.DoesNotExist):
        raise Http404("not found") from None


def _send(conv: Conversation, *, sent_by: Staff | None, served_by_id: int | None, seat_id: int | None) -> CsatSurvey | None:
    """Create the survey and post its card; None when this conversation already has one."""
    from xiaoer.chat import writer

    try:
        with transaction.atomic():  # a savepoint: the unique conversation is the "at most once"
            survey = CsatSurvey.objects.create(shop_id=conv.shop_id, conversation=conv, customer_id=conv.customer_id,
                                               seat_id=seat_id, served_by_id=served_by_id, sent_by=sent_by,
                                               sent_at=timezone.now())
    except IntegrityError:
        return None
    survey.shop = conv.shop
    body = _("请为本次服务打分（1–5 星），也可以留下意见")
    writer.post_message_sync(conv.pk, sender_kind="system", kind="card", body=body,
                             payload={"type": "csat", "survey": survey.pk, "url": link_path(survey),
                                      "title": _("服务评价"), "link_text": _("去评价")},
                             client_id=f"csat-{conv.pk}")
    return survey


def on_resolved(event) -> None:
    """Listener of chat.ConversationResolved (durable, at least once: idempotent by the unique row)."""
    conv = Conversation.objects.select_related("shop").filter(pk=event.conversation_id).first()
    if conv is None or conv.customer_id is None:
        return
    with transaction.atomic():
        _send(conv, sent_by=None, served_by_id=event.staff_id, seat_id=event.seat_id)


@transaction.atomic(savepoint=False)
def do_send_by_hand(staff: Staff, conversation_id: int) -> CsatSurvey:
    """An agent sends the card now; refused when the conversation already had one."""
    from xiaoer.chat import services as chat_services

    conv = chat_services.access_conversation(staff, conversation_id)
    seat = conv.seat
    served = seat.operator_id if seat is not None else staff.pk
    survey = _send(conv, sent_by=staff, served_by_id=served, seat_id=seat.pk if seat else None)
    if survey is None:
        raise ValidationError(_("这个会话已经发过满意度评价"))
    return survey


@transaction.atomic(savepoint=False)
def do_answer(survey: CsatSurvey, rating, comment: str = "") -> CsatSurvey:
    """The shopper rates (through the card's signed link); a later answer replaces the first."""
    try:
        rating = int(rating)
    except (TypeError, ValueError):
        raise ValidationError(_("请选择 1 到 5 星")) from None
    if not 1 <= rating <= 5:
        raise ValidationError(_("请选择 1 到 5 星"))
    survey = CsatSurvey.objects.select_for_update().get(pk=survey.pk)
    survey.rating, survey.comment = rating, str(comment or "").strip()[:MAX_COMMENT]
    survey.answered_at = timezone.now()
    survey.save(update_fields=["rating", "comment", "answered_at"])
    return survey


def stats(staff: Staff, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
          seat_id: int | None = None) -> dict:
    """Sent, answered, satisfied (4–5), satisfaction = satisfied / answered, response rate =
    answered / sent (both None when their denominator is 0)."""
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES | account_services.CHAT_ROLES)
    qs = CsatSurvey.objects.filter(shop_id=staff.shop_id)
    if since:
        qs = qs.filter(sent_at__gte=since)
    if until:
        qs = qs.filter(sent_at__lt=until)
    if seat_id:
        qs = qs.filter(seat_id=seat_id)
    row = qs.aggregate(sent=Count("id"), answered=Count("id", filter=Q(rating__isnull=False)),
                       satisfied=Count("id", filter=Q(rating__gte=4)))
    row["satisfaction"] = round(row["satisfied"] / row["answered"], 4) if row["answered"] else None
    row["response_rate"] = round(row["answered"] / row["sent"], 4) if row["sent"] else None
    return row
