"""Event base class, the registry of event types and listeners, ``emit`` and the raw-SQL pair
``outbox_insert`` / ``after_commit`` (docs/events.md, docs/decisions/050-event-outbox-delivery.md)."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, ClassVar

from django.db import connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

_EVENT_TYPES: dict[str, type[Event]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    """A thing that happened. Subclasses are frozen kw-only dataclasses of JSON-able fields."""

    name: ClassVar[str] = ""
    shop_id: int | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            _EVENT_TYPES[cls.name] = cls

    def to_payload(self) -> dict[str, Any]:
        # Shallow: the fields are JSON-able values; dataclasses.asdict deep-copies (3x the cost).
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        """Fields unknown to this version of the class are dropped (an event written by an older
        or newer release); new fields need defaults to read old rows."""
        known = _field_names(cls)
        return cls(**{k: v for k, v in payload.items() if k in known})


@functools.cache
def _field_names(cls: type[Event]) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


def event_class(name: str) -> type[Event]:
    return _EVENT_TYPES[name]


@dataclass(frozen=True)
class Listener:
    name: str
    event_type: type[Event]
    handler: Callable[[Event], None]
    live: bool
    reset: Callable[[datetime | None], None] | None = None


@dataclass
class DurableListener:
    """Every subscription sharing one durable name: one cursor, one outbox order across its types."""

    name: str
    handlers: dict[str, Callable[[Event], None]] = field(default_factory=dict)
    reset: Callable[[datetime | None], None] | None = None

    @property
    def event_names(self) -> list[str]:
        return sorted(self.handlers)


_LISTENERS: list[Listener] = []


def subscribe(event_type: type[Event], handler: Callable[[Event], None], *, name: str = "",
              live: bool = False, reset: Callable[[datetime | None], None] | None = None) -> None:
    """Register HANDLER for EVENT_TYPE.

    Durable (default): run from the outbox by the task queue, at least once, in outbox order; NAME
    keys its progress, so keep it stable. Several event types may share one NAME (one cursor).
    RESET(since) is called in the transaction of ``xiaoer events replay`` before redelivery, to
    clear what the listener built from events at or after SINCE (None: from the beginning).
    Live (``live=True``): called in-process right after the commit, at most once (pushes only)."""
    if not event_type.name:
        raise ValueError(f"{event_type.__qualname__} has no event name")
    listener_name = name or f"{handler.__module__}.{handler.__qualname__}"
    if any(x.name == listener_name and x.event_type is event_type for x in _LISTENERS):
        return
    _LISTENERS.append(Listener(listener_name, event_type, handler, live, reset))


def unsubscribe(name: str) -> None:
    """Drop every subscription under NAME (tests)."""
    _LISTENERS[:] = [x for x in _LISTENERS if x.name != name]


def listeners_for(event_type: type[Event], *, live: bool | None = None) -> list[Listener]:
    return [x for x in _LISTENERS if x.event_type is event_type and (live is None or x.live == live)]


def durable_listeners() -> dict[str, DurableListener]:
    out: dict[str, DurableListener] = {}
    for x in _LISTENERS:
        if x.live:
            continue
        durable = out.setdefault(x.name, DurableListener(x.name))
        durable.handlers[x.event_type.name] = x.handler
        durable.reset = durable.reset or x.reset
    return out


def emit(event: Event) -> int:
    """Write EVENT to the outbox in the current transaction; its listeners run after commit.
    Returns the outbox id."""
    with connection.cursor() as cursor:  # one raw INSERT: a third of an ORM save's cost here
        outbox_id = outbox_insert(cursor, event)
    transaction.on_commit(partial(after_commit, event, outbox_id))
    return outbox_id


def outbox_insert(cursor: Any, event: Event, *, vendor: str | None = None) -> int:
    """Raw-SQL writers: write EVENT to the outbox with ONE statement on CURSOR, inside the
    writer's open transaction; returns the outbox id. Call ``after_commit(event, id)`` once that
    transaction has committed. CURSOR may be a Django cursor, a raw sqlite3 cursor or any cursor
    taking ``%s`` placeholders."""
    _check_registered(event)
    vendor = vendor or connection.vendor
    now = timezone.now()
    if vendor == "sqlite":  # what Django's adapter makes of it (naive UTC text), at a third of the cost
        now = now.replace(tzinfo=None).isoformat(" ")
    else:
        now = connection.ops.adapt_datetimefield_value(now)
    payload = json.dumps(event.to_payload(), ensure_ascii=False, separators=(",", ":"))
    if vendor == "postgresql":  # txid comes from the column default (the writing transaction)
        sql = ("INSERT INTO events_outboxevent (name, shop_id, payload, created_at) "
               "VALUES (%s, %s, %s::jsonb, %s) RETURNING id")
    else:
        sql = ("INSERT INTO events_outboxevent (name, shop_id, payload, created_at, txid) "
               "VALUES (%s, %s, %s, %s, 0) RETURNING id")
    if isinstance(cursor, sqlite3.Cursor):
        sql = sql.replace("%s", "?")
    cursor.execute(sql, (event.name, event.shop_id, payload, now))
    return int(cursor.fetchone()[0])


def after_commit(event: Event, outbox_id: int) -> None:
    """Run once the transaction that wrote EVENT (outbox row OUTBOX_ID) has committed: live
    listeners at once, then the durable ones are handed to the task queue."""
    for listener in listeners_for(type(event), live=True):
        try:
            listener.handler(event)
        except Exception:  # noqa: BLE001 - one listener's bug must not stop the others
            log.exception("live event listener %s failed on %s #%s", listener.name, event.name, outbox_id)
    durable = {x.name for x in listeners_for(type(event), live=False)}
    if durable:
        from xiaoer.events.queue import kick

        kick(durable)


def _check_registered(event: Event) -> None:
    if not event.name or _EVENT_TYPES.get(event.name) is not type(event):
        raise ValueError(f"{type(event).__qualname__} is not a registered event type")
