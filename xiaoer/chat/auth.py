"""Who is on the other end of a chat socket.

Shoppers carry a signed token (Django signing, no database row); staff use their Django session
cookie. Both are checked once, when the socket connects (docs/design.md "The chat hot path").
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

_SALT = "xiaoer.shopper.chat-token.v1"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def make_shopper_token(shop, customer) -> str:
    """A token binding a socket to CUSTOMER of SHOP; valid SHOPPER_TOKEN_MAX_AGE seconds."""
    shop_id = getattr(shop, "pk", shop)
    customer_id = getattr(customer, "pk", customer)
    return _signer().sign(f"{int(shop_id)}.{int(customer_id)}")


def read_shopper_token(token: str | None) -> tuple[int, int] | None:
    """(shop_id, customer_id) for a valid, unexpired token, else None."""
    if not token or not isinstance(token, str) or len(token) > 300:
        return None
    try:
        value = _signer().unsign(token, max_age=settings.SHOPPER_TOKEN_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is a subclass
        return None
    shop_id, _, customer_id = value.partition(".")
    try:
        return int(shop_id), int(customer_id)
    except ValueError:
        return None
