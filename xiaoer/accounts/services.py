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
from django.utils.translation import gettext as _

from xiaoer.accounts.events import SeatHandedOver
from xiaoer.accounts.models import Role, Seat, SeatAssignment, Shop, Staff
from xiaoer.events import emit

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


def staff_of(request, roles: Iterable[str] | None = None) -> Staff:
    """The staff person acting through REQUEST (views, API operations): PermissionDenied when the
    login belongs to no shop, or, given ROLES, has none of them."""
    staff = staff_for_user(request.user)
    if staff is None:
        raise PermissionDenied(_("这个账号不属于任何店铺"))
    return staff if roles is None else require_role(staff, roles)


def sees_contact_details(staff: Staff) -> bool:
    """Whether STAFF's role may see buyers' receiver names and addresses (ORDER_CONTACT_ROLES;
    the warehouse and after-sales do their tasks without them)."""
    return staff.role in settings.ORDER_CONTACT_ROLES


def sees_whole_phone(staff: Staff) -> bool:
    """Whether STAFF's role sees phone numbers whole (PHONE_VISIBLE_ROLES); others see them masked."""
    return staff.role in settings.PHONE_VISIBLE_ROLES


def mask_phone(phone: str) -> str:
    """138****0000: the first three and the last four digits, enough to tell two numbers apart."""
    phone = (phone or "").strip()
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def phone_for(staff: Staff, phone: str) -> str:
    return phone if sees_whole_phone(staff) else mask_phone(phone)


def require_role(staff: Staff | None, roles: Iterable[str]) -> Staff:
    """Raise PermissionDenied unless STAFF has one of ROLES."""
    if staff is None or staff.role not in set(roles):
        raise PermissionDenied("你的角色不能执行这个操作")
    return staff


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


def do_assign_seat(seat: Seat, staff: Staff | None, *, by: Staff | None = None) -> Seat:
    """Hand SEAT to STAFF (or to nobody). Conversations, customers and notes stay with the seat;
    the assignment history records who operated it when. Emits SeatHandedOver: open workbenches
    of both people learn of it (the chat listens). Callers check the role (do_hand_over_seat)."""
    if staff is not None and staff.shop_id != seat.shop_id:
        raise Http404("staff not found")
    if staff is not None and staff.role not in CHAT_ROLES:
        raise ValidationError("只有客服、主管或店主可以接管客服账号")
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        seat = Seat.objects.select_for_update().get(pk=seat.pk)
        before = seat.operator_id
        if before == (staff.pk if staff else None):
            return seat
        SeatAssignment.objects.filter(seat=seat, ended_at__isnull=True).update(ended_at=now)
        if staff is not None:
            SeatAssignment.objects.create(seat=seat, staff=staff, started_at=now, assigned_by=by)
        seat.operator = staff
        if staff is None:
            seat.is_online = False
        # update(), not save(): the Seat signal (accounts.signals) is for saves made elsewhere
        # (Django admin) and would emit the event a second time.
        Seat.objects.filter(pk=seat.pk).update(operator=staff, is_online=seat.is_online)
        if seat.is_active:
            emit(SeatHandedOver(shop_id=seat.shop_id, seat_id=seat.pk, from_staff_id=before,
                                to_staff_id=staff.pk if staff else None, by_staff_id=by.pk if by else None))
    return seat


def do_hand_over_seat(actor: Staff, seat: Seat, to: Staff | None) -> Seat:
    """A supervisor hands SEAT to another person (or to nobody); conversations, customers and
    notes stay with the seat."""
    require_role(actor, SUPERVISOR_ROLES)
    if seat.shop_id != actor.shop_id or (to is not None and to.shop_id != actor.shop_id):
        raise Http404("not found")
    return do_assign_seat(seat, to, by=actor)


def operator_at(seat: Seat, when) -> Staff | None:
    """Who operated SEAT at time WHEN (for KPI attribution)."""
    row = (SeatAssignment.objects.filter(seat=seat, started_at__lte=when)
           .exclude(ended_at__lt=when).select_related("staff").order_by("-started_at").first())
    return row.staff if row else None


def seats_operated_by(staff: Staff) -> list[Seat]:
    return list(Seat.objects.filter(shop_id=staff.shop_id, operator=staff, is_active=True).order_by("pk"))


def acting_seat(staff: Staff, seat: Seat | None = None) -> Seat | None:
    """The seat STAFF acts through: SEAT (the conversation's) if they operate it, else their first
    own seat. Only active seats: a deactivated seat no longer speaks for anyone."""
    if seat is not None and seat.operator_id == staff.pk and seat.is_active:
        return seat
    return Seat.objects.filter(shop_id=staff.shop_id, operator=staff, is_active=True).order_by("pk").first()


def do_set_seat_online(seat: Seat, online: bool) -> None:
    Seat.objects.filter(pk=seat.pk).update(is_online=online, last_seen_at=timezone.now())
    seat.is_online = online
