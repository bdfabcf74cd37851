"""Cards in the chat are built on the server, from the database, on every path.

A client asks for a card by reference — ``{"order": "<order number>"}`` or ``{"product": <id or
code>}`` — and the server stores what the database says (shop-scoped; an order only of the
conversation's customer). Nothing a client claims about an order or product is stored.
The chat builds product cards itself (knowledge is an earlier app); order cards come from the
orders app, which registers its builder in its AppConfig.ready() (the chat never imports it).
docs/decisions/083-cards-built-on-the-server.md, docs/protocol.md ("send").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# name → builder(shop_id, customer_id, reference) → (body, payload); LookupError when not found
CardBuilder = Callable[[int, int, Any], tuple[str, dict]]
_builders: dict[str, CardBuilder] = {}
_staff_only: set[str] = set()


def register(name: str, builder: CardBuilder, *, staff_only: bool = False) -> None:
    """Add the builder of NAME cards; STAFF_ONLY: a shopper may not ask for one (a
    questionnaire link is the shop's to send)."""
    _builders[name] = builder
    if staff_only:
        _staff_only.add(name)


def build(conversation_id: int, payload: dict, *, shopper: bool) -> tuple[str, dict]:
    """(body, payload) of the card PAYLOAD asks for in CONVERSATION_ID. ValueError for a request
    that names no known card, LookupError for a reference that does not resolve (runs the ORM:
    call it off the event loop)."""
    from xiaoer.chat.models import Conversation

    names = dict.fromkeys(("order", "product", *_builders))  # registered names: other apps' cards
    refs = [name for name in names if payload.get(name) not in (None, "")]
    if len(refs) != 1:
        raise ValueError(f"a card names exactly one of: {', '.join(names)}")
    conv = Conversation.objects.filter(pk=conversation_id).values("shop_id", "customer_id").first()
    if conv is None:
        raise LookupError("conversation not found")
    name = refs[0]
    if name == "product":
        return _product_card(conv["shop_id"], payload["product"], shopper=shopper)
    builder = _builders.get(name)
    if builder is None or shopper and name in _staff_only:
        raise LookupError(f"{name} cards are not available")
    return builder(conv["shop_id"], conv["customer_id"], payload[name])


def _product_card(shop_id: int, ref: Any, *, shopper: bool) -> tuple[str, dict]:
    from xiaoer.knowledge.models import Product

    qs = Product.objects.filter(shop_id=shop_id)
    if shopper:
        qs = qs.filter(published=True)
    ref_s = str(ref)[:64]
    product = qs.filter(code=ref_s).first()
    if product is None and ref_s.isdigit():
        product = qs.filter(pk=int(ref_s)).first()
    if product is None:
        raise LookupError("product not found")
    images = product.images if isinstance(product.images, list) else []
    card = {"type": "product", "product": product.pk, "product_code": product.code, "title": product.title,
            "price": str(product.price) if product.price is not None else None,
            "image": str(images[0])[:500] if images else None}
    return product.title[:200], card
