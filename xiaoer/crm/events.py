"""What happens to a shop's customers in crm (docs/events.md "### crm")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from xiaoer.events import Event


@dataclass(frozen=True, kw_only=True)
class CustomersMerged(Event):
    """MERGED_ID was merged into KEPT_ID: its conversations, orders, notes, tags, contacts and
    attribute values now belong to KEPT_ID; the merged row stays with merged_into = KEPT_ID.
    Projections keyed by customer (value, RFM) recompute KEPT_ID and drop MERGED_ID."""

    name: ClassVar[str] = "crm.CustomersMerged"
    kept_id: int
    merged_id: int
    staff_id: int | None


@dataclass(frozen=True, kw_only=True)
class CustomerAnonymised(Event):
    """CUSTOMER_ID's personal data was cleared on request (PIPL); orders and KPIs kept."""

    name: ClassVar[str] = "crm.CustomerAnonymised"
    customer_id: int
    staff_id: int | None
