"""The order webhook: HMAC signature over the raw body, replays harmless."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time

from django.utils import timezone

from xiaoer.chat.models import Message
from xiaoer.notify import services as notify_services
from xiaoer.orders.models import Order, OrderStatus, WebhookEvent
from xiaoer.orders.webhooks import sign


def _post(client, shop, payload, *, secret=None, header=True):
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {}
    if header:
        headers["HTTP_X_XIAOER_SIGNATURE"] = sign(secret or shop.secret, body)
    return client.post(f"/hooks/{shop.slug}/orders", data=body, content_type="application/json", **headers)


def _created(no="W1", **order):
    return {"event_id": f"evt-{no}-created", "event": "order.created",
            "order": {"order_no": no, "buyer_id": "tb_buyer_1", "total_amount": "59.90",
                      "created_at": "2026-03-01T10:00:00+08:00", "receiver_name": "李四",
                      "items": [{"title": "帆布包", "quantity": 2, "unit_price": "29.95"}], **order}}


def test_bad_or_missing_signature_is_401_and_stores_nothing(world, client):
    assert _post(client, world.shop, _created(), secret="not-the-secret").status_code == 401
    assert _post(client, world.shop, _created(), header=False).status_code == 401
    body = json.dumps(_created()).encode()
    tampered = body.replace(b"59.90", b"0.01")
    response = client.post(f"/hooks/{world.shop.slug}/orders", data=tampered, content_type="application/json",
                           HTTP_X_XIAOER_SIGNATURE=sign(world.shop.secret, body))
    assert response.status_code == 401
    assert _post(client, world.shop, _created(), secret=world.shop.secret).status_code == 200
    assert Order.objects.count() == 1 and WebhookEvent.objects.count() == 1


def test_other_shops_secret_is_refused(world, client):
    from xiaoer.testing import make_shop

    other = make_shop()
    assert _post(client, world.shop, _created(), secret=other.secret).status_code == 401
    assert not Order.objects.exists()


def test_replay_is_harmless(world, client):
    first = _post(client, world.shop, _created())
    assert first.status_code == 200 and first.json()["status"] == "imported"
    replay = _post(client, world.shop, _created())
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    # Same content under a new event id: applied, changes nothing.
    again = _created()
    again["event_id"] = "evt-other"
    assert _post(client, world.shop, again).json()["status"] == "skipped"
    order = Order.objects.get()
    assert order.items.count() == 1 and order.items.get().quantity == 2
    assert order.changes.count() == 0


def test_shipped_event_sends_one_shipping_notice(world, client):
    now = timezone.now()
    _post(client, world.shop, _created(created_at=now.isoformat(), paid_at=now.isoformat(), paid_amount="59.90"))
    shipped = {"event_id": "evt-ship", "event": "order.shipped",
               "order": {"order_no": "W1", "carrier": "顺丰速运", "tracking_no": "SF1234567890"}}
    assert _post(client, world.shop, shipped).json()["status"] == "updated"
    shipped["event_id"] = "evt-ship-2"  # the platform sends it again with a new id
    _post(client, world.shop, shipped)
    order = Order.objects.get()
    assert order.status == OrderStatus.SHIPPED and order.shipping_notified_at is not None
    notify_services.sweep()
    notices = Message.objects.filter(conversation=world.conversation, sender_kind="system")
    assert len(notices) == 1 and notices[0].client_id.endswith(f"ship-{order.pk}")
    assert "SF1234567890" in notices[0].body


def test_shipping_notice_not_sent_for_old_orders(world, client):
    """Loading last month's orders from the platform must not text anybody (a month before today,
    not a fixed calendar date whose age depends on when the suite runs)."""
    month_ago = timezone.now() - dt.timedelta(days=30)
    _post(client, world.shop, _created(created_at=month_ago.isoformat(),
                                       paid_at=(month_ago + dt.timedelta(minutes=1)).isoformat(),
                                       carrier="中通", tracking_no="ZT1"))
    assert Order.objects.get().status == OrderStatus.SHIPPED  # it did arrive shipped: only its age holds it back
    notify_services.sweep()
    assert not Message.objects.filter(conversation=world.conversation, sender_kind="system").exists()


def test_invalid_payload_is_400(world, client):
    payload = _created()
    payload["order"]["total_amount"] = "lots"
    response = _post(client, world.shop, payload)
    assert response.status_code == 400
    assert not Order.objects.exists() and not WebhookEvent.objects.exists()


def test_signature_carries_a_timestamp_within_the_tolerance(world, client, settings):
    settings.WEBHOOK_TOLERANCE_SECONDS = 300
    body = json.dumps(_created("T1")).encode()
    url = f"/hooks/{world.shop.slug}/orders"
    old = sign(world.shop.secret, body, timestamp=int(time.time()) - 301)
    response = client.post(url, data=body, content_type="application/json", HTTP_X_XIAOER_SIGNATURE=old)
    assert response.status_code == 401  # a captured delivery replayed later
    untimed = "sha256=" + hmac.new(world.shop.secret.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(url, data=body, content_type="application/json", HTTP_X_XIAOER_SIGNATURE=untimed)
    assert response.status_code == 401
    t = int(time.time())
    moved = sign(world.shop.secret, body, timestamp=t).replace(f"t={t}", f"t={t + 1}")
    response = client.post(url, data=body, content_type="application/json", HTTP_X_XIAOER_SIGNATURE=moved)
    assert response.status_code == 401  # the time is part of what is signed
    fresh = sign(world.shop.secret, body, timestamp=t - 200)
    assert client.post(url, data=body, content_type="application/json",
                       HTTP_X_XIAOER_SIGNATURE=fresh).status_code == 200


def test_old_delivery_ids_are_pruned(world, client, settings):
    settings.WEBHOOK_EVENT_RETENTION_DAYS = 7
    assert _post(client, world.shop, _created("P1")).status_code == 200
    assert _post(client, world.shop, _created("P2")).status_code == 200
    WebhookEvent.objects.filter(order_no="P1").update(received_at=timezone.now() - dt.timedelta(days=8))
    from xiaoer.orders.tasks import webhook_prune

    assert webhook_prune.call_local() == 1
    assert list(WebhookEvent.objects.values_list("order_no", flat=True)) == ["P2"]


def test_too_big_body_is_a_size_error_not_a_bad_signature(world, client):
    payload = _created("BIG", buyer_message="长" * 100_000)  # ~300 KB of UTF-8
    response = _post(client, world.shop, payload)
    assert response.status_code == 413 and "256 KB" in response.json()["detail"]


def test_items_that_are_not_a_list_are_400(world, client):
    response = _post(client, world.shop, _created("NL", items="notalist"))
    assert response.status_code == 400 and "items" in response.json()["detail"]
    assert not Order.objects.exists()
