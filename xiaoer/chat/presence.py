"""Who is at a workbench: presence is event-driven, never a sweep over sockets.

A staff person's first socket in this process writes a ``Presence`` row (off the event loop); a
grace period (``CHAT_PRESENCE_GRACE_SECONDS``) after their last socket here closes, one timer per
leaving person removes it, unless they reconnected meanwhile. Routing
(``services._available_seats``) only uses seats whose operator has a fresh row and that the
operator left available (``Seat.is_online``; 挂起 turns it off). Every
``PRESENCE_REFRESH_SECONDS`` each process refreshes its own rows in one statement, so the rows of
a crashed process expire after ``PRESENCE_STALE_SECONDS``. docs/decisions/080-presence-and-routing.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets
import socket as _socket

from django.conf import settings
from django.db import transaction
from django.utils import timezone

log = logging.getLogger(__name__)

NODE = f"{_socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
PRESENCE_REFRESH_SECONDS = 60.0
PRESENCE_STALE_SECONDS = 180.0


def fresh_since() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=PRESENCE_STALE_SECONDS)


def present_staff_ids():
    """A queryset of the ids of staff with a workbench open (for routing filters)."""
    from xiaoer.chat.models import Presence

    return Presence.objects.filter(seen_at__gte=fresh_since()).values("staff_id")


def is_present(staff_id: int) -> bool:
    from xiaoer.chat.models import Presence

    return Presence.objects.filter(staff_id=staff_id, seen_at__gte=fresh_since()).exists()


def mark_present(staff_id: int, node: str = NODE) -> None:
    """STAFF_ID has a workbench open on NODE: their available seats take shoppers (drains the queue)."""
    from xiaoer.accounts.models import Staff
    from xiaoer.chat import services
    from xiaoer.chat.models import Presence

    with transaction.atomic():
        was_present = is_present(staff_id)
        Presence.objects.update_or_create(staff_id=staff_id, node=node, defaults={"seen_at": timezone.now()})
        if not was_present:
            staff = Staff.objects.filter(pk=staff_id).first()
            if staff is not None:
                services.presence_changed(staff, present=True)


def mark_absent(staff_id: int, node: str = NODE) -> None:
    """STAFF_ID closed their last workbench on NODE (and the grace period passed)."""
    from xiaoer.accounts.models import Staff
    from xiaoer.chat import services
    from xiaoer.chat.models import Presence

    with transaction.atomic():
        Presence.objects.filter(staff_id=staff_id, node=node).delete()
        if not is_present(staff_id):
            staff = Staff.objects.filter(pk=staff_id).first()
            if staff is not None:
                services.presence_changed(staff, present=False)


def refresh(node: str = NODE) -> None:
    from xiaoer.chat.models import Presence

    Presence.objects.filter(node=node).update(seen_at=timezone.now())


def forget_node(node: str = NODE) -> None:
    """This process stops: its sockets are gone (shutdown)."""
    from xiaoer.chat.models import Presence

    Presence.objects.filter(node=node).delete()


class Tracker:
    """Loop-side bookkeeping: one leave timer per person whose last local socket closed."""

    def __init__(self) -> None:
        self.leaving: dict[int, asyncio.TimerHandle] = {}
        self.refresher: asyncio.Task | None = None

    def arrived(self, staff_id: int, first_here: bool) -> None:
        timer = self.leaving.pop(staff_id, None)
        if timer is not None:
            timer.cancel()  # back within the grace period: still present, nothing to write
            return
        if first_here:
            _spawn(mark_present, staff_id)

    def left(self, staff_id: int, still_here: bool) -> None:
        if still_here or staff_id in self.leaving:
            return
        loop = asyncio.get_running_loop()
        grace = float(settings.CHAT_PRESENCE_GRACE_SECONDS)
        self.leaving[staff_id] = loop.call_later(grace, self._expire, staff_id)

    def _expire(self, staff_id: int) -> None:
        from xiaoer.chat.hub import HUB

        self.leaving.pop(staff_id, None)
        if HUB.by_staff.get(staff_id):
            return
        _spawn(mark_absent, staff_id)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.refresher = loop.create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_REFRESH_SECONDS)
            await _run(refresh)

    async def stop(self) -> None:
        if self.refresher is not None:
            self.refresher.cancel()
        for timer in self.leaving.values():
            timer.cancel()
        self.leaving.clear()
        try:
            await _run(forget_node)
        except Exception:  # noqa: BLE001 - rows expire anyway
            log.exception("presence: could not remove this process's rows")


async def _run(fn, *args):
    from xiaoer.chat import socket

    return await socket._db(fn, *args)


def _spawn(fn, *args) -> None:
    async def run() -> None:
        try:
            await _run(fn, *args)
        except Exception:  # noqa: BLE001 - presence is best effort; the row expires
            log.exception("presence: %s failed", fn.__name__)

    asyncio.get_running_loop().create_task(run())


TRACKER = Tracker()
