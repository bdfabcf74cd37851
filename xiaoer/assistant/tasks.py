"""Background work of the robot: its per-message work in scaled-out deployments, and warming a
shop's index after its knowledge changed.

The index is also rebuilt lazily on the next suggestion, so the task is an optimisation: it moves
the rebuild (seconds for a large knowledge base) off the first shopper message after a change.
In scaled-out mode the warmed index lives in the worker process; app processes still rebuild
lazily, once per change.
"""

from __future__ import annotations

import logging

from django.conf import settings
from huey.contrib.djhuey import HUEY, db_task

log = logging.getLogger(__name__)


@db_task()
def handle_messages(messages: list[dict]) -> None:
    """The robot's work for committed chat messages, in a task worker (ASSISTANT_RUN_IN=worker):
    the chat servers then spend nothing on it. Suggestions reach the desk through Redis."""
    from xiaoer.assistant import services

    services.process_messages(messages)


@HUEY.on_startup()
def warm_in_worker() -> None:
    from xiaoer.assistant import services

    if services.runs_in_workers():
        services.warm_indexes()


@db_task()
def rebuild_index(shop_id: int) -> float:
    from xiaoer.assistant import services

    return services.get_index(shop_id).build_seconds


def schedule_rebuild(shop_id: int) -> None:
    if settings.HUEY.get("immediate"):
        return  # immediate mode (tests, one-off commands): rebuild lazily instead of inline
    try:
        rebuild_index(shop_id)
    except Exception:  # a queue hiccup only delays the rebuild to first use
        log.exception("could not queue robot index rebuild for shop %s", shop_id)
