"""Coupons: batches, issuing at most once per customer per batch, the count limit, redemption from
imported orders, the webhook, the API and by hand, and what the shop sees per batch."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from xiaoer.crm import coupons
from xiaoer.crm.models import Coupon, CouponBatch
from xiaoer.events.testing import deliver_all
from xiaoer.orders import importer

from .carekit import CareWorld


@pytest.fixture
def w(db) -> CareWorld:
    return CareWorld()


def test_codes_are_unguessable_and_readable(w):
    batch = w.batch()
    codes = {coupons.do_issue_coupon(w.owner, batch, w.customer(f"tb_{i}"), reason="manual")[0].code
             for i in range(50)}
    assert len(codes) == 50
    assert all(len(c) == 12 and set(c) <= set(coupons.ALPHABET) for c in codes)
    assert not any(ch in "".join(codes) for ch in "01OIL")
    assert coupons.normalise_code("abcd-efgh jkmn") == "ABCDEFGHJKMN"


def test_one_coupon_per_customer_per_batch(w):
    batch = w.batch(valid_days=7)
    first, created = coupons.do_issue_coupon(w.owner, batch, w.buyer, reason="compensation")
    again, created_again = coupons.do_issue_coupon(None, batch, w.buyer, reason="revisit", rule="revisit:1")
    assert created and not created_again and again.pk == first.pk
    assert Coupon.objects.filter(batch=batch).count() == 1
    batch.refresh_from_db()
    assert batch.issued_count == 1
    assert first.expires_at == first.issued_at + dt.timedelta(days=7)
    other = w.batch(name="第二批")
    assert coupons.do_issue_coupon(w.owner, other, w.buyer, reason="manual")[1]  # another batch: a second coupon


def test_count_limit_and_inactive_and_window(w):
    batch = w.batch(limit=1)
    coupons.do_issue_coupon(w.owner, batch, w.buyer, reason="manual")
    with pytest.raises(ValidationError, match="发完"):
        coupons.do_issue_coupon(w.owner, batch, w.customer("tb_2"), reason="manual")
    ended = w.batch(name="已结束", valid_until=timezone.now() - dt.timedelta(days=1),
                    valid_from=timezone.now() - dt.timedelta(days=9))
    with pytest.raises(ValidationError, match="过期"):
        coupons.do_issue_coupon(w.owner, ended, w.buyer, reason="manual")
    coupons.do_set_batch_active(w.owner, batch, False)
    with pytest.raises(ValidationError, match="停用"):
        coupons.do_issue_coupon(w.owner, batch, w.customer("tb_3"), reason="manual")


def test_bad_batches_and_roles(w):
    for bad in ({"value": "0"}, {"value": "abc"}, {"kind": "percent", "value": "120"}, {"name": ""},
                {"name": "券" * 41}, {"valid_days": 0}, {"limit": 0}):
        with pytest.raises(ValidationError):
            w.batch(**bad)
    with pytest.raises(PermissionDenied):
        coupons.do_create_batch(w.agent, name="x", kind="amount", value="5")
    batch = w.batch()
    with pytest.raises(PermissionDenied):
        coupons.do_issue_coupon(w.agent, batch, w.buyer, reason="manual")
    with pytest.raises(ValidationError):
        coupons.do_issue_coupon(w.owner, batch, w.buyer, reason="because")


def test_redemption_from_an_imported_order_once(w, tmp_path):
    batch = w.batch()
    coupon, _ = coupons.do_issue_coupon(w.owner, batch, w.buyer, reason="manual")
    report = tmp_path / "orders.csv"
    report.write_text("订单编号,买家会员名,总金额,实付金额,订单创建时间,订单付款时间,优惠券\n"
                      f"9001,tb_care_1,120,110,2026-03-01 10:00,2026-03-01 10:05,{coupons.show_code(coupon.code).lower()}\n"
                      "9002,tb_care_1,80,80,2026-03-01 11:00,,NOSUCHCODE\n", encoding="gbk")
    importer.import_file(w.shop, report)
    deliver_all()
    coupon.refresh_from_db()
    assert coupon.order.order_no == "9001" and coupon.redeemed_via == "import" and coupon.redeemed_at
    importer.import_file(w.shop, report)  # the same report again, and the events again: no change
    deliver_all()
    redeemed_at = coupon.redeemed_at
    coupon.refresh_from_db()
    assert coupon.redeemed_at == redeemed_at and coupon.order.order_no == "9001"


def test_redemption_from_a_webhook_update_and_refusals(w):
    batch = w.batch()
    coupon, _ = coupons.do_issue_coupon(w.owner, batch, w.buyer, reason="manual")
    order = w.order()
    deliver_all()
    w.order(order_no=order.order_no, coupon_code=coupon.code)  # the platform adds the coupon later
    deliver_all()
    coupon.refresh_from_db()
    assert coupon.order_id == order.pk and coupon.redeemed_via == "webhook"
    # the same code on a second order is not recorded (it stays with the first)
    w.order(coupon_code=coupon.code)
    deliver_all()
    coupon.refresh_from_db()
    assert coupon.order_id == order.pk
    # another buyer's order cannot use this customer's coupon
    other_coupon, _ = coupons.do_issue_coupon(w.owner, w.batch(name="二"), w.buyer, reason="manual")
    stranger = w.order(buyer="tb_stranger", coupon_code=other_coupon.code)
    deliver_all()
    other_coupon.refresh_from_db()
    assert other_coupon.order_id is None
    with pytest.raises(ValidationError):
        coupons.do_redeem_coupon(w.owner, other_coupon, stranger)


def test_redemption_by_hand_api_and_the_batch_view(w):
    batch = w.batch(valid_days=1)
    client = w.client()
    res = client.post(f"/api/crm/coupon-batches/{batch.pk}/issue", {"customer_id": w.buyer.pk, "reason": "compensation"},
                      content_type="application/json")
    assert res.status_code == 200 and res.json()["created"] is True
    code = res.json()["coupon"]["code"]
    late = w.customer("tb_late")
    late_coupon, _ = coupons.do_issue_coupon(w.owner, batch, late, reason="manual",
                                             now=timezone.now() - dt.timedelta(days=3))
    order = w.order(paid_amount="110.00", paid_at=dt.datetime.now(dt.UTC))
    res = client.post("/api/crm/coupons/redeem", {"code": code, "order_id": order.pk}, content_type="application/json")
    assert res.status_code == 200 and res.json()["state"] == "redeemed" and res.json()["order_id"] == order.pk
    res = client.post("/api/crm/coupons/redeem", {"code": "ZZZZZZZZZZZZ", "order_id": order.pk},
                      content_type="application/json")
    assert res.status_code == 400
    stats = {b["id"]: b for b in client.get("/api/crm/coupon-batches").json()["batches"]}
    assert (stats[batch.pk]["issued"], stats[batch.pk]["redeemed"], stats[batch.pk]["expired"],
            stats[batch.pk]["open"]) == (2, 1, 1, 0)
    assert stats[batch.pk]["order_total"] == "110.00"
    assert late_coupon.code not in client.get(f"/api/crm/customers/{w.buyer.pk}/coupons").content.decode()
    page = client.get(f"/customers/coupons/{batch.pk}")
    assert page.status_code == 200 and order.order_no in page.content.decode()
    assert w.client(w.agent).get("/api/crm/coupon-batches").status_code == 403


def test_another_shops_codes_and_batches_are_not_found(w):
    other = CareWorld("别家店")
    their_coupon, _ = coupons.do_issue_coupon(other.owner, other.batch(), other.buyer, reason="manual")
    order = w.order()
    with pytest.raises(ValidationError, match="没有这个券码"):
        coupons.do_redeem_code(w.owner, w.shop, their_coupon.code, order)
    client = w.client()
    their_batch = CouponBatch.objects.get(shop=other.shop)
    assert client.get(f"/api/crm/coupon-batches/{their_batch.pk}").status_code == 404
    res = client.post(f"/api/crm/coupon-batches/{their_batch.pk}/issue", {"customer_id": w.buyer.pk},
                      content_type="application/json")
    assert res.status_code == 404
    assert Coupon.objects.filter(batch=their_batch).count() == 1


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_workers_issue_one_coupon_per_customer_and_respect_the_limit():
    w = CareWorld()
    batch = w.batch(limit=5)
    customers = [w.customer(f"tb_race_{i}") for i in range(8)]
    barrier = threading.Barrier(2)
    results: list[list[bool]] = [[], []]
    errors: list[Exception] = []

    def worker(slot: int) -> None:
        try:
            barrier.wait()
            for customer in customers:
                try:
                    with transaction.atomic():
                        results[slot].append(coupons.do_issue_coupon(None, batch, customer, reason="revisit")[1])
                except ValidationError:
                    results[slot].append(False)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert Coupon.objects.filter(batch=batch).count() == 5  # the limit, never more
    assert sum(results[0]) + sum(results[1]) == 5
    assert Coupon.objects.filter(batch=batch).values("customer").distinct().count() == 5
    batch.refresh_from_db()
    assert batch.issued_count == 5
