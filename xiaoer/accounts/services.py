"""Shops, seats and staff: the named operations every other app calls.

``check_*`` validates input, ``do_*`` writes, ``access_*`` fetches for a caller or raises
Http404 (never revealing another shop's objects).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from xiaoer.accounts.models import Role, Seat, SeatAssignment, Shop, Staff

CHAT_ROLES = {Role.OWNER, Role.SUPERVISOR, Role.AGENT}
SUPERVISOR_ROLES = {Role.OWNER, Role.SUPERVISOR}


def staff_for_user(user) -> Staff | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        staff = user.staff
    except Staff.DoesNotExist:
        return None
    return staff if staff.is_active else None


def require_role(staff: Staff | None, roles: Iterable[str]) -> Staff:
    """Raise PermissionDenied unless STAFF has one of ROLES."""
    if staff is None or staff.role not in set(roles):
        raise PermissionDenied("你的角色不能执行这个操作")
    return staff


def sees_full_phone(staff: Staff | None) -> bool:
    """Roles in PHONE_FULL_ROLES (default owner, supervisor) see buyers' phone numbers whole."""
    return staff is not None and staff.role in settings.PHONE_FULL_ROLES


def mask_phone(phone: str) -> str:
    """138****0000: enough to recognise a number and talk about it, not enough to call it."""
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    if len(digits) < 7:
        return "*" * len(phone)
    hide = set(digits[3:-4])
    return "".join("*" if i in hide else ch for i, ch in enumerate(phone))


def phone_for(staff: Staff | None, phone: str | None) -> str:
    """A buyer's phone as STAFF may see it on a page."""
    if not phone:
        return ""
    return phone if sees_full_phone(staff) else mask_phone(phone)


def access_seat(staff: Staff, seat_id: int) -> Seat:
    try:
        return Seat.objects.select_related("shop", "operator").get(pk=seat_id, shop_id=staff.shop_id)
    except (Seat.DoesNotExist, ValueError, TypeError):
        raise Http404("seat not found") from None


def access_staff(staff: Staff, staff_id: int) -> Staff:
    try:
        return Staff.objects.get(pk=staff_id, shop_id=staff.shop_id)
    except (Staff.DoesNotExist, ValueError, TypeError):
        raise Http404("staff not found") from None


def check_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not slug or len(slug) > 50 or not all(c.isalnum() or c in "-_" for c in slug) or not slug.isascii():
        raise ValidationError("店铺标识只能用字母、数字、- 和 _，最长 50 个字符")
    if Shop.objects.filter(slug=slug).exists():
        raise ValidationError(f"店铺标识 {slug} 已被使用")
    return slug


@transaction.atomic
def do_create_shop(*, slug: str, name: str, owner_username: str, owner_password: str,
                   owner_display_name: str = "店主", timezone_name: str = "Asia/Shanghai") -> Shop:
    shop = Shop.objects.create(slug=check_slug(slug), name=name.strip()[:100] or slug, timezone=timezone_name)
    do_create_staff(shop=shop, username=owner_username, password=owner_password,
                    role=Role.OWNER, display_name=owner_display_name)
    return shop


def do_create_staff(*, shop: Shop, username: str, password: str, role: str, display_name: str) -> Staff:
    if role not in Role.values:
        raise ValidationError(f"未知角色: {role}")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValidationError(f"用户名 {username} 已存在")
    user = User.objects.create_user(username=username, password=password)
    return Staff.objects.create(user=user, shop=shop, role=role, display_name=display_name[:50])


def do_create_seat(*, shop: Shop, name: str, display_name: str, max_concurrent: int | None = None) -> Seat:
    if Seat.objects.filter(shop=shop, name=name).exists():
        raise ValidationError(f"客服账号 {name} 已存在")
    return Seat.objects.create(shop=shop, name=name[:50], display_name=display_name[:50],
                               max_concurrent=max_concurrent)


@transaction.atomic
def do_assign_seat(seat: Seat, staff: Staff | None, *, by: Staff | None = None) -> Seat:
    """Hand SEAT to STAFF (or to nobody). Conversations, customers and notes stay with the seat;
    the assignment history records who operated it when."""
    if staff is not None and staff.shop_id != seat.shop_id:
        raise Http404("staff not found")
    if staff is not None and staff.role not in CHAT_ROLES:
        raise ValidationError("只有客服、主管或店主可以接管客服账号")
    now = timezone.now()
    seat = Seat.objects.select_for_update().get(pk=seat.pk)
    if seat.operator_id == (staff.pk if staff else None):
        return seat
    SeatAssignment.objects.filter(seat=seat, ended_at__isnull=True).update(ended_at=now)
    if staff is not None:
        SeatAssignment.objects.create(seat=seat, staff=staff, started_at=now, assigned_by=by)
    seat.operator = staff
    if staff is None:
        seat.is_online = False
    seat.save(update_fields=["operator", "is_online"])
    return seat


def operator_at(seat: Seat, when) -> Staff | None:
    """Who operated SEAT at time WHEN (for KPI attribution)."""
    row = (SeatAssignment.objects.filter(seat=seat, started_at__lte=when)
           .exclude(ended_at__lt=when).select_related("staff").order_by("-started_at").first())
    return row.staff if row else None


def seats_operated_by(staff: Staff) -> list[Seat]:
    return list(Seat.objects.filter(shop_id=staff.shop_id, operator=staff, is_active=True))


def do_set_seat_online(seat: Seat, online: bool) -> None:
    Seat.objects.filter(pk=seat.pk).update(is_online=online, last_seen_at=timezone.now())
    seat.is_online = online
