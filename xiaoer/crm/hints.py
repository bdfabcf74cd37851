"""crm's operations (docs/customers-spotting.md; docs/decisions/130).

Attributes spotted in chat: a durable listener on chat.MessagesCommitted proposes what shoppers
state; an agent confirms (the value becomes a profile fact, the proposal its record) or dismisses.
Shopper types: the agent sets one, the system only suggests; each shop's handling tips.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Staff
from xiaoer.chat import services as chat_services
from xiaoer.chat.events import MessagesCommitted
from xiaoer.chat.models import Conversation, Message, MessageKind, SenderKind
from xiaoer.crm import shopper_types, spotting
from xiaoer.crm.models import AttributeProposal, ProposalState, ShopperTypeTip, SpottedKind
from xiaoer.customers.models import (
    AttributeKind,
    ContactKind,
    CustomAttribute,
    Customer,
    CustomerAttributeValue,
    CustomerContact,
    Gender,
    ShopperType,
)

log = logging.getLogger(__name__)

EXCERPT_CHARS = 200
VALUE_MAX_CHARS = 300
TIP_MAX_CHARS = 1000
SUGGESTION_MESSAGES = 100  # the customer's latest messages the type suggestion reads
PANEL_EVENT = "attributes"  # live event name: the workbench reloads the crm side panel on it

# Spotted kinds kept as shop custom attributes (customers has no column for them): key, label, kind.
BODY_ATTRIBUTES = {
    SpottedKind.HEIGHT: ("height_cm", "身高(cm)", AttributeKind.NUMBER),
    SpottedKind.WEIGHT: ("weight_kg", "体重(kg)", AttributeKind.NUMBER),
    SpottedKind.SIZE: ("size_worn", "常穿尺码", AttributeKind.TEXT),
    SpottedKind.SHOE_SIZE: ("shoe_size", "鞋码", AttributeKind.TEXT),
}
CONTACT_KINDS = {SpottedKind.PHONE: ContactKind.PHONE, SpottedKind.EMAIL: ContactKind.EMAIL,
                 SpottedKind.ADDRESS: ContactKind.ADDRESS}


# --- spotting: the listener ------------------------------------------------------------------------
def spot_committed(event: MessagesCommitted) -> None:
    """Durable listener "crm.spot_attributes": propose what the batch's shopper messages state.
    Idempotent: a proposal exists once per (customer, kind, value), so a redelivery adds nothing."""
    ids = [row["id"] for row in event.message_rows() if row["sender_kind"] == SenderKind.SHOPPER
           and not row["internal"]]
    if not ids:
        return
    rows = (Message.objects.filter(pk__in=ids, kind=MessageKind.TEXT)
            .values_list("pk", "shop_id", "conversation_id", "conversation__customer_id", "body"))
    touched: set[tuple[int, int]] = set()
    for message_id, shop_id, conversation_id, customer_id, body in rows:
        if propose_from_text(shop_id, customer_id, conversation_id, message_id, body or ""):
            touched.add((shop_id, conversation_id))
    for shop_id, conversation_id in touched:
        chat_services.publish_after_commit(shop_id, PANEL_EVENT, {}, conversation_id=conversation_id)


def propose_from_text(shop_id: int, customer_id: int, conversation_id: int, message_id: int, text: str) -> int:
    """Proposals for what TEXT states that the customer's profile does not have and nobody has
    been asked about yet (pending, confirmed or dismissed). Returns how many were new."""
    found = spotting.spot(text)
    if not found:
        return 0
    customer = Customer.objects.filter(pk=customer_id, shop_id=shop_id).first()
    if customer is None or customer.anonymised_at is not None:
        return 0
    known = _known_values(customer)
    asked = set(AttributeProposal.objects.filter(customer=customer).values_list("kind", "value"))
    new = [AttributeProposal(shop_id=shop_id, customer=customer, kind=s.kind, value=s.value[:VALUE_MAX_CHARS],
                             parts=s.parts, conversation_id=conversation_id, message_id=message_id,
                             excerpt=_excerpt(text, s.value))
           for s in found if (s.kind, s.value) not in known and (s.kind, s.value[:VALUE_MAX_CHARS]) not in asked]
    AttributeProposal.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _excerpt(text: str, value: str) -> str:
    text = " ".join(text.split())
    if len(text) <= EXCERPT_CHARS:
        return text
    at = max(0, text.find(value[:6]) - 60)
    return ("…" if at else "") + text[at:at + EXCERPT_CHARS - 2] + "…"


def _known_values(customer: Customer) -> set[tuple[str, str]]:
    """(kind, value) pairs the profile already holds, as spotting would write them."""
    known = {(kind, value) for kind, value in [
        (SpottedKind.PHONE, customer.phone), (SpottedKind.EMAIL, customer.email.lower()),
        (SpottedKind.ADDRESS, customer.address), (SpottedKind.WECHAT, customer.wechat),
        (SpottedKind.QQ, customer.qq), (SpottedKind.GENDER, customer.gender)] if value}
    spotted_kind = {v: k for k, v in CONTACT_KINDS.items()}
    for kind, value in CustomerContact.objects.filter(customer=customer).values_list("kind", "value"):
        known.add((spotted_kind.get(kind, kind), value))
    keys = {key: kind for kind, (key, _label, _k) in BODY_ATTRIBUTES.items()}
    for key, value in CustomerAttributeValue.objects.filter(customer=customer, attribute__key__in=keys).values_list(
            "attribute__key", "value"):
        known.add((keys[key], value))
    if customer.birthday_month and customer.birthday_day:
        md = f"{customer.birthday_month:02d}-{customer.birthday_day:02d}" + (" 农历" if customer.birthday_lunar else "")
        known.add((SpottedKind.BIRTHDAY, md))
        if customer.birth_date:
            known.add((SpottedKind.BIRTHDAY, f"{customer.birth_date.year}-{md}"))
    return known


# --- proposals: read, confirm, dismiss -------------------------------------------------------------
def access_proposal(staff: Staff | None, proposal_id: int) -> AttributeProposal:
    """Proposal PROPOSAL_ID of STAFF's shop, for a person who chats (403 for others, else 404)."""
    staff = account_services.require_role(staff, account_services.CHAT_ROLES)
    try:
        return AttributeProposal.objects.select_related("customer").get(pk=int(proposal_id), shop_id=staff.shop_id)
    except (AttributeProposal.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("proposal not found") from None


def pending_proposals(customer: Customer, limit: int = 30) -> list[AttributeProposal]:
    return list(AttributeProposal.objects.filter(customer=customer, shop_id=customer.shop_id,
                                                 state=ProposalState.PROPOSED)[:limit])


def confirmed_facts(customer: Customer, limit: int = 50) -> list[AttributeProposal]:
    """The profile facts that came from chat, with their record (message, who, when)."""
    return list(AttributeProposal.objects.filter(customer=customer, shop_id=customer.shop_id,
                                                 state=ProposalState.CONFIRMED)
                .select_related("decided_by").order_by("-decided_at")[:limit])


def shown(staff: Staff, proposal: AttributeProposal) -> tuple[str, str]:
    """(value, excerpt) of PROPOSAL as STAFF may see them: phones masked outside PHONE_VISIBLE_ROLES."""
    if proposal.kind != SpottedKind.PHONE or account_services.sees_whole_phone(staff):
        return proposal.value, proposal.excerpt
    masked = account_services.mask_phone(proposal.value)
    excerpt = spotting.mask_phones(proposal.excerpt, account_services.mask_phone)
    return masked, excerpt


def _fresh(staff: Staff, proposal: AttributeProposal) -> AttributeProposal:
    try:
        return AttributeProposal.objects.get(pk=proposal.pk, shop_id=staff.shop_id)
    except AttributeProposal.DoesNotExist:
        raise Http404("proposal not found") from None


def _require_pending(proposal: AttributeProposal) -> None:
    if proposal.state != ProposalState.PROPOSED:
        raise ValidationError(_("这条资料已经处理过了"))


def do_confirm_proposal(staff: Staff | None, proposal: AttributeProposal, value: str | None = None) -> AttributeProposal:
    """PROPOSAL becomes a profile fact, with VALUE when the agent edited it; the proposal records
    the source message, who confirmed and when."""
    staff = account_services.require_role(staff, account_services.CHAT_ROLES)
    # Checked before the transaction: a refusal leaves the caller's transaction usable.
    _require_pending(_fresh(staff, proposal))
    clean, parts = check_value(proposal.kind, proposal.value if value is None else value, proposal)
    with transaction.atomic(savepoint=False):
        proposal = (AttributeProposal.objects.select_for_update().select_related("customer")
                    .get(pk=proposal.pk, shop_id=staff.shop_id))
        _require_pending(proposal)
        _write_fact(proposal.customer, proposal.kind, clean, parts)
        proposal.state, proposal.confirmed_value = ProposalState.CONFIRMED, clean
        proposal.decided_by, proposal.decided_at = staff, timezone.now()
        proposal.save(update_fields=["state", "confirmed_value", "decided_by", "decided_at"])
    return proposal


def do_dismiss_proposal(staff: Staff | None, proposal: AttributeProposal) -> AttributeProposal:
    staff = account_services.require_role(staff, account_services.CHAT_ROLES)
    _require_pending(_fresh(staff, proposal))
    with transaction.atomic(savepoint=False):
        proposal = AttributeProposal.objects.select_for_update().get(pk=proposal.pk, shop_id=staff.shop_id)
        _require_pending(proposal)
        proposal.state, proposal.decided_by, proposal.decided_at = ProposalState.DISMISSED, staff, timezone.now()
        proposal.save(update_fields=["state", "decided_by", "decided_at"])
    return proposal


_PHONE_TYPED = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$|^(0\d{2,3}-\d{7,8}(?:-\d{1,5})?)$")
_BIRTHDAY_TYPED = re.compile(r"^(?:(\d{4})-)?(\d{1,2})-(\d{1,2})(\s*农历)?$")
_SIZE_TYPED = re.compile(r"^[0-9A-Za-z.]{1,8}$")


def check_value(kind: str, value: str, proposal: AttributeProposal | None = None) -> tuple[str, dict]:
    """VALUE (as spotted or as the agent edited it) checked and normalised for KIND, with its parts."""
    value = " ".join((value or "").split())
    if not value:
        raise ValidationError(_("值不能为空"))
    if len(value) > VALUE_MAX_CHARS or "\x00" in value:
        raise ValidationError(_("值太长或含有控制字符"))
    unchanged = proposal is not None and value == proposal.value
    parts: dict = dict(proposal.parts) if unchanged else {}
    if kind == SpottedKind.PHONE:
        m = _PHONE_TYPED.match(value.replace(" ", ""))
        if not m:
            raise ValidationError(_("不是有效的手机或座机号码"))
        value = m.group(1) or m.group(2)
    elif kind == SpottedKind.EMAIL:
        value = value.lower()
        validate_email(value)
    elif kind == SpottedKind.ADDRESS:
        if not unchanged:
            found = spotting.addresses(value)
            parts = found[0].parts if found else {}
    elif kind in (SpottedKind.HEIGHT, SpottedKind.WEIGHT):
        try:
            number = float(value.removesuffix("cm").removesuffix("kg"))
        except ValueError:
            raise ValidationError(_("请填写数字")) from None
        low, high = (50, 250) if kind == SpottedKind.HEIGHT else (10, 250)
        if not low <= number <= high:
            raise ValidationError(_("数字超出合理范围"))
        value = f"{number:g}"
    elif kind in (SpottedKind.SIZE, SpottedKind.SHOE_SIZE):
        if not _SIZE_TYPED.match(value):
            raise ValidationError(_("尺码只能是字母和数字"))
        value = value.upper()
    elif kind == SpottedKind.BIRTHDAY:
        parts = _birthday_parts(value)
    elif kind in (SpottedKind.WECHAT, SpottedKind.QQ):
        if not re.fullmatch(r"[-_A-Za-z0-9]{5,20}" if kind == SpottedKind.WECHAT else r"[1-9]\d{4,10}", value):
            raise ValidationError(_("号码格式不对"))
    elif kind == SpottedKind.GENDER:
        if value not in (Gender.FEMALE, Gender.MALE):
            raise ValidationError(_("性别只能是男或女"))
    else:
        raise ValidationError(_("未知的资料类型"))
    return value, parts


def _birthday_parts(value: str) -> dict:
    m = _BIRTHDAY_TYPED.match(value)
    if not m:
        raise ValidationError(_("生日格式：月-日，或 年-月-日，农历在后面加“农历”"))
    year, month, day = (int(g) if g else None for g in m.groups()[:3])
    try:
        date(year or 2000, month, day)  # 2000: a leap year, so 02-29 is a birthday
    except ValueError:
        raise ValidationError(_("没有这一天")) from None
    return {"year": year, "month": month, "day": day, "lunar": bool(m.group(4))}


def _write_fact(customer: Customer, kind: str, value: str, parts: dict) -> None:
    if kind in CONTACT_KINDS:
        _add_contact(customer, CONTACT_KINDS[kind], value, parts)
    elif kind in BODY_ATTRIBUTES:
        key, label, attr_kind = BODY_ATTRIBUTES[kind]
        attribute, _created = CustomAttribute.objects.get_or_create(
            shop_id=customer.shop_id, key=key, defaults={"label": label, "kind": attr_kind})
        CustomerAttributeValue.objects.update_or_create(shop_id=customer.shop_id, customer=customer,
                                                        attribute=attribute, defaults={"value": value})
    elif kind == SpottedKind.BIRTHDAY:
        customer.birthday_month, customer.birthday_day = parts["month"], parts["day"]
        customer.birthday_lunar = parts["lunar"]
        if parts["year"] and not parts["lunar"]:
            customer.birth_date = date(parts["year"], parts["month"], parts["day"])
        customer.save(update_fields=["birthday_month", "birthday_day", "birthday_lunar", "birth_date"])
    else:  # wechat, qq, gender: one value per customer
        setattr(customer, kind, value)
        customer.save(update_fields=[kind])


def _add_contact(customer: Customer, kind: str, value: str, parts: dict) -> None:
    """One more phone / e-mail / address; the first of its kind becomes the default and the
    customer's quick-read copy (Customer.phone / email / address, and city)."""
    has_default = CustomerContact.objects.filter(customer=customer, kind=kind, is_default=True).exists()
    CustomerContact.objects.get_or_create(
        customer=customer, kind=kind, value=value,
        defaults={"shop_id": customer.shop_id, "is_default": not has_default,
                  "province": (parts.get("province") or "")[:20], "city": (parts.get("city") or "")[:30],
                  "district": (parts.get("district") or "")[:30]})
    field = {ContactKind.PHONE: "phone", ContactKind.EMAIL: "email", ContactKind.ADDRESS: "address"}[kind]
    changed = []
    if not getattr(customer, field):
        setattr(customer, field, value)
        changed.append(field)
    city = (parts.get("city") or "").removesuffix("市") or (parts.get("province") or "").removesuffix("市")
    if kind == ContactKind.ADDRESS and city and not customer.city:
        customer.city = city[:50]
        changed.append("city")
    if changed:
        customer.save(update_fields=changed)


# --- shopper types ---------------------------------------------------------------------------------
def do_set_shopper_type(staff: Staff | None, customer: Customer, shopper_type: str) -> Customer:
    """The agent's choice of type for CUSTOMER ("" clears it). Only people set it."""
    staff = account_services.require_role(staff, account_services.CHAT_ROLES)
    if customer.shop_id != staff.shop_id:
        raise Http404("customer not found")
    if shopper_type and shopper_type not in ShopperType.values:
        raise ValidationError(_("未知的顾客类型"))
    with transaction.atomic(savepoint=False):
        Customer.objects.filter(pk=customer.pk, shop_id=staff.shop_id).update(shopper_type=shopper_type)
    customer.shopper_type = shopper_type
    return customer


def tips_for(shop_id: int) -> dict[str, str]:
    """Handling tips per type for the shop: its own where it wrote them, ours elsewhere."""
    own = dict(ShopperTypeTip.objects.filter(shop_id=shop_id).values_list("shopper_type", "tips"))
    return {t: own.get(t) or str(shopper_types.DEFAULT_TIPS[t]) for t in ShopperType.values}


def customised_types(shop_id: int) -> set[str]:
    return set(ShopperTypeTip.objects.filter(shop_id=shop_id).values_list("shopper_type", flat=True))


def do_save_tip(staff: Staff | None, shopper_type: str, tips: str) -> None:
    """A supervisor's or owner's tips for SHOPPER_TYPE; empty text goes back to the defaults."""
    staff = account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    if shopper_type not in ShopperType.values:
        raise ValidationError(_("未知的顾客类型"))
    tips = (tips or "").strip()
    if len(tips) > TIP_MAX_CHARS or "\x00" in tips:
        raise ValidationError(_("建议最多 %(n)d 个字") % {"n": TIP_MAX_CHARS})
    with transaction.atomic(savepoint=False):
        if not tips or tips == str(shopper_types.DEFAULT_TIPS[shopper_type]):
            ShopperTypeTip.objects.filter(shop_id=staff.shop_id, shopper_type=shopper_type).delete()
            return
        ShopperTypeTip.objects.update_or_create(shop_id=staff.shop_id, shopper_type=shopper_type,
                                                defaults={"tips": tips, "updated_by": staff})


def suggest_type(customer: Customer) -> shopper_types.Suggestion | None:
    """The system's suggestion for CUSTOMER from their latest chat messages (never stored, never set)."""
    rows = list(Message.objects.filter(conversation__customer=customer, shop_id=customer.shop_id, internal=False,
                                       kind=MessageKind.TEXT).exclude(sender_kind=SenderKind.SYSTEM)
                .order_by("-created_at", "-pk").values_list("sender_kind", "body", "created_at")[:SUGGESTION_MESSAGES])
    rows.reverse()
    return shopper_types.suggest(rows)


# --- the side panel --------------------------------------------------------------------------------
@dataclass
class PanelView:
    conversation: Conversation
    customer: Customer
    type_label: str
    tips: str
    suggestion: shopper_types.Suggestion | None
    proposals: list[AttributeProposal]
    facts: list[AttributeProposal]


def panel_view(staff: Staff, conversation_id: int) -> PanelView:
    """What the "顾客类型与待确认资料" section shows for a conversation of STAFF's shop."""
    conversation = chat_services.access_conversation(staff, conversation_id)
    customer = conversation.customer
    shopper_type = customer.shopper_type
    return PanelView(
        conversation=conversation, customer=customer,
        type_label=str(ShopperType(shopper_type).label) if shopper_type else "",
        tips=tips_for(staff.shop_id)[shopper_type] if shopper_type else "",
        suggestion=suggest_type(customer), proposals=pending_proposals(customer),
        facts=confirmed_facts(customer, limit=10))
