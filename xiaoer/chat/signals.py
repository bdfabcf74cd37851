"""Cut off a staff person's open chat sockets when they lose access.

Sockets check credentials only at connect (xiaoer.chat.socket). When a person is deactivated
(``Staff.is_active`` or the login's ``User.is_active``), moved to a role that may not chat, or
their Staff row is deleted — Django admin included — every socket of theirs, in every process, is
closed with 4003 after the commit (``hub.staff_access_revoked``). Saves that take nobody's access
away cost nothing: no query, no publish. ``QuerySet.update()`` sends no signals: code that
deactivates people in bulk must call ``hub.staff_access_revoked`` itself.

Likewise a seat handed over or switched off, or a role change between agent and supervisor, makes
the shop's staff sockets reload their seats (``hub.seats_changed``): sends are checked against them.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_init, post_save

from xiaoer.accounts.models import Seat, Staff

log = logging.getLogger(__name__)


def _revoke_after_commit(staff_ids=None, *, user_id: int | None = None) -> None:
    def send() -> None:
        try:
            from xiaoer.chat import hub

            ids = staff_ids
            if ids is None:  # a login was deactivated: whose Staff is it? (only then a query)
                ids = list(Staff.objects.filter(user_id=user_id).values_list("pk", flat=True))
            if ids:
                hub.staff_access_revoked(ids)
        except Exception:  # noqa: BLE001 - the change is committed; do not fail the admin's request
            log.exception("revoking chat access failed (staff %s, user %s)", staff_ids, user_id)

    transaction.on_commit(send)


def _reload_seats_after_commit(shop_id: int) -> None:
    def send() -> None:
        from xiaoer.chat import hub

        hub.seats_changed(shop_id)

    transaction.on_commit(send)


def _staff_loaded(sender, instance: Staff, **kwargs) -> None:
    instance._chat_role = instance.role  # to see a role change on save without a query


def _staff_saved(sender, instance: Staff, created: bool, raw: bool = False, update_fields=None,
                 **kwargs) -> None:
    role_changed = getattr(instance, "_chat_role", instance.role) != instance.role
    instance._chat_role = instance.role
    if raw or created:
        return
    if instance.is_active and instance.can_chat:
        if role_changed:  # e.g. a supervisor made an agent: sockets reload seats and supervisor flag
            _reload_seats_after_commit(instance.shop_id)
        return
    if update_fields is not None and not {"is_active", "role"} & set(update_fields):
        return  # the access fields were not written by this save
    _revoke_after_commit([instance.pk])


def _staff_deleted(sender, instance: Staff, **kwargs) -> None:
    if instance.pk is not None:
        _revoke_after_commit([instance.pk])


def _user_saved(sender, instance, created: bool, raw: bool = False, update_fields=None, **kwargs) -> None:
    if raw or created or getattr(instance, "is_active", True):
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    _revoke_after_commit(user_id=instance.pk)


def _seat_changed(sender, instance: Seat, raw: bool = False, update_fields=None, **kwargs) -> None:
    """A seat handed to someone else or switched off (Django admin included): the shop's staff
    sockets reload which seats they may send for (sends are checked against that list)."""
    if raw or (update_fields is not None and not {"operator", "is_active", "shop"} & set(update_fields)):
        return
    _reload_seats_after_commit(instance.shop_id)


def connect() -> None:
    """Called from ChatConfig.ready(). (Deleting a User cascades to its Staff: post_delete above.)"""
    post_init.connect(_staff_loaded, sender=Staff, dispatch_uid="chat-revoke-staff-loaded")
    post_save.connect(_staff_saved, sender=Staff, dispatch_uid="chat-revoke-staff-saved")
    post_save.connect(_seat_changed, sender=Seat, dispatch_uid="chat-seat-saved")
    post_delete.connect(_seat_changed, sender=Seat, dispatch_uid="chat-seat-deleted")
    post_delete.connect(_staff_deleted, sender=Staff, dispatch_uid="chat-revoke-staff-deleted")
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="chat-revoke-user-saved")
