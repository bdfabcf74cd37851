"""Driving durable listeners deterministically in tests.

    emit(...)                       # inside the test's transaction (or committed)
    deliver_all()                   # every durable listener handles what is pending, here and now

``deliver_all`` assumes no concurrent writers (it does not wait for older open transactions on
PostgreSQL). Under Huey's immediate mode, committed events are delivered inline after commit
anyway; ``deliver_all`` is still the way inside a test's rolled-back transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator

from xiaoer.events import delivery
from xiaoer.events.base import Event, durable_listeners, subscribe, unsubscribe


def deliver_all(*, retry_now: bool = False, now: dt.datetime | None = None) -> dict[str, int]:
    """Run every durable listener until caught up or failing; returns events handled per
    listener. RETRY_NOW ignores the back-off of failing listeners (a retry, now)."""
    handled: dict[str, int] = {}
    for name in sorted(durable_listeners()):
        handled[name] = delivery.deliver(name, budget_seconds=float("inf"), bounded=False, now=now,
                                         ignore_backoff=retry_now)
    return handled


@contextlib.contextmanager
def subscribed(event_type: type[Event], handler: Callable[[Event], None], *, name: str, live: bool = False,
               reset: Callable[[dt.datetime | None], None] | None = None) -> Iterator[None]:
    """A listener registered for the duration of a test."""
    subscribe(event_type, handler, name=name, live=live, reset=reset)
    try:
        yield
    finally:
        unsubscribe(name)
