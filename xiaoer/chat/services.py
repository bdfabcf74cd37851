"""Chat domain operations: shopper sessions, routing, transfer, resolve, uploads.

Messages are written only by the group-commit writer (``xiaoer.chat.writer``); this module writes
conversations, customers and attachments, and asks the writer for the internal event messages
(transfers, resolves) in its own transaction. Every change of a conversation's seat or status
emits a chat event (xiaoer/chat/events.py); the live pushes to sockets are listeners of those
events (xiaoer/chat/listeners.py), run after the commit, so nobody hears of a change that rolled back.

Routing (docs/decisions/020-routing.md): a returning shopper goes to the seat that served them
last when it is online and under its cap; otherwise to the least-loaded online seat under its
cap; otherwise the conversation waits in a FIFO queue and the shopper is told their place. A
seat freeing up (resolve, transfer away, coming online) drains the queue head first.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import secrets
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Seat, Shop, Staff
from xiaoer.chat import frames
from xiaoer.chat.events import (
    ConversationAssigned,
    ConversationOpened,
    ConversationReopened,
    ConversationResolved,
    ConversationTransferred,
    MessagesCommitted,
)
from xiaoer.chat.models import Attachment, Conversation, ConversationStatus, Message
from xiaoer.customers import services as customer_services
from xiaoer.customers.models import Customer
from xiaoer.events import emit
from xiaoer.knowledge.events import NoticePublished

log = logging.getLogger(__name__)

QUEUED, OPEN, RESOLVED = ConversationStatus.QUEUED, ConversationStatus.OPEN, ConversationStatus.RESOLVED
VISITOR = ConversationStatus.VISITOR
VISITOR_SALT = "xiaoer.chat.visitor"
BUYER_SALT = "xiaoer.chat.buyer-link"
BUYER_LINK_MAX_AGE = 7 * 24 * 3600
NOTE_MAX_CHARS = 1000
ALLOWED_IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
_DECODING = threading.BoundedSemaphore(2)  # images decoded at once, whoever uploads them
QUEUE_NOTIFY_LIMIT = 100


# --- identity: anonymous visitors and known buyers ------------------------------------------------

def make_visitor_token(shop: Shop, visitor_id: str) -> str:
    """Signed with the shop's own secret: a visitor token of one shop means nothing in another."""
    # A fresh nonce per session start: the token (and the cookie) rotate, the visitor stays.
    return signing.dumps({"v": visitor_id, "n": secrets.token_urlsafe(6)}, key=shop.secret, salt=VISITOR_SALT,
                         compress=False)


def check_visitor_token(shop: Shop, token: str | None) -> str | None:
    if not token or len(token) > 300:
        return None
    try:
        data = signing.loads(token, key=shop.secret, salt=VISITOR_SALT)
    except signing.BadSignature:
        return None
    visitor_id = data.get("v") if isinstance(data, dict) else None
    return visitor_id if isinstance(visitor_id, str) and 0 < len(visitor_id) <= 64 else None


def make_buyer_signature(shop: Shop, buyer_id: str, *, name: str = "",
                         max_age: int = BUYER_LINK_MAX_AGE) -> str:
    buyer_id = (buyer_id or "").strip()
    if not buyer_id or len(buyer_id) > 100:
        raise ValidationError(_("买家 ID 不能为空，最长 100 个字符"))
    payload = {"b": buyer_id, "n": (name or "").strip()[:100], "e": int(time.time()) + int(max_age)}
    return signing.dumps(payload, key=shop.secret, salt=BUYER_SALT, compress=True)


def make_buyer_link(shop: Shop, buyer_id: str, *, name: str = "", max_age: int = BUYER_LINK_MAX_AGE) -> str:
    """The chat URL (path) that opens SHOP's chat as BUYER_ID on any device, until it expires."""
    from urllib.parse import quote

    signature = make_buyer_signature(shop, buyer_id, name=name, max_age=max_age)
    return f"/s/{shop.slug}/chat?buyer={quote(signature)}"


def check_buyer_signature(shop: Shop, signature: str | None) -> tuple[str, str]:
    """(buyer_id, name) from a signed link of SHOP; ValidationError if forged, foreign or expired."""
    if not signature or len(signature) > 1000:
        raise ValidationError(_("买家链接无效"))
    try:
        data = signing.loads(signature, key=shop.secret, salt=BUYER_SALT)
    except signing.BadSignature:
        raise ValidationError(_("买家链接无效")) from None
    if not isinstance(data, dict) or not isinstance(data.get("b"), str):
        raise ValidationError(_("买家链接无效"))
    if int(data.get("e", 0)) < time.time():
        raise ValidationError(_("买家链接已过期，请向店铺重新获取"))
    return data["b"], str(data.get("n") or "")


@dataclass
class ShopperSession:
    shop: Shop
    customer: Customer
    conversation: Conversation
    visitor_token: str  # empty for a known buyer: their identity is the buyer link
    token: str  # for /ws/chat and the upload endpoint

    def as_json(self) -> dict[str, Any]:
        conv = self.conversation
        seat = conv.seat
        return {
            "token": self.token,
            "visitor": self.visitor_token,
            "conversation": conv.pk,
            "status": conv.status,
            "shop": {"slug": self.shop.slug, "name": self.shop.name},
            "customer": {"name": self.customer.display_name},
            "seat": {"id": seat.pk, "display_name": seat.display_name} if seat else None,
            "queue_position": queue_position(conv),
            # no seat takes shoppers now: the page offers the leave-a-message form (decision 125)
            "staffed": seats_available(self.shop.pk),
        }


def access_shop_by_slug(slug: str) -> Shop:
    try:
        return Shop.objects.get(slug=slug)
    except Shop.DoesNotExist:
        raise Http404("shop not found") from None


def start_shopper_session(shop: Shop, *, visitor_token: str | None = None,
                          buyer_signature: str | None = None) -> ShopperSession:
    """Start (or resume) the shopper's chat: their one conversation with SHOP, routed to a seat.

    A known buyer (signed link) is the same customer on any device; an anonymous visitor is the
    same customer as long as they keep their visitor token.
    """
    from xiaoer.chat import auth

    visitor = ""
    if buyer_signature:
        buyer_id, name = check_buyer_signature(shop, buyer_signature)
        customer = customer_services.get_or_create_buyer(shop, buyer_id, name)
    else:
        visitor_id = check_visitor_token(shop, visitor_token) or secrets.token_urlsafe(16)
        customer = customer_services.get_or_create_visitor(shop, visitor_id)
        visitor = make_visitor_token(shop, visitor_id)
    customer_services.do_touch(customer)
    # Opening the page makes a visitor, not a conversation: no seat, no load, not in the queue,
    # until the first message (reopen_on_shopper_message admits it).
    conversation = get_or_create_conversation(shop, customer, visitor=True)
    return ShopperSession(shop=shop, customer=customer, conversation=conversation, visitor_token=visitor,
                          token=auth.make_shopper_token(shop, customer))


def get_or_create_conversation(shop: Shop, customer: Customer, *, visitor: bool = False) -> Conversation:
    """One conversation per (shop, customer): created queued, then routed. With VISITOR (the
    shopper page opened) a new one is created as a visitor: it waits for a first message."""
    with transaction.atomic(savepoint=False):
        _lock_shop(shop.pk)
        conv = Conversation.objects.filter(shop=shop, customer=customer).order_by("-created_at").first()
        if conv is None and visitor:
            conv = Conversation.objects.create(shop=shop, customer=customer, status=VISITOR)
        elif conv is None:
            conv = Conversation.objects.create(shop=shop, customer=customer, status=QUEUED,
                                               queued_at=timezone.now())
            # staff lists learn of the newcomer even when no seat can take it
            _emit_change(ConversationOpened(shop_id=shop.pk, conversation_id=conv.pk, customer_id=customer.pk))
        if conv.status == QUEUED:
            # through the queue, oldest first: a newcomer never jumps ahead of someone waiting
            drain_queue(shop.pk)
    return Conversation.objects.select_related("seat", "customer").get(pk=conv.pk)


# --- access ---------------------------------------------------------------------------------------

def access_conversation(staff: Staff | None, conversation_id: int) -> Conversation:
    """Conversation CONVERSATION_ID of STAFF's shop; 403 for roles that don't chat, else 404."""
    staff = account_services.require_role(staff, account_services.CHAT_ROLES)
    try:
        return (Conversation.objects.select_related("seat", "customer", "seat__operator", "shop")
                .get(pk=int(conversation_id), shop_id=staff.shop_id))
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise Http404("conversation not found") from None


def access_attachment(token: str, *, staff: Staff | None = None, shopper_shop_id: int | None = None) -> Attachment:
    """The attachment TOKEN for a chat staff member of its shop or a shopper of its shop."""
    if not token or len(token) > 40:
        raise Http404("not found")
    if staff is not None and staff.can_chat:
        shop_id = staff.shop_id
    elif shopper_shop_id is not None:
        shop_id = shopper_shop_id
    else:
        raise Http404("not found")
    try:
        return Attachment.objects.get(token=token, shop_id=shop_id)
    except Attachment.DoesNotExist:
        raise Http404("not found") from None


def _fresh_seat(seat: Seat) -> Seat:
    """Re-read SEAT: callers may hold a copy from before a handover or an online toggle."""
    return Seat.objects.select_related("shop", "operator").get(pk=seat.pk)


def _fresh_conv(conv: Conversation) -> Conversation:
    return Conversation.objects.select_related("seat", "customer", "shop").get(pk=conv.pk)


def seat_ids_of(staff: Staff) -> frozenset[int]:
    return frozenset(Seat.objects.filter(shop_id=staff.shop_id, operator=staff, is_active=True)
                     .values_list("pk", flat=True))


def may_reply(staff: Staff, conv: Conversation) -> bool:
    """The one rule (xiaoer.chat.access) for a Staff and a Conversation of their shop."""
    from xiaoer.chat import access

    if conv.shop_id != staff.shop_id or not staff.can_chat:
        return False
    return access.may_reply(seat_ids_of(staff), staff.is_supervisor, conv.seat_id)


def require_may_reply(staff: Staff, conv: Conversation) -> None:
    """PermissionDenied with the reason the agent sees, unless STAFF may answer in CONV."""
    from xiaoer.chat import access

    if not may_reply(staff, conv):
        raise PermissionDenied(str(access.REPLY_REFUSED))


def require_may_reply_to_customer(staff: Staff, customer_id: int | None) -> None:
    """Order actions reach the customer: the rule applies to their conversation, if they have one."""
    if customer_id is None:
        return
    conv = Conversation.objects.filter(shop_id=staff.shop_id, customer_id=customer_id).order_by("-id").first()
    if conv is not None and conv.status != VISITOR:  # a visitor who never wrote has no conversation yet
        require_may_reply(staff, conv)


def require_can_act_on(staff: Staff, conv: Conversation) -> None:
    """Agents act on their own seats' and queued conversations; supervisors on all of the shop."""
    if staff.is_supervisor:
        return
    if conv.status == QUEUED and conv.seat_id is None:
        return
    if conv.seat_id is None or conv.seat.operator_id != staff.pk:
        raise PermissionDenied(_("这个会话不属于你的客服账号"))


# --- routing --------------------------------------------------------------------------------------

def _lock_shop(shop_id: int) -> None:
    """Serialise routing per shop (a row lock on PostgreSQL; SQLite IMMEDIATE transactions already
    serialise writers)."""
    list(Shop.objects.select_for_update().filter(pk=shop_id).values_list("pk", flat=True))


def seat_loads(shop_id: int) -> dict[int, int]:
    """Open conversations per seat."""
    rows = (Conversation.objects.filter(shop_id=shop_id, status=OPEN, seat__isnull=False)
            .values("seat_id").annotate(n=Count("id")))
    return {row["seat_id"]: row["n"] for row in rows}


def _available_seats(shop_id: int) -> list[Seat]:
    """Seats that take shoppers: available (not 挂起) and operated by someone at a workbench."""
    from xiaoer.chat import presence

    return list(Seat.objects.filter(shop_id=shop_id, is_active=True, is_online=True, operator__isnull=False,
                                    operator_id__in=presence.present_staff_ids())
                .select_related("shop").order_by("pk"))


def seats_available(shop_id: int) -> bool:
    """Does any seat of the shop take shoppers right now?"""
    return bool(_available_seats(shop_id))


def presence_changed(staff: Staff, *, present: bool) -> None:
    """STAFF opened their first workbench (PRESENT) or closed their last one (after the grace
    period): tell the workbenches, and let seats that can take shoppers drain the queue."""
    seats = list(Seat.objects.filter(shop_id=staff.shop_id, operator=staff, is_active=True))
    for seat in seats:
        publish_after_commit(seat.shop_id, "seat", {"seat": seat.pk, "online": seat.is_online and present,
                                                     "available": seat.is_online, "present": present})
    if present and any(seat.is_online for seat in seats):
        drain_queue(staff.shop_id)
    if seats:
        announce_staffed(staff.shop_id)


def announce_staffed(shop_id: int) -> None:
    """After commit, tell every shopper page of SHOP_ID whether a seat takes shoppers now (an
    ``event`` ``staffed``): the leave-a-message form gives way to the chat, or the other way round.
    Only on availability changes (presence, 接待中/挂起), never per message."""
    transaction.on_commit(lambda: tell_shoppers_staffed(shop_id))


def tell_shoppers_staffed(shop_id: int) -> None:
    """The ``staffed`` event now (after a commit); a failed push never breaks the write."""
    try:
        from xiaoer.chat import hub

        hub.publish_to_shoppers(shop_id, "staffed", {"staffed": seats_available(shop_id)})
    except Exception:  # noqa: BLE001 - the page re-checks on its next connect
        log.exception("staffed announcement failed for shop %s", shop_id)


def _pick_seat(seats: list[Seat], loads: dict[int, int], preferred_id: int | None) -> Seat | None:
    free = [s for s in seats if loads.get(s.pk, 0) < s.capacity]
    for seat in free:
        if seat.pk == preferred_id:
            return seat
    return min(free, key=lambda s: (loads.get(s.pk, 0), s.pk)) if free else None


def _assign(conv: Conversation, seat: Seat) -> None:
    """Give CONV to SEAT (the caller emits the event saying why)."""
    conv.seat = seat
    conv.status = OPEN
    conv.queued_at = None
    conv.resolved_at = None
    conv.save(update_fields=["seat", "status", "queued_at", "resolved_at"])
    Customer.objects.filter(pk=conv.customer_id).update(last_seat=seat)


def drain_queue(shop_id: int) -> list[int]:
    """Hand queued conversations, oldest first, to seats with room. Returns the assigned ids."""
    assigned: list[int] = []
    with transaction.atomic(savepoint=False):
        _lock_shop(shop_id)
        seats = _available_seats(shop_id)
        if not seats:
            return assigned
        loads = seat_loads(shop_id)
        queued = (Conversation.objects.filter(shop_id=shop_id, status=QUEUED)
                  .select_related("customer").order_by("queued_at", "pk"))
        for conv in queued[:500]:
            seat = _pick_seat(seats, loads, conv.customer.last_seat_id)
            if seat is None:
                break
            _assign(conv, seat)
            _emit_change(ConversationAssigned(shop_id=shop_id, conversation_id=conv.pk, seat_id=seat.pk, how="route"))
            loads[seat.pk] = loads.get(seat.pk, 0) + 1
            assigned.append(conv.pk)
        _notify_queue(shop_id)
    return assigned


def queue_position(conv: Conversation) -> int:
    """1-based place in the shop's FIFO queue; 0 when the conversation is not waiting for a seat
    (not queued, or a seat already serves it). The one rule for the API, the socket and the hub."""
    if conv.status != QUEUED or conv.queued_at is None or conv.seat_id is not None:
        return 0
    waiting = Conversation.objects.filter(shop_id=conv.shop_id, status=QUEUED, seat__isnull=True)
    return waiting.filter(Q(queued_at__lt=conv.queued_at) | Q(queued_at=conv.queued_at, pk__lt=conv.pk)).count() + 1


def queued_conversations(shop_id: int, limit: int = QUEUE_NOTIFY_LIMIT) -> list[Conversation]:
    return list(Conversation.objects.filter(shop_id=shop_id, status=QUEUED)
                .select_related("customer").order_by("queued_at", "pk")[:limit])


# --- state changes by staff -----------------------------------------------------------------------

def check_note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX_CHARS:
        raise ValidationError(_("备注最多 %(n)s 个字") % {"n": NOTE_MAX_CHARS})
    return note


def do_transfer(staff: Staff, conv: Conversation, seat: Seat, note: str = "") -> Conversation:
    """Move CONV to SEAT with a note only staff see. History stays with the conversation."""
    account_services.require_role(staff, account_services.CHAT_ROLES)
    conv = _fresh_conv(conv)
    require_can_act_on(staff, conv)
    if seat.shop_id != staff.shop_id or conv.shop_id != staff.shop_id:
        raise Http404("seat not found")
    seat = _fresh_seat(seat)
    if not seat.is_active or seat.operator_id is None:
        raise ValidationError(_("这个客服账号目前没有人值守，不能转接"))
    note = check_note(note)
    old_seat = conv.seat
    if old_seat is not None and old_seat.pk == seat.pk:
        raise ValidationError(_("会话已经在这个客服账号"))
    text = f"{staff.display_name} 将会话从 {old_seat.display_name if old_seat else '排队'} 转接给 {seat.display_name}"
    if note:
        text += f"：{note}"
    with transaction.atomic(savepoint=False):
        _lock_shop(conv.shop_id)
        _assign(conv, seat)
        _emit_change(ConversationTransferred(shop_id=conv.shop_id, conversation_id=conv.pk,
                                     from_seat_id=old_seat.pk if old_seat else None, to_seat_id=seat.pk,
                                     staff_id=staff.pk))
        _post_event(conv.pk, text, {"event": "transfer", "from_seat": old_seat.pk if old_seat else None,
                                    "to_seat": seat.pk, "note": note}, staff=staff, seat=seat)
        drain_queue(conv.shop_id)
    return conv


def do_reassign(staff: Staff, conv: Conversation, seat: Seat, note: str = "") -> Conversation:
    """A supervisor moves any conversation of the shop to any attended seat."""
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    return do_transfer(staff, conv, seat, note)


def do_claim(staff: Staff, conv: Conversation, seat: Seat) -> Conversation:
    """Take a queued conversation into one of the caller's seats (an explicit choice: no cap)."""
    account_services.require_role(staff, account_services.CHAT_ROLES)
    if seat.shop_id != staff.shop_id or conv.shop_id != staff.shop_id:
        raise Http404("not found")
    seat = _fresh_seat(seat)
    if seat.operator_id != staff.pk and not staff.is_supervisor:
        raise PermissionDenied(_("只能领取到你值守的客服账号"))
    with transaction.atomic(savepoint=False):
        _lock_shop(conv.shop_id)
        fresh = Conversation.objects.select_for_update().get(pk=conv.pk)
        if fresh.status != QUEUED:
            raise ValidationError(_("这个会话已经被接待了"))
        _assign(fresh, seat)
        _emit_change(ConversationAssigned(shop_id=fresh.shop_id, conversation_id=fresh.pk, seat_id=seat.pk, how="claim",
                                  staff_id=staff.pk))
        _notify_queue(conv.shop_id)
        _post_event(conv.pk, f"{seat.display_name} 接待了会话", {"event": "claim", "seat": seat.pk},
                    staff=staff, seat=seat)
    return fresh


def do_resolve(staff: Staff, conv: Conversation) -> Conversation:
    account_services.require_role(staff, account_services.CHAT_ROLES)
    conv = _fresh_conv(conv)
    require_can_act_on(staff, conv)
    if conv.status == RESOLVED:
        return conv
    with transaction.atomic(savepoint=False):
        _lock_shop(conv.shop_id)
        conv.status = RESOLVED
        conv.resolved_at = timezone.now()
        conv.queued_at = None
        conv.waiting_since = None
        conv.save(update_fields=["status", "resolved_at", "queued_at", "waiting_since"])
        _emit_change(ConversationResolved(shop_id=conv.shop_id, conversation_id=conv.pk, seat_id=conv.seat_id,
                                  staff_id=staff.pk))
        seat_name = conv.seat.display_name if conv.seat else staff.display_name
        _post_event(conv.pk, f"{seat_name} 结束了会话", {"event": "resolve"}, staff=staff, seat=conv.seat)
        drain_queue(conv.shop_id)
    return conv


def do_reopen(staff: Staff, conv: Conversation) -> Conversation:
    """Reopen with the seat that had it when that seat is attended, else route it afresh."""
    account_services.require_role(staff, account_services.CHAT_ROLES)
    conv = _fresh_conv(conv)
    require_can_act_on(staff, conv)
    if conv.status != RESOLVED:
        return conv
    with transaction.atomic(savepoint=False):
        _lock_shop(conv.shop_id)
        if conv.seat is not None and conv.seat.operator_id is not None and conv.seat.is_active:
            _assign(conv, conv.seat)
            _emit_change(ConversationReopened(shop_id=conv.shop_id, conversation_id=conv.pk, seat_id=conv.seat_id,
                                      staff_id=staff.pk))
        else:
            conv.status, conv.queued_at, conv.seat = QUEUED, timezone.now(), None
            conv.save(update_fields=["status", "queued_at", "seat"])
            _emit_change(ConversationReopened(shop_id=conv.shop_id, conversation_id=conv.pk, seat_id=None,
                                      staff_id=staff.pk))
            drain_queue(conv.shop_id)
        _post_event(conv.pk, f"{staff.display_name} 重新打开了会话", {"event": "reopen"}, staff=staff,
                    seat=conv.seat)
    return conv


def reopen_for_shopper(conversation_ids: set[int]) -> list[int]:
    """A shopper wrote into resolved conversations, or wrote their first message as a visitor:
    queue them (again) and route (last seat first)."""
    reopened: list[int] = []
    for conv in Conversation.objects.filter(pk__in=conversation_ids, status__in=[RESOLVED, VISITOR]):
        with transaction.atomic():
            _lock_shop(conv.shop_id)
            n = Conversation.objects.filter(pk=conv.pk, status__in=[RESOLVED, VISITOR]).update(
                status=QUEUED, queued_at=timezone.now(), resolved_at=None, seat=None)
            if not n:
                continue
            if conv.status == VISITOR:  # a visitor's first message: now a conversation
                _emit_change(ConversationOpened(shop_id=conv.shop_id, conversation_id=conv.pk,
                                                customer_id=conv.customer_id))
            else:
                _emit_change(ConversationReopened(shop_id=conv.shop_id, conversation_id=conv.pk, seat_id=None))
            drain_queue(conv.shop_id)
            reopened.append(conv.pk)
    return reopened


def do_set_seat_online(staff: Staff, seat: Seat, online: bool) -> Seat:
    """The seat's operator (or a supervisor) opens or closes it; opening drains the queue."""
    account_services.require_role(staff, account_services.CHAT_ROLES)
    if seat.shop_id != staff.shop_id:
        raise Http404("seat not found")
    seat = _fresh_seat(seat)
    if seat.operator_id != staff.pk and not staff.is_supervisor:
        raise PermissionDenied(_("只能切换你值守的客服账号"))
    if online and seat.operator_id is None:
        raise ValidationError(_("这个客服账号没有人值守，不能上线"))
    from xiaoer.chat import presence

    present = seat.operator_id is not None and presence.is_present(seat.operator_id)
    with transaction.atomic(savepoint=False):
        account_services.do_set_seat_online(seat, online)
        publish_after_commit(seat.shop_id, "seat", {"seat": seat.pk, "online": online and present,
                                                     "available": online, "present": present})
        if online:
            drain_queue(seat.shop_id)
        announce_staffed(seat.shop_id)
    return seat


# --- uploads --------------------------------------------------------------------------------------

def check_image(data: bytes) -> tuple[str, int, int]:
    """(content type, width, height) if DATA really is an allowed image; ValidationError otherwise.
    The size is read from the header before anything is decoded, and at most two images are
    decoded at once: a small file claiming tens of millions of pixels costs nothing."""
    if len(data) > settings.MAX_IMAGE_BYTES:
        raise ValidationError(_("图片不能超过 %(mb)s MB") % {"mb": settings.MAX_IMAGE_BYTES // (1024 * 1024)})
    if not data:
        raise ValidationError(_("文件是空的"))
    too_large = ValidationError(_("图片尺寸太大（最多 %(mp)s 百万像素）")
                                % {"mp": settings.MAX_IMAGE_PIXELS // 1_000_000})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as head:  # reads the header only
                fmt, (width, height) = head.format, head.size
            if width * height > settings.MAX_IMAGE_PIXELS:
                raise too_large
            with _DECODING:
                with Image.open(io.BytesIO(data)) as probe:
                    probe.verify()
                with Image.open(io.BytesIO(data)) as img:
                    if img.format == "JPEG":  # decode at 1/8 scale: still reads every byte of the file
                        img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
                    img.load()  # decode: a truncated or corrupt body fails here
    except ValidationError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise too_large from None
    except UnidentifiedImageError:
        raise ValidationError(_("只能发送图片（PNG、JPEG、GIF、WebP）")) from None
    except (OSError, SyntaxError, ValueError):
        raise ValidationError(_("图片已损坏，无法打开")) from None
    if fmt not in ALLOWED_IMAGE_FORMATS:
        raise ValidationError(_("只能发送图片（PNG、JPEG、GIF、WebP）"))
    return ALLOWED_IMAGE_FORMATS[fmt], width, height


def _per_minute(key: str, limit: int) -> bool:
    """Count one more under KEY for this minute (in the cache, shared between processes with
    Redis); False once LIMIT is passed."""
    window = int(time.time() // 60)
    key = f"{key}:{window}"
    cache.add(key, 0, 120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, 120)
        count = 1
    return count <= limit


def check_upload_rate(shop_id: int, customer_id: int) -> None:
    """A shopper may upload CHAT_SHOPPER_UPLOADS_PER_MINUTE images a minute (per shop and shopper)."""
    if not _per_minute(f"upload-rate:{shop_id}:{customer_id}", settings.CHAT_SHOPPER_UPLOADS_PER_MINUTE):
        raise ValidationError(_("发送图片太频繁，请稍后再试"), code="rate")


# --- leaving a message while nobody is online (docs/decisions/125-leave-a-message.md) ----------------

CONTACT_MAX_CHARS = 40
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
_INTERNATIONAL = re.compile(r"\+\d{7,15}")
_WECHAT = re.compile(r"[A-Za-z][A-Za-z0-9_-]{5,19}")


@dataclass(frozen=True)
class LeftMessage:
    body: str
    contact_kind: str  # "phone" | "wechat" | "" (none given)
    contact: str


def check_contact(contact: str | None) -> tuple[str, str]:
    """(kind, value) of the contact a shopper typed: a mobile number (mainland, spaces and dashes
    allowed, +86 dropped), an international number (+ and 7-15 digits) or a WeChat id (6-20
    letters, digits, _ or -, starting with a letter); ("", "") for none."""
    text = (contact or "").strip()
    if not text:
        return "", ""
    if len(text) > CONTACT_MAX_CHARS:
        raise ValidationError(_("联系方式太长了"), code="contact")
    digits = re.sub(r"[\s-]", "", text)
    if m := _MOBILE.fullmatch(digits):
        return "phone", m.group(1)
    if _INTERNATIONAL.fullmatch(digits):
        return "phone", digits
    if _WECHAT.fullmatch(text):
        return "wechat", text
    raise ValidationError(_("请填写正确的手机号或微信号（微信号 6–20 位，以字母开头）"), code="contact")


def check_left_message(body: str | None, contact: str | None) -> LeftMessage:
    body = (body or "").strip()
    if not body:
        raise ValidationError(_("请填写留言内容"), code="empty")
    if len(body) > settings.CHAT_LEAVE_MESSAGE_MAX_CHARS:
        raise ValidationError(_("留言最多 %(n)s 个字") % {"n": settings.CHAT_LEAVE_MESSAGE_MAX_CHARS},
                              code="too_long")
    kind, value = check_contact(contact)
    return LeftMessage(body=body, contact_kind=kind, contact=value)


def check_leave_message_rate(shop_id: int, customer_id: int) -> None:
    if not _per_minute(f"leave-rate:{shop_id}:{customer_id}", settings.CHAT_SHOPPER_LEAVE_MESSAGES_PER_MINUTE):
        raise ValidationError(_("留言太频繁了，请稍后再试"), code="rate")


def do_leave_message(customer: Customer, left: LeftMessage, *, client_id: str = "") -> dict[str, Any]:
    """The shopper CUSTOMER (the actor, authenticated by their token) leaves a message while no seat
    is online: their contact goes on their profile (where staff see it under the one phone rule),
    the text is a shopper message in their one conversation, written like any other, so a visitor
    or resolved conversation is queued and routed by the usual listener. Returns the message."""
    from xiaoer.chat import writer

    with transaction.atomic(savepoint=False):
        if left.contact_kind:
            field = "phone" if left.contact_kind == "phone" else "wechat"
            Customer.objects.filter(pk=customer.pk, shop_id=customer.shop_id).update(**{field: left.contact})
        conv = get_or_create_conversation(customer.shop, customer, visitor=True)
        try:
            return writer.post_message_sync(
                conv.pk, sender_kind="shopper", kind="text", body=left.body,
                payload={"left_message": True, "contact": left.contact_kind},
                client_id=client_id or None, clients_id=bool(client_id))
        except ValueError:
            raise ValidationError(_("请求无效，请刷新页面后再试"), code="invalid") from None


def do_store_image(shop: Shop, file) -> Attachment:
    """Store an uploaded image under an unguessable token after checking it by content."""
    size = getattr(file, "size", None)
    if size is not None and size > settings.MAX_IMAGE_BYTES:
        raise ValidationError(_("图片不能超过 %(mb)s MB") % {"mb": settings.MAX_IMAGE_BYTES // (1024 * 1024)})
    data = file.read(settings.MAX_IMAGE_BYTES + 1)
    content_type, width, height = check_image(data)
    token = secrets.token_urlsafe(24)
    ext = content_type.split("/")[1].replace("jpeg", "jpg")
    attachment = Attachment(shop=shop, sha256=hashlib.sha256(data).hexdigest(), content_type=content_type,
                            size=len(data), width=width, height=height, token=token)
    attachment.file.save(f"{token}.{ext}", ContentFile(data), save=False)
    attachment.save()
    return attachment


def attachment_json(att: Attachment) -> dict[str, Any]:
    return {"attachment": att.token, "url": f"/files/{att.token}", "width": att.width, "height": att.height,
            "content_type": att.content_type, "size": att.size}


# --- messages (read side; writes go through the writer) ----------------------------------------

def message_json(m: Message, seat_names: dict[int, str] | None = None) -> dict[str, Any]:
    seat = None
    if m.seat_id:
        name = (seat_names or {}).get(m.seat_id) or (m.seat.display_name if m.seat else "")
        seat = {"id": m.seat_id, "display_name": name}
    return {"id": m.pk, "conversation": m.conversation_id, "seq": m.seq, "client_id": m.client_id,
            "sender_kind": m.sender_kind, "kind": m.kind, "internal": m.internal, "body": m.body,
            "payload": m.payload, "seat": seat, "created_at": frames.iso(m.created_at)}


def messages_page(conv: Conversation, *, before: int | None = None, after: int | None = None,
                  limit: int = 50, include_internal: bool = True) -> tuple[list[dict[str, Any]], bool]:
    """A page of CONV's messages: the LIMIT newest before seq BEFORE (scroll back), or the oldest
    after AFTER. Returns (messages in seq order, more)."""
    limit = max(1, min(int(limit), 200))
    qs = Message.objects.filter(conversation=conv).select_related("seat")
    if not include_internal:
        qs = qs.filter(internal=False)
    if after is not None:
        rows = list(qs.filter(seq__gt=after).order_by("seq")[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
    else:
        if before is not None:
            qs = qs.filter(seq__lt=before)
        rows = list(qs.order_by("-seq")[: limit + 1])
        more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    return [message_json(m) for m in rows], more


def post_staff_message(staff: Staff, conv: Conversation, *, body: str = "", kind: str = "text",
                       payload: dict | None = None, seat: Seat | None = None, client_id: str | None = None,
                       internal: bool = False) -> dict[str, Any]:
    """Send as staff through the writer (the API's fallback path beside the socket)."""
    from xiaoer.chat import writer

    account_services.require_role(staff, account_services.CHAT_ROLES)
    require_may_reply(staff, conv)  # the socket's rule: notes included
    if kind not in {"text", "image", "note", "card"}:
        raise ValidationError(_("不支持的消息类型"))
    if kind == "card":  # built from the database (xiaoer.chat.cards), as on the socket
        from xiaoer.chat import cards

        try:
            body, payload = cards.build(conv.pk, payload or {}, shopper=False)
        except ValueError:
            raise ValidationError(_("卡片须指定一个订单号（order）或商品（product）")) from None
        except LookupError:
            raise Http404("not found") from None
    body = (body or "").strip()
    if kind in {"text", "note"} and not body:
        raise ValidationError(_("消息不能为空"))
    if len(body) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ValidationError(_("消息最多 %(n)s 个字") % {"n": settings.CHAT_MAX_MESSAGE_CHARS})
    if kind == "image":
        token = (payload or {}).get("attachment")
        access_attachment(str(token or ""), staff=staff)
        payload = {"attachment": token}
    seat = seat or conv.seat
    if seat is not None and seat.shop_id != staff.shop_id:
        raise Http404("seat not found")
    try:
        return writer.post_message_sync(conv.pk, sender_kind="agent", kind=kind, body=body,
                                        payload=payload or {}, internal=internal or kind == "note",
                                        seat_id=seat.pk if seat else None, staff_id=staff.pk,
                                        client_id=client_id, clients_id=True)
    except ValueError as exc:  # the socket's `invalid`: a sys: id, a bad length, someone else's id
        log.info("refused staff message: %s", exc)
        raise ValidationError(_("client_id 无效：须为 1–64 个字符，不能以 sys: 开头，也不能是对方用过的")) from None
    except LookupError:
        raise Http404("not found") from None


def do_send_product_card(staff: Staff, conv: Conversation, product_id: int) -> dict[str, Any]:
    """The agent sends one of the shop's products as a card (same rule as a socket send: the
    conversation's seat is theirs, or they supervise)."""
    from xiaoer.chat import cards, writer

    account_services.require_role(staff, account_services.CHAT_ROLES)
    conv = _fresh_conv(conv)
    if not staff.is_supervisor and (conv.seat_id is None or conv.seat.operator_id != staff.pk):
        raise PermissionDenied(_("这个会话不由你的客服账号接待，不能在这里回复"))
    try:  # the card every path builds: from the database, shop-scoped (chat/cards.py)
        body, payload = cards.build(conv.pk, {"product": int(product_id)}, shopper=False)
    except LookupError as exc:
        raise Http404("product not found") from exc
    return writer.post_message_sync(conv.pk, sender_kind="agent", kind="card", body=body, payload=payload,
                                    seat_id=conv.seat_id, staff_id=staff.pk)


# --- summaries for lists ------------------------------------------------------------------------

def conversation_json(conv: Conversation) -> dict[str, Any]:
    """The one summary of a conversation: API lists and the hub's ``conversation`` frames."""
    seat = conv.seat
    return {
        "id": conv.pk,
        "shop": conv.shop_id,
        "status": conv.status,
        "seat": {"id": seat.pk, "display_name": seat.display_name} if seat else None,
        "customer": {"id": conv.customer_id, "name": conv.customer.display_name},
        "last_seq": conv.last_seq,
        "last_message_preview": conv.last_message_preview,
        "last_message_at": frames.iso(conv.last_message_at),
        "waiting_since": frames.iso(conv.waiting_since),
        "queued_at": frames.iso(conv.queued_at),
        "unread": conv.unread_for_agent,
    }


def list_conversations(staff: Staff, tab: str = "mine", limit: int = 200) -> list[Conversation]:
    """The workbench list: the one needing an answer longest on top, then the most recent."""
    account_services.require_role(staff, account_services.CHAT_ROLES)
    qs = Conversation.objects.filter(shop_id=staff.shop_id).select_related("seat", "customer")
    if tab == "waiting":
        qs = qs.filter(status=QUEUED).order_by("queued_at", "pk")
        return list(qs[:limit])
    if tab == "mine":
        qs = qs.filter(seat__operator=staff, status=OPEN)
    elif tab == "resolved":
        qs = qs.filter(status=RESOLVED)
    else:
        qs = qs.exclude(status=VISITOR)  # a visitor who wrote nothing is not a conversation yet
    rows = list(qs.order_by("-last_message_at", "-pk")[:limit])
    far_future = timezone.now()

    def key(c: Conversation):
        # waiting shoppers first, longest wait on top; then by last activity
        if c.waiting_since is not None and c.status != RESOLVED:
            return (0, c.waiting_since.timestamp(), 0)
        last = (c.last_message_at or c.created_at or far_future).timestamp()
        return (1, 0, -last)

    return sorted(rows, key=key)


# --- search -------------------------------------------------------------------------------------

SEARCH_MAX_CHARS = 50
SEARCH_LIMIT = 30
# Later apps add what they know about a customer (orders: the order number). Each provider takes
# (shop_id, query) and returns {customer_id: what matched}; registered in the app's ready().
SEARCH_PROVIDERS: list[Callable[[int, str], dict[int, str]]] = []


def add_search_provider(provider: Callable[[int, str], dict[int, str]]) -> None:
    if provider not in SEARCH_PROVIDERS:
        SEARCH_PROVIDERS.append(provider)


def check_search(query: str | None) -> str:
    query = " ".join((query or "").split())
    if not query:
        raise ValidationError(_("请输入要搜索的内容"))
    if len(query) > SEARCH_MAX_CHARS:
        raise ValidationError(_("搜索内容最长 %d 个字") % SEARCH_MAX_CHARS)
    return query


def search_conversations(staff: Staff, query: str) -> list[tuple[Conversation, str]]:
    """Conversations of the caller's shop by buyer (name, id), phone tail, order number (providers)
    or message text, newest first, each with what matched. Every chat role searches the shop, as
    the 全部 list shows it."""
    account_services.require_role(staff, account_services.CHAT_ROLES)
    query = check_search(query)
    shop_id = staff.shop_id
    matched: dict[int, str] = {}  # conversation id → what matched
    by_customer: dict[int, str] = {}
    who = Q(name__icontains=query) | Q(buyer_id__icontains=query)
    if query.isdigit() and len(query) >= 4:
        who |= Q(phone__endswith=query)
    for customer_id, name, phone in Customer.objects.filter(who, shop_id=shop_id).values_list(
            "pk", "name", "phone")[:SEARCH_LIMIT]:
        tail = phone[-4:] if phone and query.isdigit() and phone.endswith(query) else ""
        by_customer[customer_id] = _("手机尾号 %s") % tail if tail else name
    for provider in SEARCH_PROVIDERS:
        for customer_id, what in provider(shop_id, query).items():
            by_customer.setdefault(customer_id, what)
    for conv_id, customer_id in Conversation.objects.filter(
            shop_id=shop_id, customer_id__in=list(by_customer)).values_list("pk", "customer_id")[:SEARCH_LIMIT]:
        matched[conv_id] = by_customer[customer_id]
    hits = (Message.objects.filter(shop_id=shop_id, body__icontains=query, kind__in=("text", "note"))
            .order_by("-id").values_list("conversation_id", "body")[:200])
    for conv_id, body in hits:
        if len(matched) >= SEARCH_LIMIT:
            break
        matched.setdefault(conv_id, _snippet(body, query))
    convs = Conversation.objects.filter(shop_id=shop_id, pk__in=list(matched)).select_related("seat", "customer")
    rows = sorted(convs, key=lambda c: (c.last_message_at or c.created_at), reverse=True)
    return [(c, matched[c.pk]) for c in rows]


def _snippet(body: str, query: str, around: int = 16) -> str:
    at = body.lower().find(query.lower())
    start = max(0, at - around)
    text = body[start:at + len(query) + around]
    return ("…" if start else "") + text + ("…" if at + len(query) + around < len(body) else "")


def shop_load(shop_id: int) -> list[dict[str, Any]]:
    """Every active seat: open conversations against its cap, online, who operates it."""
    from xiaoer.chat import presence

    loads = seat_loads(shop_id)
    seats = Seat.objects.filter(shop_id=shop_id, is_active=True).select_related("operator", "shop").order_by("pk")
    present = set(presence.present_staff_ids().values_list("staff_id", flat=True))
    return [{"seat": s, "id": s.pk, "display_name": s.display_name,
             "online": s.is_online and s.operator_id in present, "available": s.is_online,
             "present": s.operator_id in present,
             "operator": s.operator.display_name if s.operator else None,
             "operator_id": s.operator_id, "open": loads.get(s.pk, 0), "capacity": s.capacity,
             "greeting": s.greeting}
            for s in seats]


# --- after-commit plumbing ------------------------------------------------------------------------

CONVERSATION_EVENTS = (ConversationOpened, ConversationAssigned, ConversationTransferred, ConversationResolved,
                       ConversationReopened)


def _pending_changes() -> list:
    """Conversation events of this transaction still waiting for its commit (``emit`` registers
    ``partial(after_commit, event, outbox_id)``; Django drops those of a rolled-back block)."""
    from django.db import connection

    pending = (getattr(entry[1], "args", ()) for entry in connection.run_on_commit)
    return [args[0] for args in pending if args and isinstance(args[0], CONVERSATION_EVENTS)]


def _emit_change(event) -> None:
    """Emit a conversation event. The live push is one ``conversation`` frame per conversation per
    commit however many changes the transaction made (creating and routing a conversation would
    send two identical frames): an earlier event of the same conversation is marked superseded,
    and the last one pushes the state as committed."""
    for earlier in _pending_changes():
        if earlier.conversation_id == event.conversation_id:
            object.__setattr__(earlier, "superseded", True)  # not a field: never stored
    emit(event)


def _announced_in_this_commit() -> set[int]:
    return {event.conversation_id for event in _pending_changes()}


def publish_after_commit(shop_id: int, event: str, data: dict[str, Any], **kwargs: Any) -> None:
    """An ``event`` frame (hub.publish_event) once the caller's transaction commits; a failed push
    never breaks the write (the page catches up on its next load)."""
    def send() -> None:
        try:
            from xiaoer.chat import hub

            hub.publish_event(shop_id, event, data, **kwargs)
        except Exception:  # noqa: BLE001
            log.exception("publish_event %s failed", event)

    transaction.on_commit(send)


def push_knowledge_notice(event: NoticePublished) -> None:
    """Live listener (AppConfig.ready): a knowledge broadcast to every agent's workbench."""
    data = {"id": event.notice_id, "title": event.title, "body": event.body, "product_id": event.product_id,
            "answer_id": event.answer_id, "created_at": event.created_at}
    try:
        from xiaoer.chat import hub

        hub.publish_event(event.shop_id, "knowledge", data)
    except Exception:  # noqa: BLE001 - the write is committed; the page catches up on its next load
        log.exception("could not push knowledge notice %s", event.notice_id)


def _notify_queue(shop_id: int) -> None:
    """After commit, tell every queued shopper their place (the hub's ``queue`` frame, sent with the
    conversation summary); the queue head moving shifts everybody behind it. Once per drain, not a
    listener of ConversationAssigned: a drain assigning ten conversations would re-send the whole
    queue ten times. Conversations whose own change is announced in the same commit are not
    announced twice."""
    announced = _announced_in_this_commit()

    def send() -> None:
        try:
            from xiaoer.chat import hub

            for conv in queued_conversations(shop_id, limit=QUEUE_NOTIFY_LIMIT):
                if conv.pk not in announced:
                    hub.conversation_changed(conv.pk)
        except Exception:  # noqa: BLE001
            log.exception("queue notification failed for shop %s", shop_id)

    transaction.on_commit(send)


def _post_event(conversation_id: int, body: str, payload: dict[str, Any], *,
                staff: Staff | None, seat: Seat | None) -> None:
    """An internal event line in the conversation, stored by the writer in the caller's transaction
    (it fans out after commit)."""
    from xiaoer.chat import writer

    writer.post_message_sync(conversation_id, sender_kind="system", kind="event", body=body,
                             payload=payload, internal=True, seat_id=seat.pk if seat else None,
                             staff_id=staff.pk if staff else None)


def reopen_on_shopper_message(event: MessagesCommitted) -> None:
    """Live listener: a shopper wrote into a resolved conversation, or a visitor wrote their first
    message → queue it (again) and route it."""
    # The status is the one when the message was stored: a shopper message written before a
    # resolve (delivered to us after it) must not reopen the conversation.
    status = event.status_of()
    ids = {row[0] for row in event.messages if row[3] == "shopper" and status.get(row[0]) in (RESOLVED, VISITOR)}
    if ids:
        reopen_for_shopper(ids)


def committed_messages(event: MessagesCommitted) -> list[dict[str, Any]]:
    """The messages of EVENT as the live listeners get them (``message`` frame dicts plus ``shop``,
    ``staff``, ``conversation_status`` and ``conversation_seat``): the event's own copy in the
    process that wrote them, else read by id (durable listeners, replays)."""
    if event.live:
        return list(event.live)
    convs = {row[0]: row for row in event.conversations}
    rows = Message.objects.filter(pk__in=[row[2] for row in event.messages]).select_related("seat").order_by("pk")
    out = []
    for m in rows:
        conv = convs.get(m.conversation_id)
        out.append(dict(message_json(m), shop=m.shop_id, staff=m.staff_id,
                        conversation_status=conv[3] if conv else None, conversation_seat=conv[2] if conv else None))
    return out


# --- the seat's greeting ------------------------------------------------------------------------
GREETING_MAX_CHARS = 500
GREETING_VARIABLES = {"customer", "seat"}  # known when a conversation opens; an order may not be


def check_greeting(text: str) -> str:
    """A seat's greeting as typed by a supervisor: trimmed, at most GREETING_MAX_CHARS, only the
    variables a new conversation can fill ({顾客} {客服}); empty: no greeting."""
    from xiaoer.knowledge import variables

    text = (text or "").strip()
    if "\x00" in text:
        raise ValidationError(_("开场白含有不可见的控制字符"))
    if len(text) > GREETING_MAX_CHARS:
        raise ValidationError(_("开场白最长 %d 字") % GREETING_MAX_CHARS)
    if variables.unknown_variables(text) or variables.used_variables(text) - GREETING_VARIABLES:
        raise ValidationError(_("开场白只能使用变量 {顾客} 和 {客服}"))
    return text


def do_set_seat_greeting(staff: Staff, seat: Seat, text: str) -> Seat:
    """A supervisor sets what SEAT says first in every conversation it gets."""
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    if seat.shop_id != staff.shop_id:
        raise Http404("seat not found")
    seat.greeting = check_greeting(text)
    Seat.objects.filter(pk=seat.pk).update(greeting=seat.greeting)
    return seat


def greet_on_assign(event: ConversationAssigned) -> None:
    """Durable listener: a conversation got its first seat → that seat's greeting, once, as the
    seat (client id ``sys:greet:<conversation>``: a second assignment after a reopen, or the event
    delivered twice, stores nothing). Skipped when the seat has no greeting or no longer serves it,
    or when the shopper was already answered (by an agent or the robot) before the listener ran."""
    from xiaoer.chat import writer
    from xiaoer.knowledge import variables

    conv = (Conversation.objects.select_related("seat", "customer")
            .filter(pk=event.conversation_id, seat_id=event.seat_id, status=OPEN).first())
    if conv is None or not conv.seat.greeting:
        return
    if Message.objects.filter(conversation=conv, sender_kind__in=("agent", "robot"), internal=False).exists():
        return  # someone already spoke to the shopper (an agent who claimed it typed first): too late to open
    text, _missing = variables.fill(conv.seat.greeting, {"customer": conv.customer.name or "",
                                                         "seat": conv.seat.display_name})
    writer.post_message_sync(conv.pk, sender_kind="agent", kind="text", body=text[:frames.MAX_BODY],
                             payload={"greeting": True}, seat_id=conv.seat_id,
                             client_id=f"{frames.GREETING_CLIENT_ID}{conv.pk}")
