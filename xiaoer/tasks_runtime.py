"""Runs the Huey consumer inside the serve process on the embedded default (no separate worker)."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def start_embedded_consumer() -> threading.Thread | None:
    from django.utils.module_loading import autodiscover_modules
    from huey.contrib.djhuey import HUEY

    # Register every app's tasks before the consumer reads its first task, as `run_huey` does:
    # otherwise a task queued before start (a previous run's, a web import) names a function not
    # yet in the registry and is dropped.
    autodiscover_modules("tasks")

    def run() -> None:
        consumer = HUEY.create_consumer(workers=1, worker_type="thread", periodic=True, check_worker_health=False)
        # Signal handlers can only be installed by the main thread; uvicorn owns those.
        consumer._set_signal_handlers = lambda: None
        consumer.run()

    thread = threading.Thread(target=run, name="huey-embedded", daemon=True)
    thread.start()
    log.info("embedded task consumer started")
    return thread
