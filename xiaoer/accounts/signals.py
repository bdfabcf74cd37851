"""Access and seat changes made outside the services (Django admin, a shell) become events.

A person deactivated (``Staff.is_active`` or their login's ``User.is_active``), deleted, or given
another role emits StaffAccessChanged; a seat whose operator changes by a plain save, or that is
switched off, on or deleted, emits SeatHandedOver. Both in the save's transaction; the chat listens
(it closes a revoked person's sockets and pushes seat changes to open workbenches). Saves that
change nobody's access emit nothing and cost no query. ``QuerySet.update()`` sends no signals:
code that changes access in bulk emits the events itself (``do_assign_seat`` does).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_init, post_save, pre_save

from xiaoer.accounts.events import SeatHandedOver, StaffAccessChanged
from xiaoer.accounts.models import Seat, Staff
from xiaoer.events import emit


def _access(staff: Staff) -> StaffAccessChanged:
    can_chat = staff.is_active and staff.can_chat
    return StaffAccessChanged(shop_id=staff.shop_id, staff_id=staff.pk, can_chat=can_chat, role=staff.role,
                              supervisor=can_chat and staff.is_supervisor)


def _staff_loaded(sender, instance: Staff, **kwargs) -> None:
    if "role" in instance.__dict__:  # (a deferred field would cost a query per row)
        instance._loaded_role = instance.role  # to see a role change on save without a query


def _staff_saved(sender, instance: Staff, created: bool, raw: bool = False, update_fields=None,
                 **kwargs) -> None:
    role_changed = getattr(instance, "_loaded_role", instance.role) != instance.role
    instance._loaded_role = instance.role
    if raw or created:
        return
    if instance.is_active and instance.can_chat:
        if role_changed:  # e.g. a supervisor made an agent: what they may see and send changes
            emit(_access(instance))
        return
    if update_fields is not None and not {"is_active", "role"} & set(update_fields):
        return  # the access fields were not written by this save
    emit(_access(instance))


def _staff_deleted(sender, instance: Staff, **kwargs) -> None:
    if instance.pk is not None:
        emit(StaffAccessChanged(shop_id=instance.shop_id, staff_id=instance.pk, can_chat=False, role=""))


def _user_saved(sender, instance, created: bool, raw: bool = False, update_fields=None, **kwargs) -> None:
    if raw or created or getattr(instance, "is_active", True):
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    for staff in Staff.objects.filter(user_id=instance.pk):
        emit(StaffAccessChanged(shop_id=staff.shop_id, staff_id=staff.pk, can_chat=False, role=staff.role))


_UNTOUCHED = object()  # this save did not write the seat's operator or switch


def _holder(seat: Seat) -> int | None:
    """Who may act through SEAT: its operator while it is switched on."""
    return seat.operator_id if seat.is_active else None


def _seat_saving(sender, instance: Seat, raw: bool = False, update_fields=None, **kwargs) -> None:
    """Read who held the seat before this save (the instance in hand may be stale: a shell, a test).
    One query, and only for saves that write the operator or the switch."""
    if raw or instance.pk is None or (update_fields is not None and not {"operator", "is_active"} & set(update_fields)):
        instance._holder_before = _UNTOUCHED
        return
    row = Seat.objects.filter(pk=instance.pk).values_list("operator_id", "is_active").first()
    instance._holder_before = (row[0] if row[1] else None) if row else None


def _seat_saved(sender, instance: Seat, created: bool, raw: bool = False, **kwargs) -> None:
    before = None if created else getattr(instance, "_holder_before", _UNTOUCHED)
    now = _holder(instance)
    if raw or before is _UNTOUCHED or before == now:
        return
    emit(SeatHandedOver(shop_id=instance.shop_id, seat_id=instance.pk, from_staff_id=before, to_staff_id=now))


def _seat_deleted(sender, instance: Seat, **kwargs) -> None:
    holder = _holder(instance)
    if holder is not None:
        emit(SeatHandedOver(shop_id=instance.shop_id, seat_id=instance.pk, from_staff_id=holder, to_staff_id=None))


def connect() -> None:
    """Called from AccountsConfig.ready(). (Deleting a User cascades to its Staff: post_delete above.)"""
    post_init.connect(_staff_loaded, sender=Staff, dispatch_uid="accounts-staff-loaded")
    post_save.connect(_staff_saved, sender=Staff, dispatch_uid="accounts-staff-saved")
    post_delete.connect(_staff_deleted, sender=Staff, dispatch_uid="accounts-staff-deleted")
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="accounts-user-saved")
    pre_save.connect(_seat_saving, sender=Seat, dispatch_uid="accounts-seat-saving")
    post_save.connect(_seat_saved, sender=Seat, dispatch_uid="accounts-seat-saved")
    post_delete.connect(_seat_deleted, sender=Seat, dispatch_uid="accounts-seat-deleted")
