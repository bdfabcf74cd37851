"""Event base class, registry of event types and listeners, and ``emit``.

SKELETON (replaced by the durable delivery of issue 9): durable listeners currently run
in-process after commit like live ones.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import transaction

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
        return dataclasses.asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in known})


def event_class(name: str) -> type[Event]:
    return _EVENT_TYPES[name]


@dataclass(frozen=True)
class Listener:
    name: str
    event_type: type[Event]
    handler: Callable[[Event], None]
    live: bool


_LISTENERS: list[Listener] = []


def subscribe(event_type: type[Event], handler: Callable[[Event], None], *, name: str = "",
              live: bool = False) -> None:
    """Register HANDLER for EVENT_TYPE. Durable listeners need a stable NAME (it keys their progress)."""
    listener_name = name or f"{handler.__module__}.{handler.__qualname__}"
    if any(x.name == listener_name and x.event_type is event_type for x in _LISTENERS):
        return
    _LISTENERS.append(Listener(listener_name, event_type, handler, live))


def listeners_for(event_type: type[Event], *, live: bool | None = None) -> list[Listener]:
    return [x for x in _LISTENERS if x.event_type is event_type and (live is None or x.live == live)]


def emit(event: Event) -> None:
    """Write EVENT to the outbox in the current transaction; its listeners run after commit."""
    from xiaoer.events.models import OutboxEvent

    OutboxEvent.objects.create(name=event.name, shop_id=event.shop_id, payload=event.to_payload())
    transaction.on_commit(lambda: _run_listeners(event))


def _run_listeners(event: Event) -> None:
    for listener in listeners_for(type(event)):
        try:
            listener.handler(event)
        except Exception:  # noqa: BLE001 - one listener's bug must not stop the others
            log.exception("event listener %s failed on %s", listener.name, event.name)
