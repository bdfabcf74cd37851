"""Accounts JSON API (mounted at /api/accounts/): who am I, seats, staff, seat handover."""

from __future__ import annotations

from ninja import Router, Schema

from xiaoer.accounts import services
from xiaoer.accounts.models import Seat, SeatAssignment, Staff

router = Router(tags=["accounts"])


class AssignIn(Schema):
    staff: int | None = None


def _seat_json(seat: Seat) -> dict:
    return {"id": seat.pk, "name": seat.name, "display_name": seat.display_name, "online": seat.is_online,
            "capacity": seat.capacity,
            "operator": {"id": seat.operator_id, "display_name": seat.operator.display_name} if seat.operator else None}


@router.get("/me")
def me(request):
    staff = services.staff_of(request)
    return {"id": staff.pk, "display_name": staff.display_name, "role": staff.role,
            "shop": {"id": staff.shop_id, "slug": staff.shop.slug, "name": staff.shop.name,
                     "timezone": staff.shop.timezone},
            "seats": [_seat_json(s) for s in services.seats_operated_by(staff)]}


@router.get("/seats")
def seats(request):
    staff = services.require_role(services.staff_of(request), services.CHAT_ROLES)
    return [_seat_json(s) for s in Seat.objects.filter(shop_id=staff.shop_id, is_active=True)
            .select_related("operator", "shop").order_by("pk")]


@router.get("/seats/{seat_id}/history")
def seat_history(request, seat_id: int):
    staff = services.require_role(services.staff_of(request), services.SUPERVISOR_ROLES)
    seat = services.access_seat(staff, seat_id)
    return [{"staff": {"id": a.staff_id, "display_name": a.staff.display_name},
             "started_at": a.started_at.isoformat(), "ended_at": a.ended_at.isoformat() if a.ended_at else None,
             "assigned_by": a.assigned_by.display_name if a.assigned_by else None}
            for a in SeatAssignment.objects.filter(seat=seat).select_related("staff", "assigned_by")]


@router.post("/seats/{seat_id}/assign")
def assign_seat(request, seat_id: int, data: AssignIn):
    """Hand a seat to another person (or to nobody); its conversations and customers stay."""
    staff = services.require_role(services.staff_of(request), services.SUPERVISOR_ROLES)
    seat = services.access_seat(staff, seat_id)
    to = services.access_staff(staff, data.staff) if data.staff is not None else None
    return _seat_json(services.do_hand_over_seat(staff, seat, to))


@router.get("/staff")
def staff_list(request):
    staff = services.require_role(services.staff_of(request), services.SUPERVISOR_ROLES)
    return [{"id": s.pk, "display_name": s.display_name, "role": s.role, "active": s.is_active}
            for s in Staff.objects.filter(shop_id=staff.shop_id).order_by("pk")]
