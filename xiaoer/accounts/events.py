"""Domain events of accounts (fields: docs/events.md). Accounts imports no other app: the chat
listens to these to push seat changes to open workbenches and to cut off revoked people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from xiaoer.events import Event


@dataclass(frozen=True, kw_only=True)
class SeatHandedOver(Event):
    """Who may act through a seat changed: handed to another person or to nobody, switched off or
    on, or deleted. ``from_staff_id`` lost it (None: nobody had it), ``to_staff_id`` has it now
    (None: nobody). ``by_staff_id`` is the supervisor who did it (None: Django admin, a command)."""

    name: ClassVar[str] = "accounts.SeatHandedOver"
    seat_id: int
    from_staff_id: int | None
    to_staff_id: int | None
    by_staff_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class StaffAccessChanged(Event):
    """A person's access changed: deactivated (their Staff or their login), deleted, or given
    another role. ``can_chat`` False: they may no longer use the chat at all."""

    name: ClassVar[str] = "accounts.StaffAccessChanged"
    staff_id: int
    can_chat: bool
    role: str  # the new role ("" when the person was deleted)
    supervisor: bool = False
