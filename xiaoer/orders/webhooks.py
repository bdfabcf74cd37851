"""Order webhook: POST /hooks/<shop>/orders, signed with the shop's secret (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

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


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(shop: Shop | None, body: bytes, header: str | None) -> bool:
    if shop is None or not header or not shop.secret:
        return False
    # compare_digest: the time taken must not tell an attacker how much of the guess was right.
    return hmac.compare_digest(sign(shop.secret, body), header.strip())


def handle(slug: str, body: bytes, signature: str | None) -> dict:
    """Verify, parse and apply one delivery. Raises WebhookError (401 before anything is read)."""
    shop = Shop.objects.filter(slug=str(slug)[:50]).first()
    if len(body) > MAX_BODY or not verify(shop, body, signature):
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
