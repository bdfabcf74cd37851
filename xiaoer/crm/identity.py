"""Who a customer is, across identities and over time: merging two customers of one person, and
anonymising one on request (PIPL). docs/customers-import.md "Merging" and "Anonymising";
docs/decisions/151-153.

Both live in crm, not customers: they rewrite conversations and orders, which customers cannot
import (docs/decisions/130).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Role, Staff
from xiaoer.assistant.models import LearnedPair
from xiaoer.chat.models import Conversation, Message
from xiaoer.crm.events import CustomerAnonymised, CustomersMerged
from xiaoer.crm.models import CustomerValue
from xiaoer.customers.models import (
    Customer,
    CustomerAttributeValue,
    CustomerContact,
    CustomerNote,
    CustomerTag,
)
from xiaoer.events import emit
from xiaoer.orders.models import Order

log = logging.getLogger("xiaoer.crm.privacy")
MERGE_ROLES = account_services.SUPERVISOR_ROLES
ANONYMISE_ROLES = {Role.OWNER}
ANONYMISED = "（已匿名）"  # stored in place of cleared text, so a reader sees it was removed on purpose
# Filled on the kept customer from the merged one where the kept one has nothing.
FILL_FIELDS = ("name", "phone", "wechat", "email", "address", "city", "qq", "gender", "birth_date",
               "birthday_month", "birthday_day", "birthday_lunar", "age_band", "shopper_type", "last_seat")
PERSONAL_FIELDS = {
    "name": "", "phone": "", "wechat": "", "email": "", "address": "", "city": "", "qq": "", "gender": "",
    "birth_date": None, "birthday_month": None, "birthday_day": None, "birthday_lunar": False, "age_band": "",
    "shopper_type": "", "buyer_id": None, "visitor_id": None,
}
# Moved explicitly by do_merge_customers (unique per customer, or a projection); every other model
# pointing at Customer (those crm areas add: coupons, answers, proposals, …) is moved generically.
HANDLED = {(Conversation, "customer"), (Order, "buyer"), (CustomerNote, "customer"),
           (CustomerContact, "customer"), (CustomerTag, "customer"), (CustomerAttributeValue, "customer"),
           (CustomerValue, "customer")}


def access_customer_for(staff: Staff, customer_id: int, roles) -> Customer:
    """Customer CUSTOMER_ID of STAFF's shop for one of ROLES: 403 for others, 404 across shops."""
    account_services.require_role(staff, roles)
    try:
        return Customer.objects.get(pk=int(customer_id), shop_id=staff.shop_id)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise Http404("customer not found") from None


def find_customer(staff: Staff, key: str) -> Customer:
    """A customer of STAFF's shop by id, buyer id or visitor id (the merge form's second field)."""
    key = (key or "").strip()[:100]
    if not key:
        raise ValidationError(_("请填写要合并进来的客户"))
    shop_customers = Customer.objects.filter(shop_id=staff.shop_id)
    found = (shop_customers.filter(buyer_id=key).first() or shop_customers.filter(visitor_id=key).first()
             or (shop_customers.filter(pk=int(key)).first() if key.isdigit() else None))
    if found is None:
        raise ValidationError(_("本店没有这个客户：%s") % key)
    return found


@dataclass
class MergeResult:
    kept: Customer
    merged: Customer
    already: bool  # the merge had been done before: nothing changed


def do_merge_customers(staff: Staff | None, kept: Customer, merged: Customer) -> MergeResult:
    """Merge MERGED into KEPT: every conversation, order, note, tag, contact and attribute value
    becomes KEPT's; blank profile fields of KEPT are filled from MERGED; MERGED stays as a row with
    merged_into = KEPT (old links, tokens and buyer ids resolve to KEPT). Idempotent: merging
    again changes nothing. Race-safe: both rows are locked, and a concurrent opposite merge fails."""
    account_services.require_role(staff, MERGE_ROLES)
    if staff is not None and (kept.shop_id != staff.shop_id or merged.shop_id != staff.shop_id):
        raise Http404("customer not found")
    with transaction.atomic(savepoint=False):
        locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[kept.pk, merged.pk])
                  .order_by("pk")}
        kept, merged = locked[kept.pk], locked[merged.pk]
        if merged.merged_into_id == kept.pk:
            return MergeResult(kept=kept, merged=merged, already=True)
        _check_mergeable(kept, merged)
        _move_identities(kept, merged)
        _move_rows(kept, merged)
        _fill_profile(kept, merged)
        Customer.objects.filter(merged_into=merged).update(merged_into=kept)  # chains stay one hop
        merged.merged_into = kept
        merged.save(update_fields=["merged_into"])
        emit(CustomersMerged(shop_id=kept.shop_id, kept_id=kept.pk, merged_id=merged.pk,
                             staff_id=staff.pk if staff else None))
    log.info("customer %s merged into %s by staff %s", merged.pk, kept.pk, staff.pk if staff else None)
    return MergeResult(kept=kept, merged=merged, already=False)


def _check_mergeable(kept: Customer, merged: Customer) -> None:
    if kept.pk == merged.pk:
        raise ValidationError(_("不能把客户合并到自己"))
    if kept.shop_id != merged.shop_id:
        raise Http404("customer not found")
    if kept.merged_into_id or merged.merged_into_id:
        raise ValidationError(_("这个客户已经合并到别的客户了，请合并到最终的那个客户"))
    if kept.anonymised_at or merged.anonymised_at:
        raise ValidationError(_("已匿名的客户不能合并"))


def _move_identities(kept: Customer, merged: Customer) -> None:
    """A buyer id or visitor id KEPT lacks moves to KEPT (shown, searched); one KEPT has already
    stays on MERGED, which resolves to KEPT (docs/decisions/151)."""
    moves = {f: getattr(merged, f) for f in ("buyer_id", "visitor_id") if getattr(merged, f) and not getattr(kept, f)}
    if not moves:
        return
    Customer.objects.filter(pk=merged.pk).update(**dict.fromkeys(moves))  # free them first: unique per shop
    for name, value in moves.items():
        setattr(merged, name, None)
        setattr(kept, name, value)
    Customer.objects.filter(pk=kept.pk).update(**moves)


def _move_rows(kept: Customer, merged: Customer) -> None:
    Conversation.objects.filter(customer=merged).update(customer=kept)
    Order.objects.filter(buyer=merged).update(buyer=kept)
    CustomerNote.objects.filter(customer=merged).update(customer=kept)
    _move_unique(CustomerTag.objects.filter(customer=merged), kept,
                 set(CustomerTag.objects.filter(customer=kept).values_list("tag_id", flat=True)), "tag_id")
    _move_unique(CustomerAttributeValue.objects.filter(customer=merged), kept,
                 set(CustomerAttributeValue.objects.filter(customer=kept).values_list("attribute_id", flat=True)),
                 "attribute_id")  # KEPT's own value of an attribute wins
    _move_contacts(kept, merged)
    # The value projection is recomputed for KEPT by its listener of CustomersMerged (crm value, h1);
    # MERGED has no orders any more, so its row would only be a stale duplicate.
    CustomerValue.objects.filter(customer=merged).delete()
    _move_other_models(kept, merged)


def _move_unique(rows: models.QuerySet, kept: Customer, kept_has: set, key: str) -> None:
    rows.filter(**{f"{key}__in": kept_has}).delete()
    rows.update(customer=kept)


def _move_contacts(kept: Customer, merged: Customer) -> None:
    have = set(CustomerContact.objects.filter(customer=kept).values_list("kind", "value"))
    defaults = set(CustomerContact.objects.filter(customer=kept, is_default=True).values_list("kind", flat=True))
    for contact in CustomerContact.objects.filter(customer=merged).order_by("-is_default", "pk"):
        if (contact.kind, contact.value) in have:
            contact.delete()
            continue
        contact.customer = kept
        contact.is_default = contact.is_default and contact.kind not in defaults  # one default per kind
        if contact.is_default:
            defaults.add(contact.kind)
        contact.save(update_fields=["customer", "is_default"])


def _move_other_models(kept: Customer, merged: Customer) -> None:
    """Models added later that point at Customer (coupons, questionnaire answers, spotted
    attributes, …): each row moves; one that would break a uniqueness rule (KEPT already has its
    counterpart: a coupon of the same batch) stays with MERGED, where it is still found through
    merged_into."""
    for relation in Customer._meta.related_objects:
        model, field = relation.related_model, relation.field
        if (model, field.name) in HANDLED or model is Customer or relation.one_to_one:
            continue
        rows = model._base_manager.filter(**{field.name: merged})
        try:
            with transaction.atomic():
                rows.update(**{field.name: kept})
        except IntegrityError:
            for pk in rows.values_list("pk", flat=True):
                try:
                    with transaction.atomic():
                        model._base_manager.filter(pk=pk).update(**{field.name: kept})
                except IntegrityError:
                    continue


def _fill_profile(kept: Customer, merged: Customer) -> None:
    changed = []
    for name in FILL_FIELDS:
        if getattr(kept, name) in ("", None, False) and getattr(merged, name) not in ("", None, False):
            setattr(kept, name, getattr(merged, name))
            changed.append(name)
    if merged.last_seen_at and (not kept.last_seen_at or merged.last_seen_at > kept.last_seen_at):
        kept.last_seen_at = merged.last_seen_at
        changed.append("last_seen_at")
    if changed:
        kept.save(update_fields=changed)


# --- anonymising ----------------------------------------------------------------------------------

def do_anonymise_customer(staff: Staff | None, customer: Customer) -> Customer:
    """Clear CUSTOMER's personal data for good (PIPL): profile fields and identities, contacts,
    attribute values, tags, note texts, the text of their conversations, and the receiver name,
    phone, address and message of their orders. Kept: the rows, amounts, times, statuses and seat
    attribution, so order figures and KPIs stay right (docs/decisions/152). Owner only; logged;
    a second call changes nothing."""
    account_services.require_role(staff, ANONYMISE_ROLES)
    if staff is not None and customer.shop_id != staff.shop_id:
        raise Http404("customer not found")
    with transaction.atomic(savepoint=False):
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if customer.anonymised_at is not None:
            return customer
        if customer.merged_into_id is not None:
            raise ValidationError(_("这个客户已合并到别的客户：请对合并后的客户操作"))
        ids = [customer.pk, *Customer.objects.filter(merged_into=customer).values_list("pk", flat=True)]
        _clear_personal_rows(ids)
        Customer.objects.filter(pk__in=ids).update(**PERSONAL_FIELDS)
        customer.refresh_from_db()
        customer.anonymised_at = timezone.now()
        customer.save(update_fields=["anonymised_at"])
        Customer.objects.filter(merged_into=customer).update(anonymised_at=customer.anonymised_at)
        emit(CustomerAnonymised(shop_id=customer.shop_id, customer_id=customer.pk,
                                staff_id=staff.pk if staff else None))
    log.warning("customer %s of shop %s anonymised by staff %s", customer.pk, customer.shop_id,
                staff.pk if staff else None)
    return customer


def _clear_personal_rows(customer_ids: list[int]) -> None:
    CustomerContact.objects.filter(customer_id__in=customer_ids).delete()
    CustomerAttributeValue.objects.filter(customer_id__in=customer_ids).delete()
    CustomerTag.objects.filter(customer_id__in=customer_ids).delete()
    CustomerNote.objects.filter(customer_id__in=customer_ids).update(text=ANONYMISED)
    Order.objects.filter(buyer_id__in=customer_ids).update(
        receiver_name=ANONYMISED, receiver_phone="", receiver_address=ANONYMISED, buyer_message="")
    conversations = Conversation.objects.filter(customer_id__in=customer_ids)
    Message.objects.filter(conversation__in=conversations).update(body=ANONYMISED, payload={})
    conversations.update(last_message_preview=ANONYMISED)
    LearnedPair.objects.filter(conversation__in=conversations).delete()
