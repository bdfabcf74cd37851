"""What happens in the knowledge base (docs/events.md "### knowledge")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from xiaoer.events import Event


@dataclass(frozen=True, kw_only=True)
class KnowledgeChanged(Event):
    """A shop's answers, products, SKUs or their import changed; VERSION is the new
    ``KnowledgeState.version`` (the robot rebuilds its index once per event)."""

    name: ClassVar[str] = "knowledge.KnowledgeChanged"
    version: int


@dataclass(frozen=True, kw_only=True)
class NoticePublished(Event):
    """A broadcast to every agent of the shop (new product on sale, a must-read)."""

    name: ClassVar[str] = "knowledge.NoticePublished"
    notice_id: int
    title: str
    body: str
    product_id: int | None
    answer_id: int | None
    created_at: str
