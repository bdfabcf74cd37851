"""Notices: recorded, delivered once, retried with backoff; SMS gateway and real SMTP."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.db import connection
from django.utils import timezone

from xiaoer.notify import services
from xiaoer.notify.backends import LocmemSmsBackend, SmsBackend
from xiaoer.notify.models import Channel, Notice, NoticeStatus
from xiaoer.testing import make_shop


class FlakySms(SmsBackend):
    """Fails the first FAILS sends, then delivers into LocmemSmsBackend.outbox."""

    fails = 2
    calls = 0

    def send(self, phone: str, text: str, *, key: str) -> str:
        type(self).calls += 1
        if type(self).calls <= type(self).fails:
            raise ConnectionError("gateway down")
        return LocmemSmsBackend().send(phone, text, key=key)


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.XIAOER_SMS_BACKEND = "xiaoer.notify.backends.LocmemSmsBackend"
    LocmemSmsBackend.outbox = []
    FlakySms.calls = 0


def _sms(shop, key="k-1", **kwargs):
    return services.do_queue_notice(shop, key=key, channel=Channel.SMS, template="payment_reminder",
                                    body="亲，记得付款哦", recipient="13800000000", **kwargs)


def test_same_key_is_recorded_and_sent_once(db):
    shop = make_shop()
    first = _sms(shop)
    second = _sms(shop)
    assert first.pk == second.pk
    assert services.deliver_due() == 1
    assert services.deliver_due() == 0
    assert len(LocmemSmsBackend.outbox) == 1
    notice = Notice.objects.get()
    assert (notice.status, notice.channel, notice.body) == (NoticeStatus.SENT, "sms", "亲，记得付款哦")
    assert notice.sent_at is not None and notice.attempts == 1


def test_failed_send_retries_with_backoff(db, settings):
    settings.XIAOER_SMS_BACKEND = "xiaoer.notify.tests.test_notify.FlakySms"
    shop = make_shop()
    _sms(shop)
    now = timezone.now()
    assert services.deliver_due(now=now) == 0
    notice = Notice.objects.get()
    assert notice.status == NoticeStatus.FAILED and "gateway down" in notice.last_error
    first_wait = notice.next_attempt_at - now
    assert services.deliver_due(now=now + first_wait / 2) == 0  # not yet due
    assert FlakySms.calls == 1
    now = notice.next_attempt_at
    assert services.deliver_due(now=now) == 0
    notice.refresh_from_db()
    assert notice.next_attempt_at - now > first_wait  # backoff grows
    assert services.sweep(now=notice.next_attempt_at) == 1
    assert services.sweep(now=notice.next_attempt_at + dt.timedelta(days=1)) == 0
    assert len(LocmemSmsBackend.outbox) == 1
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.SENT and notice.attempts == 3


def test_gives_up_after_max_attempts(db, settings):
    settings.XIAOER_SMS_BACKEND = "xiaoer.notify.tests.test_notify.FlakySms"
    FlakySms.fails = 100
    try:
        _sms(make_shop())
        now = timezone.now()
        for _ in range(services.MAX_ATTEMPTS + 3):
            services.sweep(now=now)
            now += services.BACKOFF_CAP
        notice = Notice.objects.get()
        assert notice.status == NoticeStatus.DEAD and notice.attempts == services.MAX_ATTEMPTS
    finally:
        FlakySms.fails = 2


@pytest.mark.django_db(transaction=True)
def test_two_deliverers_at_once_send_each_notice_once():
    shop = make_shop()
    for i in range(40):
        _sms(shop, key=f"k-{i}")
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            services.deliver_due(batch=5)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(m["key"] for m in LocmemSmsBackend.outbox) == sorted(f"k-{i}" for i in range(40))


def test_shop_template_override_and_broken_template(db):
    shop = make_shop()
    assert "A1" in services.render(shop, "shipping_notice", {"order_no": "A1", "carrier": "顺丰", "tracking_no": "1"})
    services.do_set_template(shop, "shipping_notice", "{order_no} 已由 {carrier} 发出 {unknown}")
    assert services.render(shop, "shipping_notice", {"order_no": "A1", "carrier": "顺丰"}) == "A1 已由 顺丰 发出 {unknown}"
    services.do_set_template(shop, "shipping_notice", "坏模板 {0} {")
    assert services.render(shop, "shipping_notice", {"order_no": "A1"}) == "坏模板 {0} {"


class _Gateway(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"headers": dict(self.headers), "body": json.loads(body)})
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id": "gw-42"}')

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def gateway():
    _Gateway.received, _Gateway.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sms", _Gateway
    server.shutdown()
    server.server_close()


def test_http_gateway_request(db, settings, gateway):
    url, handler = gateway
    settings.XIAOER_SMS_BACKEND = "xiaoer.notify.backends.HttpSmsBackend"
    settings.XIAOER_SMS_GATEWAY_URL = url
    settings.XIAOER_SMS_GATEWAY_TOKEN = "t0ken"
    settings.XIAOER_SMS_SIGN = "【小店】"
    _sms(make_shop(), key="remind-7")
    assert services.deliver_due() == 1
    [request] = handler.received
    assert request["body"] == {"to": "13800000000", "text": "【小店】亲，记得付款哦", "idempotency_key": "remind-7"}
    assert request["headers"]["Authorization"] == "Bearer t0ken"
    assert request["headers"]["Idempotency-Key"] == "remind-7"
    assert Notice.objects.get().provider_ref == "gw-42"


def test_http_gateway_error_is_retried_and_stale_sends_are_repeated(db, settings, gateway):
    url, handler = gateway
    settings.XIAOER_SMS_BACKEND = "xiaoer.notify.backends.HttpSmsBackend"
    settings.XIAOER_SMS_GATEWAY_URL = url
    handler.status = 503
    _sms(make_shop())
    now = timezone.now()
    services.deliver_due(now=now)
    assert Notice.objects.get().status == NoticeStatus.FAILED
    handler.status = 200
    # The gateway deduplicates by Idempotency-Key, so a send whose outcome was lost may be
    # repeated: a stale "sending" row goes back to pending.
    Notice.objects.update(status=NoticeStatus.SENDING, claimed_at=now)
    assert services.recover_stale(now=now + services.STALE_AFTER * 2) == {"retried": 1, "unknown": 0}
    assert services.deliver_due(now=now + services.STALE_AFTER * 2) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_email_through_real_smtp_server(db, settings):
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            self.messages.append(envelope)
            return "250 OK"

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.DEFAULT_FROM_EMAIL = "shop@example.com"
        services.do_queue_notice(make_shop(), key="mail-1", channel=Channel.EMAIL, template="shipping_notice",
                                 body="亲，订单已发货：顺丰 SF1", recipient="buyer@example.com", subject="发货通知")
        assert services.deliver_due() == 1
        assert services.deliver_due() == 0
    finally:
        controller.stop()
    [envelope] = inbox.messages
    assert envelope.rcpt_tos == ["buyer@example.com"]
    from email import message_from_bytes
    from email.header import decode_header, make_header

    mail = message_from_bytes(envelope.content)
    assert str(make_header(decode_header(mail["Subject"]))) == "发货通知"
    assert "SF1" in mail.get_payload(decode=True).decode()
    assert mail["X-Xiaoer-Key"] == "mail-1"


def test_stale_email_is_never_resent(db):
    _sms_shop = make_shop()
    services.do_queue_notice(_sms_shop, key="mail-2", channel=Channel.EMAIL, template="x", body="b",
                             recipient="a@example.com")
    Notice.objects.update(status=NoticeStatus.SENDING, claimed_at=timezone.now())
    result = services.recover_stale(now=timezone.now() + services.STALE_AFTER * 2)
    assert result == {"retried": 0, "unknown": 1}
    assert Notice.objects.get().status == NoticeStatus.UNKNOWN
