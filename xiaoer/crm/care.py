"""Birthday care: the shop's birthday message, once per customer per year, in the shop's hours,
optionally with a coupon (docs/customers-care.md, decisions 147 and 148).

Exactly once: per customer, one transaction inserts the claim (BirthdayGreeting, unique on
customer + year), issues the coupon (unique per batch and customer) and queues the notice (unique
key "birthday-<customer>-<year>"). A crash before the commit leaves nothing, so the next run
greets; after it, a second run or a second worker finds the claim and does nothing, and notify
delivers the notice at most once.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Shop, Staff
from xiaoer.chat.models import Conversation
from xiaoer.crm import coupons
from xiaoer.crm.models import BirthdayGreeting, CareSettings, CouponBatch, CouponKind, CouponReason
from xiaoer.customers.models import Customer
from xiaoer.notify import services as notify_services
from xiaoer.notify import texts
from xiaoer.notify.models import Channel

log = logging.getLogger(__name__)
MANAGE_ROLES = account_services.SUPERVISOR_ROLES
MAX_MESSAGE = 300


# --- settings ----------------------------------------------------------------------------------

def settings_of(shop_id: int) -> CareSettings:
    """The shop's care settings (the defaults, unsaved, until the shop saves its own)."""
    return CareSettings.objects.filter(shop_id=shop_id).select_related("birthday_batch").first() \
        or CareSettings(shop_id=shop_id)


def do_save_settings(staff: Staff, *, enabled: bool, message: str, hours_start: int, hours_end: int,
                     batch_id: int | None = None) -> CareSettings:
    account_services.require_role(staff, MANAGE_ROLES)
    message = (message or "").strip()
    if not message or len(message) > MAX_MESSAGE:
        raise ValidationError(_("生日祝福不能为空，最长 300 字"))
    if not (0 <= int(hours_start) < int(hours_end) <= 24):
        raise ValidationError(_("发送时段应在 0 到 24 点之间，开始早于结束"))
    batch = coupons.batch_for_shop(staff.shop_id, batch_id)
    with transaction.atomic(savepoint=False):
        row = settings_of(staff.shop_id)
        row.birthday_enabled, row.birthday_message = bool(enabled), message
        row.hours_start, row.hours_end, row.birthday_batch = int(hours_start), int(hours_end), batch
        row.save()
    return row


# --- who has a birthday today --------------------------------------------------------------------

def _solar_filter(today: dt.date) -> Q:
    days = [today.day]
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        days.append(29)  # born on 29 February: greeted on the 28th in other years
    return Q(birthday_lunar=False, birthday_month=today.month, birthday_day__in=days)


def lunar_today(today: dt.date) -> tuple[int, int, int, list[int]] | None:
    """(lunar year, month, day, birthday days that fall today) for TODAY; None in a leap month
    (a lunar birthday is kept in the regular month) or where the calendar library has no data."""
    from lunardate import LunarDate

    try:
        lunar = LunarDate.from_solar_date(today.year, today.month, today.day)
    except ValueError:
        return None
    if lunar.is_leap_month:
        return None
    days = [lunar.day]
    if lunar.day == 29:
        try:
            LunarDate(lunar.year, lunar.month, 30)
        except ValueError:
            days.append(30)  # a short month: born on the 30th, greeted on its last day
    return lunar.year, lunar.month, lunar.day, days


def due_customers(shop_id: int, today: dt.date) -> list[tuple[Customer, int]]:
    """Customers of SHOP_ID whose birthday is TODAY (shop date), each with the year their
    greeting counts for (the solar year; the lunar year for lunar birthdays), not yet greeted."""
    base = Customer.objects.filter(shop_id=shop_id, merged_into__isnull=True, anonymised_at__isnull=True)
    found = [(c, today.year) for c in base.filter(_solar_filter(today))]
    lunar = lunar_today(today)
    if lunar is not None:
        year, month, _day, days = lunar
        found += [(c, year) for c in base.filter(birthday_lunar=True, birthday_month=month, birthday_day__in=days)]
    if not found:
        return []
    greeted = set(BirthdayGreeting.objects.filter(customer_id__in=[c.pk for c, _y in found])
                  .values_list("customer_id", "year"))
    return [(c, y) for c, y in found if (c.pk, y) not in greeted]


# --- greeting ------------------------------------------------------------------------------------

def _contact(customer: Customer) -> tuple[str, str, int | None] | None:
    """(channel, recipient, conversation id): the chat when the shopper has a conversation with
    the shop, else an SMS to their phone, else None."""
    conv_id = (Conversation.objects.filter(shop_id=customer.shop_id, customer=customer)
               .order_by("created_at", "id").values_list("id", flat=True).first())
    if conv_id:
        return Channel.CHAT, str(conv_id), conv_id
    if customer.phone:
        return Channel.SMS, customer.phone, None
    return None


def coupon_text(batch: CouponBatch, code: str) -> str:
    amount = (_("%(v)s 元") % {"v": batch.value}) if batch.kind == CouponKind.AMOUNT else \
        (_("%(v)s%% 折扣") % {"v": batch.value.normalize()})
    return _("送您一张生日券（%(amount)s），券码 %(code)s。") % {"amount": amount, "code": coupons.show_code(code)}


def greet(care: CareSettings, customer: Customer, year: int, *, now: dt.datetime) -> bool:
    """Greet CUSTOMER for YEAR unless somebody already did. True when this call claimed it."""
    contact = _contact(customer)
    if contact is None:
        return False  # unreachable today: not claimed, a later run may reach them
    channel, recipient, conv_id = contact
    key = f"birthday-{customer.pk}-{year}"
    with transaction.atomic():
        try:
            with transaction.atomic():
                claim = BirthdayGreeting.objects.create(shop_id=customer.shop_id, customer=customer, year=year,
                                                        channel=channel, notice_key=key, created_at=now)
        except IntegrityError:
            return False  # another run or worker has it
        coupon = _birthday_coupon(care, customer, year, now)
        body = texts.render(care.birthday_message, {
            "name": customer.name or _("亲"), "shop": care.shop.name,
            "coupon": coupon_text(coupon.batch, coupon.code) if coupon else ""})[:notify_services.MAX_BODY]
        notify_services.do_queue_notices([notify_services.build_notice(
            care.shop, key=key, channel=channel, template="birthday", body=body.strip(),
            recipient=recipient, conversation_id=conv_id, now=now)])
        if coupon is not None:
            BirthdayGreeting.objects.filter(pk=claim.pk).update(coupon=coupon)
    return True


def _birthday_coupon(care: CareSettings, customer: Customer, year: int, now: dt.datetime):
    if care.birthday_batch is None:
        return None
    try:
        with transaction.atomic():  # a used-up batch still greets, without a coupon
            coupon, _created = coupons.do_issue_coupon(None, care.birthday_batch, customer,
                                                       reason=CouponReason.BIRTHDAY, rule=f"birthday:{year}", now=now)
    except ValidationError as exc:
        log.info("birthday coupon for customer %s not issued: %s", customer.pk, exc)
        return None
    return coupon


@dataclass
class CareRun:
    shops: int = 0  # shops inside their hours
    greeted: int = 0


def in_hours(care: CareSettings, local: dt.datetime) -> bool:
    """The shop's hours: from HOURS_START:00 up to (not including) HOURS_END:00, shop time."""
    return care.hours_start <= local.hour < care.hours_end


def run_birthday_care(*, now: dt.datetime | None = None) -> CareRun:
    """One pass over every shop with birthday care on whose clock is inside its hours (the
    periodic task runs hourly, so each shop is served on the first run of its window)."""
    now = now or timezone.now()
    run = CareRun()
    for care in CareSettings.objects.filter(birthday_enabled=True).select_related("shop", "birthday_batch"):
        local = now.astimezone(ZoneInfo(care.shop.timezone))
        if not in_hours(care, local):
            continue
        run.shops += 1
        for customer, year in due_customers(care.shop_id, local.date()):
            try:
                run.greeted += greet(care, customer, year, now=now)
            except Exception:  # one customer's failure must not stop the shop; retried next hour
                log.exception("birthday greeting for customer %s failed", customer.pk)
    return run


def greetings_of(shop: Shop, limit: int = 100) -> list[BirthdayGreeting]:
    return list(BirthdayGreeting.objects.filter(shop=shop).select_related("customer", "coupon")
                .order_by("-created_at", "-id")[:limit])
