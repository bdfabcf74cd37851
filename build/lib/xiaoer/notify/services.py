"""Outbound notices: record first, then deliver at most once per idempotency key.

The protocol (docs/notifications.md, docs/decisions/041-notices-exactly-once.md):
1. Whoever decides to notify inserts a Notice with a unique key in its own transaction
   (``build_notice`` + ``do_queue_notices``). A second decision inserts nothing.
2. Delivery claims rows (pending/failed → sending, with a claim token) before sending, so two
   workers never send the same notice.
3. The outcome is recorded right after the send. A process that dies in between leaves the
   row in "sending"; after STALE_AFTER the sweep resends it only where the channel itself
   deduplicates (chat: unique client id per conversation; an SMS gateway honouring
   Idempotency-Key). Elsewhere it becomes "unknown" and is never resent.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from xiaoer.accounts.models import Shop
from xiaoer.notify import backends, texts
from xiaoer.notify.models import Channel, Notice, NoticeStatus, NoticeTemplate

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
STALE_AFTER = timedelta(minutes=5)
MAX_BODY = 1000
RECORD_GROUP = 100


def client_id_for(key: str) -> str:
    """The chat client id a notice is delivered under: deterministic, ≤ 56 chars (the chat
    writer puts its server namespace "sys:" in front and allows 64 in all)."""
    if len(key) <= 56:
        return key
    return "n-" + hashlib.sha256(key.encode()).hexdigest()[:54]


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))


def shop_templates(shop: Shop) -> dict[str, str]:
    """Built-in templates with the shop's own wording laid over them."""
    merged = dict(texts.DEFAULTS)
    merged.update(dict(NoticeTemplate.objects.filter(shop=shop).values_list("name", "text")))
    return merged


def render(shop: Shop, template: str, context: dict, *, templates: dict[str, str] | None = None) -> str:
    table = templates if templates is not None else shop_templates(shop)
    return texts.render(table.get(template, texts.DEFAULTS.get(template, "")), context)[:MAX_BODY]


def do_set_template(shop: Shop, name: str, text: str) -> NoticeTemplate:
    from django.core.exceptions import ValidationError

    if name not in texts.DEFAULTS:
        raise ValidationError(f"未知模板: {name}")
    text = (text or "").strip()
    if not text or len(text) > MAX_BODY:
        raise ValidationError("模板不能为空，最长 1000 字")
    row, _ = NoticeTemplate.objects.update_or_create(shop=shop, name=name, defaults={"text": text})
    return row


def build_notice(shop: Shop, *, key: str, channel: str, template: str, body: str, recipient: str = "",
                 conversation_id: int | None = None, subject: str = "",
                 now: datetime | None = None, not_before: datetime | None = None) -> Notice:
    """An unsaved notice; pass a batch of them to ``do_queue_notices``."""
    now = now or timezone.now()
    return Notice(shop=shop, key=key[:150], channel=channel, template=template, body=body[:MAX_BODY],
                  recipient=recipient[:200], conversation_id=conversation_id, subject=subject[:200],
                  status=NoticeStatus.PENDING, next_attempt_at=not_before or now, created_at=now)


def do_queue_notices(notices: list[Notice], *, deliver: bool = True) -> list[str]:
    """Insert NOTICES; a key that already exists keeps its first row (the idempotency claim).
    Delivery is scheduled after commit; the periodic sweep catches anything left behind."""
    if not notices:
        return []
    Notice.objects.bulk_create(notices, ignore_conflicts=True, batch_size=500)
    keys = [n.key for n in notices]
    if deliver:
        transaction.on_commit(lambda: schedule_delivery(keys))
    return keys


def do_queue_notice(shop: Shop, **kwargs) -> Notice:
    deliver = kwargs.pop("deliver", True)
    notice = build_notice(shop, **kwargs)
    do_queue_notices([notice], deliver=deliver)
    return Notice.objects.get(key=notice.key)


def schedule_delivery(keys: list[str]) -> None:
    try:
        from xiaoer.notify.tasks import deliver_notices_task

        for start in range(0, len(keys), 500):
            deliver_notices_task(keys[start:start + 500])
    except Exception:  # the queue being down must not break the request; the sweep delivers
        log.exception("could not schedule notice delivery; the periodic sweep will")


def _dispatch(notice: Notice) -> str:
    key = notice.key
    if notice.channel == Channel.CHAT:
        from xiaoer.chat import writer as chat_writer

        chat_writer.post_message_sync(notice.conversation_id, sender_kind="system", kind="text",
                                      body=notice.body, client_id=client_id_for(key))
        return ""  # the message is found by its client id (= the key): nothing else to keep
    if notice.channel == Channel.SMS:
        ref, _ = backends.send_sms(notice.recipient, notice.body, key=key)
        return ref
    if notice.channel == Channel.EMAIL:
        return backends.send_email(notice.recipient, notice.subject, notice.body, key=key)
    raise backends.SendError(f"unknown channel {notice.channel}")


def _send_claimed(notice: Notice, now: datetime) -> str | None:
    """Send one claimed notice. Returns the provider reference on success (the caller records
    successes in groups), None after recording the failure."""
    try:
        return _dispatch(notice) or ""
    except Exception as exc:  # noqa: BLE001 - any failure of one send is recorded, not raised
        dead = notice.attempts >= MAX_ATTEMPTS
        log.warning("notice %s attempt %s failed: %s", notice.key, notice.attempts, exc)
        Notice.objects.filter(pk=notice.pk, claim_token=notice.claim_token).update(
            status=NoticeStatus.DEAD if dead else NoticeStatus.FAILED,
            next_attempt_at=now + backoff(notice.attempts), last_error=str(exc)[:500])
        return None


def _record_sent(sent: list[tuple[int, str]], token: str, now: datetime) -> None:
    """Successes are written in groups: one UPDATE for the whole group (per row only where the
    provider gave a reference worth keeping). A crash before the write leaves them "sending";
    recover_stale then resends only on deduplicating channels and marks the rest unknown, so
    the wider window never causes a second delivery. The claim token guards rows the stale
    sweep may have taken back from a very slow send."""
    if not sent:
        return
    with transaction.atomic():
        Notice.objects.filter(pk__in=[pk for pk, ref in sent if not ref], claim_token=token).update(
            status=NoticeStatus.SENT, sent_at=now, last_error="")
        for pk, ref in sent:
            if ref:
                Notice.objects.filter(pk=pk, claim_token=token).update(
                    status=NoticeStatus.SENT, sent_at=now, provider_ref=ref[:100], last_error="")
    sent.clear()


def deliver_due(*, now: datetime | None = None, keys: Iterable[str] | None = None, batch: int = 500) -> int:
    """Send every due pending/failed notice (only KEYS when given). Returns how many were sent."""
    now = now or timezone.now()
    due = Notice.objects.filter(status__in=[NoticeStatus.PENDING, NoticeStatus.FAILED], next_attempt_at__lte=now)
    key_list = list(keys) if keys is not None else None
    sent = 0
    chunks = ([key_list[i:i + batch] for i in range(0, len(key_list), batch)] if key_list is not None else None)
    while True:
        if chunks is not None:
            if not chunks:
                break
            ids = list(due.filter(key__in=chunks.pop()).values_list("id", flat=True))
        else:
            ids = list(due.order_by("next_attempt_at").values_list("id", flat=True)[:batch])
            if not ids:
                break
        token = uuid.uuid4().hex
        # The claim: only rows still due move to "sending", under our token. Another worker
        # that read the same ids claims nothing.
        due.filter(id__in=ids).update(status=NoticeStatus.SENDING, claim_token=token, claimed_at=now,
                                      attempts=F("attempts") + 1)
        done: list[tuple[int, str]] = []
        try:
            for notice in Notice.objects.filter(claim_token=token).order_by("id"):
                ref = _send_claimed(notice, now)
                if ref is not None:
                    done.append((notice.pk, ref))
                    sent += 1
                if len(done) >= RECORD_GROUP:
                    _record_sent(done, token, now)
        finally:
            _record_sent(done, token, now)
    return sent


def recover_stale(*, now: datetime | None = None) -> dict[str, int]:
    """Notices left in "sending" by a dead process: resend where the channel deduplicates,
    else mark them unknown (never resent)."""
    now = now or timezone.now()
    stale = Notice.objects.filter(status=NoticeStatus.SENDING, claimed_at__lt=now - STALE_AFTER)
    retry_channels = [Channel.CHAT]
    if backends.sms_backend_is_idempotent():
        retry_channels.append(Channel.SMS)
    retried = stale.filter(channel__in=retry_channels).update(status=NoticeStatus.PENDING, next_attempt_at=now)
    unknown = stale.exclude(channel__in=retry_channels).update(status=NoticeStatus.UNKNOWN,
                                                              last_error="进程在发送中退出，结果未知，不再重发")
    return {"retried": retried, "unknown": unknown}


def sweep(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    recover_stale(now=now)
    return deliver_due(now=now)


def notice_counts(shop: Shop) -> dict[str, int]:
    rows = Notice.objects.filter(shop=shop).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def recent_notices(shop: Shop, limit: int = 50) -> list[Notice]:
    return list(Notice.objects.filter(shop=shop).order_by("-created_at", "-id")[:limit])
