"""Customers and their shop-level notes (docs/design.md "Layers"; docs/decisions/003).

Notes belong to the shop, not to an agent: they stay when a seat changes hands, and record the
seat and the person who wrote them.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Seat, Shop, Staff
from xiaoer.customers.models import (
    AttributeKind,
    ContactKind,
    CustomAttribute,
    Customer,
    CustomerAttributeValue,
    CustomerContact,
    CustomerNote,
    CustomerTag,
    Gender,
    Tag,
)

NOTE_MAX_CHARS = 2000


def access_customer(staff: Staff, customer_id: int) -> Customer:
    """The customer CUSTOMER_ID of STAFF's shop, for a person allowed to read chats."""
    account_services.require_role(staff, account_services.CHAT_ROLES)
    try:
        return Customer.objects.select_related("last_seat").get(pk=customer_id, shop_id=staff.shop_id)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise Http404("customer not found") from None


def check_note_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("备注不能为空"))
    if len(text) > NOTE_MAX_CHARS:
        raise ValidationError(_("备注最多 %(n)s 个字") % {"n": NOTE_MAX_CHARS})
    return text


def do_add_note(staff: Staff, customer: Customer, text: str, *, seat: Seat | None = None) -> CustomerNote:
    """Add a shop-level note; SEAT is the seat the author wrote it as (must be in the same shop)."""
    account_services.require_role(staff, account_services.CHAT_ROLES)
    if customer.shop_id != staff.shop_id or (seat is not None and seat.shop_id != staff.shop_id):
        raise Http404("customer not found")
    return CustomerNote.objects.create(shop_id=staff.shop_id, customer=customer, seat=seat, author=staff,
                                       text=check_note_text(text))


def notes_for(customer: Customer, limit: int = 50) -> list[CustomerNote]:
    return list(CustomerNote.objects.filter(customer=customer, shop_id=customer.shop_id)
                .select_related("seat", "author")[:limit])


def surviving(customer: Customer) -> Customer:
    """The customer that stands for CUSTOMER today: itself, or the one it was merged into. Merges
    keep chains flat (merged_into always names a customer that was not merged), so one hop."""
    if customer.merged_into_id is None:
        return customer
    return Customer.objects.select_related("shop").get(pk=customer.merged_into_id)


def get_or_create_visitor(shop: Shop, visitor_id: str) -> Customer:
    customer, _ = Customer.objects.get_or_create(shop=shop, visitor_id=visitor_id)
    return surviving(customer)


def get_or_create_buyer(shop: Shop, buyer_id: str, name: str = "") -> Customer:
    customer, created = Customer.objects.get_or_create(shop=shop, buyer_id=buyer_id,
                                                       defaults={"name": name[:100]})
    customer = surviving(customer)
    if not created and name and not customer.name and customer.anonymised_at is None:
        customer.name = name[:100]
        customer.save(update_fields=["name"])
    return customer


def shopper_customer(shop: Shop, customer_id: int) -> Customer | None:
    """The customer a shopper token names, if they are of SHOP (the surviving one after a merge)."""
    customer = Customer.objects.select_related("shop").filter(pk=customer_id, shop=shop).first()
    return surviving(customer) if customer is not None else None


def do_touch(customer: Customer) -> None:
    Customer.objects.filter(pk=customer.pk).update(last_seen_at=timezone.now())


# --- the profile: basic and advanced fields (issue 11) -------------------------------------------

PROFILE_TEXT_LIMITS = {"name": 100, "city": 50, "qq": 20, "wechat": 40, "age_band": 10}
AGE_BANDS = ("", "18以下", "18-24", "25-29", "30-34", "35-39", "40-49", "50以上")
CONTACTS_PER_KIND = 10
ATTRIBUTES_PER_SHOP = 50
ATTRIBUTE_CHOICES_MAX = 30
TAGS_PER_SHOP = 200
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
PHONE = re.compile(r"\+?[0-9][0-9 -]{5,18}[0-9]")
KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _own(staff: Staff, customer: Customer, roles=account_services.CHAT_ROLES) -> None:
    """The role check and the shop check every profile write starts with (a stranger's customer is 404)."""
    account_services.require_role(staff, roles)
    if customer.shop_id != staff.shop_id:
        raise Http404("customer not found")


def _birthday(month, day) -> tuple[int | None, int | None]:
    if month in (None, "") and day in (None, ""):
        return None, None
    try:
        month, day = int(month), int(day)
        dt.date(2024, month, day)  # a leap year: 2/29 is a birthday
    except (TypeError, ValueError):
        raise ValidationError(_("生日不是有效的月和日")) from None
    return month, day


def check_profile(data: dict) -> dict:
    """The editable basic/advanced fields of DATA, cleaned (only the keys DATA has)."""
    clean: dict = {}
    for field, limit in PROFILE_TEXT_LIMITS.items():
        if field in data:
            value = str(data[field] or "").strip()
            if len(value) > limit:
                raise ValidationError(_("%(field)s最多 %(n)s 个字") % {"field": field, "n": limit})
            clean[field] = value
    if clean.get("qq") and not clean["qq"].isdigit():
        raise ValidationError(_("QQ 号只能是数字"))
    if "age_band" in clean and clean["age_band"] not in AGE_BANDS:
        raise ValidationError(_("年龄段不在可选范围内"))
    if "gender" in data:
        if (data["gender"] or "") not in Gender.values:
            raise ValidationError(_("性别不在可选范围内"))
        clean["gender"] = data["gender"] or ""
    if "birth_date" in data:
        clean["birth_date"] = _date_or_none(data["birth_date"])
    if "birthday_month" in data or "birthday_day" in data:
        clean["birthday_month"], clean["birthday_day"] = _birthday(data.get("birthday_month"), data.get("birthday_day"))
    if clean.get("birth_date") and "birthday_month" not in clean:
        clean["birthday_month"], clean["birthday_day"] = clean["birth_date"].month, clean["birth_date"].day
    if "birthday_lunar" in data:
        clean["birthday_lunar"] = bool(data["birthday_lunar"])
    return clean


def _date_or_none(value) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        day = dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(_("日期格式应为 YYYY-MM-DD")) from None
    if not dt.date(1900, 1, 1) <= day <= dt.date.today():
        raise ValidationError(_("日期超出范围"))
    return day


@transaction.atomic(savepoint=False)
def do_edit_profile(staff: Staff, customer: Customer, data: dict) -> Customer:
    """Change the basic/advanced fields named in DATA (agents keep profiles up to date too)."""
    _own(staff, customer)
    clean = check_profile(data)
    for field, value in clean.items():
        setattr(customer, field, value)
    if clean:
        customer.save(update_fields=list(clean))
    return customer


# --- phones, e-mails, addresses: several, one default per kind -----------------------------------

def check_contact(kind: str, value: str) -> str:
    value = (value or "").strip()
    if kind not in ContactKind.values:
        raise ValidationError(_("联系方式类型不对"))
    if not value:
        raise ValidationError(_("联系方式不能为空"))
    if kind == ContactKind.PHONE:
        if not PHONE.fullmatch(value):
            raise ValidationError(_("请填写正确的电话号码"))
        return re.sub(r"[ -]", "", value)
    if kind == ContactKind.EMAIL:
        try:
            validate_email(value)
        except ValidationError:
            raise ValidationError(_("请填写正确的邮箱")) from None
        if len(value) > 254:
            raise ValidationError(_("请填写正确的邮箱"))
        return value.lower()
    if len(value) > 300:
        raise ValidationError(_("地址最多 300 个字"))
    return value


def _sync_default(customer: Customer, kind: str) -> None:
    """Customer.phone/email/address stay the copy of the default contact of their kind (chat and
    orders read those fields); no contact of the kind left: the field is cleared."""
    default = CustomerContact.objects.filter(customer=customer, kind=kind, is_default=True).first()
    value = default.value if default else ""
    field = {ContactKind.PHONE: "phone", ContactKind.EMAIL: "email", ContactKind.ADDRESS: "address"}[kind]
    if kind == ContactKind.PHONE:
        value = value[:30]
    setattr(customer, field, value)
    update = [field]
    if kind == ContactKind.ADDRESS and default and default.city:
        customer.city = default.city
        update.append("city")
    customer.save(update_fields=update)


@transaction.atomic(savepoint=False)
def do_add_contact(staff: Staff, customer: Customer, kind: str, value: str, *, province: str = "",
                   city: str = "", district: str = "", make_default: bool = False) -> CustomerContact:
    """Add a phone, e-mail or address; the first of its kind, or MAKE_DEFAULT, becomes the default."""
    _own(staff, customer)
    value = check_contact(kind, value)
    existing = CustomerContact.objects.filter(customer=customer, kind=kind)
    if existing.filter(value=value).exists():
        raise ValidationError(_("这个联系方式已经有了"))
    if existing.count() >= CONTACTS_PER_KIND:
        raise ValidationError(_("每种联系方式最多 %(n)s 个") % {"n": CONTACTS_PER_KIND})
    make_default = make_default or not existing.exists()
    if make_default:
        existing.update(is_default=False)
    contact = CustomerContact.objects.create(
        shop_id=customer.shop_id, customer=customer, kind=kind, value=value, province=province.strip()[:20],
        city=city.strip()[:30], district=district.strip()[:30], is_default=make_default)
    if make_default:
        _sync_default(customer, kind)
    return contact


def access_contact(staff: Staff, customer: Customer, contact_id) -> CustomerContact:
    _own(staff, customer)
    try:
        return CustomerContact.objects.get(pk=contact_id, customer=customer, shop_id=staff.shop_id)
    except (CustomerContact.DoesNotExist, ValueError, TypeError):
        raise Http404("contact not found") from None


@transaction.atomic(savepoint=False)
def do_set_default_contact(staff: Staff, contact: CustomerContact) -> None:
    customer = contact.customer
    _own(staff, customer)
    CustomerContact.objects.filter(customer=customer, kind=contact.kind).exclude(pk=contact.pk).update(is_default=False)
    CustomerContact.objects.filter(pk=contact.pk).update(is_default=True)
    _sync_default(customer, contact.kind)


@transaction.atomic(savepoint=False)
def do_remove_contact(staff: Staff, contact: CustomerContact) -> None:
    """Remove a contact; when it was the default, the oldest one left of its kind takes over."""
    customer = contact.customer
    _own(staff, customer)
    contact.delete()
    if contact.is_default:
        successor = CustomerContact.objects.filter(customer=customer, kind=contact.kind).order_by("pk").first()
        if successor is not None:
            CustomerContact.objects.filter(pk=successor.pk).update(is_default=True)
    _sync_default(customer, contact.kind)


def contacts_of(customer: Customer) -> list[CustomerContact]:
    return list(CustomerContact.objects.filter(customer=customer, shop_id=customer.shop_id)
                .order_by("kind", "-is_default", "pk"))


# --- custom attributes the shop defines ----------------------------------------------------------

def check_attribute(key: str, label: str, kind: str, choices) -> tuple[str, str, str, list[str]]:
    key, label = (key or "").strip().lower(), (label or "").strip()
    if not KEY.fullmatch(key):
        raise ValidationError(_("字段键只能用小写字母、数字和下划线，以字母开头，最多 40 个字符"))
    if not label or len(label) > 40:
        raise ValidationError(_("字段名称不能为空，最多 40 个字"))
    if kind not in AttributeKind.values:
        raise ValidationError(_("字段类型不对"))
    if isinstance(choices, str):
        choices = [c for c in re.split(r"[,，\n]", choices)]
    choices = list(dict.fromkeys(str(c).strip() for c in choices or [] if str(c).strip()))
    if kind == AttributeKind.CHOICE:
        if not choices:
            raise ValidationError(_("选项字段至少要有一个选项"))
        if len(choices) > ATTRIBUTE_CHOICES_MAX or any(len(c) > 40 for c in choices):
            raise ValidationError(_("最多 %(n)s 个选项，每个最多 40 个字") % {"n": ATTRIBUTE_CHOICES_MAX})
    else:
        choices = []
    return key, label, kind, choices


@transaction.atomic(savepoint=False)
def do_save_attribute(staff: Staff, *, key: str, label: str, kind: str = AttributeKind.TEXT, choices=(),
                      attribute: CustomAttribute | None = None) -> CustomAttribute:
    """Define (or change) a custom attribute; supervisors and the owner shape the profile."""
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    key, label, kind, choices = check_attribute(key, label, kind, choices)
    others = CustomAttribute.objects.filter(shop_id=staff.shop_id)
    if attribute is not None:
        if attribute.shop_id != staff.shop_id:
            raise Http404("attribute not found")
        others = others.exclude(pk=attribute.pk)
    elif others.count() >= ATTRIBUTES_PER_SHOP:
        raise ValidationError(_("每个店最多 %(n)s 个自定义字段") % {"n": ATTRIBUTES_PER_SHOP})
    if others.filter(key=key).exists():
        raise ValidationError(_("字段键已经被用了"))
    attribute = attribute or CustomAttribute(shop_id=staff.shop_id)
    attribute.key, attribute.label, attribute.kind, attribute.choices = key, label, kind, choices
    attribute.save()
    return attribute


def access_attribute(staff: Staff, attribute_id) -> CustomAttribute:
    account_services.require_role(staff, account_services.CHAT_ROLES)
    try:
        return CustomAttribute.objects.get(pk=attribute_id, shop_id=staff.shop_id)
    except (CustomAttribute.DoesNotExist, ValueError, TypeError):
        raise Http404("attribute not found") from None


@transaction.atomic(savepoint=False)
def do_delete_attribute(staff: Staff, attribute: CustomAttribute) -> None:
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    if attribute.shop_id != staff.shop_id:
        raise Http404("attribute not found")
    attribute.delete()  # its values go with it


def attributes_of_shop(shop_id: int) -> list[CustomAttribute]:
    return list(CustomAttribute.objects.filter(shop_id=shop_id).order_by("label", "pk"))


def check_attribute_value(attribute: CustomAttribute, value) -> str:
    """The value in its normal text form: numbers as plain decimals, dates ISO, choices as listed."""
    text = str(value if value is not None else "").strip()
    if attribute.kind == AttributeKind.NUMBER:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValidationError(_("%(label)s应为数字") % {"label": attribute.label}) from None
        if not number.is_finite() or abs(number) >= Decimal("1e12"):
            raise ValidationError(_("%(label)s应为数字") % {"label": attribute.label})
        text = format(number.normalize(), "f")
    elif attribute.kind == AttributeKind.DATE:
        try:
            text = dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValidationError(_("%(label)s应为日期 YYYY-MM-DD") % {"label": attribute.label}) from None
    elif attribute.kind == AttributeKind.CHOICE:
        if text not in attribute.choices:
            raise ValidationError(_("%(label)s不在可选范围内") % {"label": attribute.label})
    elif len(text) > 200:
        raise ValidationError(_("%(label)s最多 200 个字") % {"label": attribute.label})
    return text


@transaction.atomic(savepoint=False)
def do_set_attribute_value(staff: Staff, customer: Customer, attribute: CustomAttribute, value) -> None:
    """Set a custom attribute of CUSTOMER; an empty value clears it."""
    _own(staff, customer)
    if attribute.shop_id != staff.shop_id:
        raise Http404("attribute not found")
    if value is None or str(value).strip() == "":
        CustomerAttributeValue.objects.filter(customer=customer, attribute=attribute).delete()
        return
    CustomerAttributeValue.objects.update_or_create(
        customer=customer, attribute=attribute,
        defaults={"shop_id": customer.shop_id, "value": check_attribute_value(attribute, value)})


def attribute_values_of(customer: Customer) -> dict[int, str]:
    """attribute id → value for CUSTOMER."""
    return dict(CustomerAttributeValue.objects.filter(customer=customer, shop_id=customer.shop_id)
                .values_list("attribute_id", "value"))


# --- tags ----------------------------------------------------------------------------------------

def check_tag(name: str, colour: str) -> tuple[str, str]:
    name, colour = (name or "").strip(), (colour or "#1677ff").strip()
    if not name or len(name) > 20:
        raise ValidationError(_("标签名不能为空，最多 20 个字"))
    if not COLOUR.fullmatch(colour):
        raise ValidationError(_("颜色应为 #rrggbb"))
    return name, colour.lower()


@transaction.atomic(savepoint=False)
def do_save_tag(staff: Staff, *, name: str, colour: str = "#1677ff", tag: Tag | None = None) -> Tag:
    """Create a tag, or rename / recolour TAG (supervisors and the owner keep the shop's tag list)."""
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    name, colour = check_tag(name, colour)
    others = Tag.objects.filter(shop_id=staff.shop_id)
    if tag is not None:
        if tag.shop_id != staff.shop_id:
            raise Http404("tag not found")
        others = others.exclude(pk=tag.pk)
    elif others.count() >= TAGS_PER_SHOP:
        raise ValidationError(_("每个店最多 %(n)s 个标签") % {"n": TAGS_PER_SHOP})
    if others.filter(name=name).exists():
        raise ValidationError(_("已经有同名标签"))
    tag = tag or Tag(shop_id=staff.shop_id)
    tag.name, tag.colour = name, colour
    tag.save()
    return tag


def access_tag(staff: Staff, tag_id) -> Tag:
    account_services.require_role(staff, account_services.CHAT_ROLES)
    try:
        return Tag.objects.get(pk=tag_id, shop_id=staff.shop_id)
    except (Tag.DoesNotExist, ValueError, TypeError):
        raise Http404("tag not found") from None


@transaction.atomic(savepoint=False)
def do_delete_tag(staff: Staff, tag: Tag) -> None:
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    if tag.shop_id != staff.shop_id:
        raise Http404("tag not found")
    tag.delete()  # and every customer's link to it


def tags_of_shop(shop_id: int) -> list[Tag]:
    return list(Tag.objects.filter(shop_id=shop_id).order_by("name"))


def tags_of(customer: Customer) -> list[Tag]:
    return list(Tag.objects.filter(customer_links__customer=customer, shop_id=customer.shop_id).order_by("name"))


@transaction.atomic(savepoint=False)
def do_tag(staff: Staff, customer: Customer, tag: Tag) -> bool:
    """Put TAG on CUSTOMER (any agent); False when it was already there."""
    _own(staff, customer)
    if tag.shop_id != staff.shop_id:
        raise Http404("tag not found")
    _link, created = CustomerTag.objects.get_or_create(customer=customer, tag=tag,
                                                       defaults={"shop_id": customer.shop_id, "added_by": staff})
    return created


@transaction.atomic(savepoint=False)
def do_untag(staff: Staff, customer: Customer, tag: Tag) -> None:
    _own(staff, customer)
    if tag.shop_id != staff.shop_id:
        raise Http404("tag not found")
    CustomerTag.objects.filter(customer=customer, tag=tag).delete()
