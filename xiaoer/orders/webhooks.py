"""Order webhook: POST /hooks/<shop>/orders, signed with the shop's secret (docs/webhooks.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from xiaoer.accounts.models import Shop
from xiaoer.orders import parsing
from xiaoer.orders import services as order_services
from xiaoer.orders.models import OrderSource, WebhookEvent

SIGNATURE_HEADER = "X-Xiaoer-Signature"
EVENTS = {"order.created", "order.updated", "order.shipped"}
MAX_BODY = 256 * 1024


class WebhookError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value ``t=<unix seconds>,sha256=<hex>``: HMAC-SHA256 over ``<t>.`` + the body, so
    the time is signed too and an old delivery cannot be replayed later (docs/webhooks.md)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},sha256=" + _digest(secret, t, body)


def _digest(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def verify(shop: Shop | None, body: bytes, header: str | None) -> bool:
    """True for a signature of this body by the shop's secret, made within the tolerance."""
    if shop is None or not header or not shop.secret:
        return False
    parts = dict(p.strip().partition("=")[::2] for p in header.split(",") if "=" in p)
    try:
        t = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(time.time() - t) > settings.WEBHOOK_TOLERANCE_SECONDS:
        return False
    # compare_digest: the time taken must not tell an attacker how much of the guess was right.
    return hmac.compare_digest(_digest(shop.secret, t, body), parts.get("sha256", ""))


def handle(slug: str, body: bytes, signature: str | None) -> dict:
    """Verify, parse and apply one delivery. Raises WebhookError (413 for a body over MAX_BODY,
    401 before anything is read)."""
    if len(body) > MAX_BODY:
        raise WebhookError(413, f"body larger than {MAX_BODY // 1024} KB")
    shop = Shop.objects.filter(slug=str(slug)[:50]).first()
    if not verify(shop, body, signature):
        raise WebhookError(401, "bad signature")
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookError(400, "body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("order"), dict):
        raise WebhookError(400, "expected {event_id, event, order: {...}}")
    event_id = str(payload.get("event_id") or "").strip()
    event = str(payload.get("event") or "")
    if not event_id or len(event_id) > 100:
        raise WebhookError(400, "event_id missing or longer than 100 characters")
    if event not in EVENTS:
        raise WebhookError(400, f"event must be one of {sorted(EVENTS)}")
    try:
        row = parsing.clean_order(payload["order"], ZoneInfo(shop.timezone))
    except ValueError as exc:
        raise WebhookError(400, str(exc)) from None
    if event == "order.shipped" and not (row.get("carrier") and row.get("tracking_no")):
        raise WebhookError(400, "order.shipped needs carrier and tracking_no")
    with transaction.atomic():
        try:
            with transaction.atomic():
                WebhookEvent.objects.create(shop=shop, event_id=event_id, event=event, order_no=row["order_no"])
        except IntegrityError:
            # Seen this event before (a replay, or the platform retrying): nothing changes.
            return {"status": "duplicate", "event_id": event_id}
        # Same transaction as the event row: a failed apply leaves the event unseen, so the
        # platform's retry is applied instead of being taken for a replay.
        order, outcome = order_services.do_upsert_order(None, shop, row, source=OrderSource.WEBHOOK,
                                                        reason=f"平台推送 {event}")
    return {"status": outcome, "event_id": event_id, "order_id": order.pk}


def prune_delivery_ids() -> int:
    """Forget delivery ids older than WEBHOOK_EVENT_RETENTION_DAYS. Their deliveries' signatures
    expired long before (WEBHOOK_TOLERANCE_SECONDS), so a replay is refused anyway; a genuine late
    retry re-signed by the platform is still harmless (orders are keyed by order number)."""
    cutoff = timezone.now() - dt.timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS)
    deleted, _ = WebhookEvent.objects.filter(received_at__lt=cutoff).delete()
    return deleted
