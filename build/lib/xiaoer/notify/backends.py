"""Channel backends. SMS goes through a small provider interface (docs/notifications.md).

Settings (Django settings first, then XIAOER_* environment / xiaoer.toml):
    SMS_BACKEND          dotted path, default "xiaoer.notify.backends.ConsoleSmsBackend"
    SMS_GATEWAY_URL      HttpSmsBackend: where to POST
    SMS_GATEWAY_TOKEN    HttpSmsBackend: bearer token
    SMS_SIGN             signature shown in front of the text, e.g. 【小店】
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils.module_loading import import_string

from xiaoer.conf import setting

log = logging.getLogger("xiaoer.sms")


def config(name: str, default=None):
    value = getattr(settings, f"XIAOER_{name}", None)
    return value if value is not None else setting(name, default)


class SendError(Exception):
    """A send failed in a way worth retrying later."""


class SmsBackend:
    # True when the provider deduplicates by our idempotency key, so a send whose outcome was
    # lost (crash) may be repeated safely. False: such a send is never repeated.
    idempotent = False

    def send(self, phone: str, text: str, *, key: str) -> str:
        """Send; return the provider's message id ("" if none worth keeping); raise on failure."""
        raise NotImplementedError


class ConsoleSmsBackend(SmsBackend):
    """Default: writes the SMS to the log. For development and the embedded demo."""

    def send(self, phone: str, text: str, *, key: str) -> str:
        log.info("SMS to %s [%s]: %s", phone, key, text)
        return ""


class LocmemSmsBackend(SmsBackend):
    """Keeps sent messages in ``outbox`` (tests)."""

    outbox: list[dict] = []

    def send(self, phone: str, text: str, *, key: str) -> str:
        type(self).outbox.append({"phone": phone, "text": text, "key": key})
        return ""


class HttpSmsBackend(SmsBackend):
    """POSTs JSON to an SMS gateway; the request is documented in docs/notifications.md."""

    idempotent = True

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url or config("SMS_GATEWAY_URL")
        self.token = token or config("SMS_GATEWAY_TOKEN", "")
        self.timeout = timeout
        if not self.url:
            raise SendError("SMS_GATEWAY_URL is not set")

    def send(self, phone: str, text: str, *, key: str) -> str:
        body = json.dumps({"to": phone, "text": text, "idempotency_key": key}, ensure_ascii=False).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": f"Bearer {self.token}",
            "Idempotency-Key": key,
        })
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = response.read(65536)
        except urllib.error.HTTPError as exc:
            raise SendError(f"gateway answered {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SendError(f"gateway unreachable: {exc}") from exc
        try:
            return str(json.loads(answer).get("id", ""))[:100]
        except (ValueError, AttributeError):
            return ""


def sms_backend() -> SmsBackend:
    path = config("SMS_BACKEND", "xiaoer.notify.backends.ConsoleSmsBackend")
    return import_string(path)()


def send_sms(phone: str, text: str, *, key: str) -> tuple[str, bool]:
    backend = sms_backend()
    sign = config("SMS_SIGN", "")
    return backend.send(phone, f"{sign}{text}", key=key), backend.idempotent


def send_email(address: str, subject: str, text: str, *, key: str) -> str:
    """Through Django's configured e-mail backend (SMTP in production). The Message-ID is made
    from the idempotency key so a mail client can recognise a duplicate."""
    import hashlib

    msgid = make_msgid(idstring=hashlib.sha256(key.encode()).hexdigest()[:24], domain="xiaoer.local")
    message = EmailMessage(subject=subject or "店铺通知", body=text, to=[address],
                           headers={"Message-ID": msgid, "X-Xiaoer-Key": key},
                           connection=get_connection())
    message.send(fail_silently=False)
    return msgid


def sms_backend_is_idempotent() -> bool:
    try:
        return bool(import_string(config("SMS_BACKEND", "xiaoer.notify.backends.ConsoleSmsBackend")).idempotent)
    except ImportError:
        return False
