"""Chat JSON API (mounted at /api/chat/). Thin: parse, call one service, shape the answer.

Every route is scoped to request.user's shop (services.access_* raise Http404 for anything else)
and to roles (warehouse/after-sales staff get 403).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from ninja import File, Router, Schema
from ninja.errors import HttpError
from ninja.files import UploadedFile

from xiaoer.accounts import services as account_services
from xiaoer.chat import services
from xiaoer.customers import services as customer_services

router = Router(tags=["chat"])
CHAT_ROLES = account_services.CHAT_ROLES


class SeatIn(Schema):
    seat: int
    note: str = ""


class ClaimIn(Schema):
    seat: int | None = None


class OnlineIn(Schema):
    online: bool


class GreetingIn(Schema):
    greeting: str = ""


class NoteIn(Schema):
    text: str


class MessageIn(Schema):
    body: str = ""
    kind: str = "text"
    payload: dict[str, Any] = {}
    client_id: str | None = None


class BuyerLinkIn(Schema):
    buyer_id: str
    name: str = ""
    max_age: int = services.BUYER_LINK_MAX_AGE


def _detail(conv) -> dict[str, Any]:
    data = services.conversation_json(conv)
    data["queue_position"] = services.queue_position(conv)
    data["resolved_at"] = conv.resolved_at.isoformat() if conv.resolved_at else None
    return data


@router.get("/conversations")
def list_conversations(request, tab: str = "mine"):
    staff = account_services.staff_of(request, CHAT_ROLES)
    return [services.conversation_json(c) for c in services.list_conversations(staff, tab)]


@router.get("/search")
def search(request, q: str = ""):
    """Conversations by buyer, phone tail, order number or message text, each with what matched."""
    staff = account_services.staff_of(request, CHAT_ROLES)
    try:
        rows = services.search_conversations(staff, q)
    except ValidationError as exc:
        raise HttpError(422, "；".join(exc.messages)) from exc
    return [{**services.conversation_json(c), "match": match} for c, match in rows]


@router.get("/conversations/{conversation_id}")
def get_conversation(request, conversation_id: int):
    return _detail(services.access_conversation(account_services.staff_of(request, CHAT_ROLES), conversation_id))


@router.get("/conversations/{conversation_id}/messages")
def get_messages(request, conversation_id: int, before: int | None = None, after: int | None = None,
                 limit: int = 50):
    conv = services.access_conversation(account_services.staff_of(request, CHAT_ROLES), conversation_id)
    messages, more = services.messages_page(conv, before=before, after=after, limit=limit)
    return {"conversation": conv.pk, "messages": messages, "more": more}


@router.post("/conversations/{conversation_id}/messages")
def post_message(request, conversation_id: int, data: MessageIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request, CHAT_ROLES)
        conv = services.access_conversation(staff, conversation_id)
        return services.post_staff_message(staff, conv, body=data.body, kind=data.kind, payload=data.payload,
                                           client_id=data.client_id)


class ProductCardIn(Schema):
    product: int


@router.post("/conversations/{conversation_id}/product-card")
def send_product_card(request, conversation_id: int, data: ProductCardIn):
    """Send one of the shop's products into the conversation as a card built from the database."""
    staff = account_services.staff_of(request, CHAT_ROLES)
    conv = services.access_conversation(staff, conversation_id)
    return services.do_send_product_card(staff, conv, data.product)


@router.post("/conversations/{conversation_id}/transfer")
def transfer(request, conversation_id: int, data: SeatIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request, CHAT_ROLES)
        conv = services.access_conversation(staff, conversation_id)
        seat = account_services.access_seat(staff, data.seat)
        return _detail(services.do_transfer(staff, conv, seat, data.note))


@router.post("/conversations/{conversation_id}/reassign")
def reassign(request, conversation_id: int, data: SeatIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
        conv = services.access_conversation(staff, conversation_id)
        seat = account_services.access_seat(staff, data.seat)
        return _detail(services.do_reassign(staff, conv, seat, data.note))


@router.post("/conversations/{conversation_id}/claim")
def claim(request, conversation_id: int, data: ClaimIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request, CHAT_ROLES)
        conv = services.access_conversation(staff, conversation_id)
        if data.seat is not None:
            seat = account_services.access_seat(staff, data.seat)
        else:
            seat = account_services.acting_seat(staff)
            if seat is None:
                raise PermissionDenied(_("你没有值守的客服账号"))
        return _detail(services.do_claim(staff, conv, seat))


@router.post("/conversations/{conversation_id}/resolve")
def resolve(request, conversation_id: int):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request, CHAT_ROLES)
        return _detail(services.do_resolve(staff, services.access_conversation(staff, conversation_id)))


@router.post("/conversations/{conversation_id}/reopen")
def reopen(request, conversation_id: int):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request, CHAT_ROLES)
        return _detail(services.do_reopen(staff, services.access_conversation(staff, conversation_id)))


def _note_json(note) -> dict[str, Any]:
    return {"id": note.pk, "text": note.text, "created_at": note.created_at.isoformat(),
            "seat": {"id": note.seat_id, "display_name": note.seat.display_name} if note.seat else None,
            "author": {"id": note.author_id, "display_name": note.author.display_name} if note.author else None}


@router.get("/conversations/{conversation_id}/notes")
def list_notes(request, conversation_id: int):
    conv = services.access_conversation(account_services.staff_of(request, CHAT_ROLES), conversation_id)
    return [_note_json(n) for n in customer_services.notes_for(conv.customer)]


@router.post("/conversations/{conversation_id}/notes")
def add_note(request, conversation_id: int, data: NoteIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request, CHAT_ROLES)
        conv = services.access_conversation(staff, conversation_id)
        seat = account_services.acting_seat(staff, conv.seat)
        return _note_json(customer_services.do_add_note(staff, conv.customer, data.text, seat=seat))


@router.get("/seats")
def list_seats(request):
    staff = account_services.staff_of(request, CHAT_ROLES)
    return [{k: v for k, v in row.items() if k != "seat"} for row in services.shop_load(staff.shop_id)]


@router.post("/seats/{seat_id}/online")
def set_online(request, seat_id: int, data: OnlineIn):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request, CHAT_ROLES)
        seat = account_services.access_seat(staff, seat_id)
        services.do_set_seat_online(staff, seat, data.online)
        return {"id": seat.pk, "online": data.online}


@router.put("/seats/{seat_id}/greeting")
def set_greeting(request, seat_id: int, data: GreetingIn):
    """The seat's greeting (≤ 500 characters, variables {顾客} {客服}; empty: none), sent once as
    the seat when a conversation first gets it. Supervisors and the owner."""
    with transaction.atomic():
        staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
        seat = account_services.access_seat(staff, seat_id)
        seat = services.do_set_seat_greeting(staff, seat, data.greeting)
        return {"id": seat.pk, "greeting": seat.greeting}


@router.get("/queue")
def queue(request):
    staff = account_services.staff_of(request, CHAT_ROLES)
    return [services.conversation_json(c) for c in services.queued_conversations(staff.shop_id, limit=200)]


@router.post("/uploads")
def upload(request, file: File[UploadedFile]):
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request, CHAT_ROLES)
        return services.attachment_json(services.do_store_image(staff.shop, file))


@router.post("/buyer-links")
def buyer_link(request, data: BuyerLinkIn):
    """Issue a signed link that opens the chat as a known buyer (on any device) until it expires."""
    with transaction.atomic():  # the edge opens the unit of work (docs/design.md)
        staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
        path = services.make_buyer_link(staff.shop, data.buyer_id, name=data.name,
                                        max_age=max(60, min(data.max_age, 90 * 24 * 3600)))
        return {"url": request.build_absolute_uri(path), "path": path}
