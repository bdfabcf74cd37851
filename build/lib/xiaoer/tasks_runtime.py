"""Runs the Huey consumer inside the serve process on the embedded default (no separate worker)."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def start_embedded_consumer() -> threading.Thread | None:
    from huey.contrib.djhuey import HUEY

    def run() -> None:
        consumer = HUEY.create_consumer(workers=1, worker_type="thread", periodic=True, check_worker_health=False)
        # Signal handlers can only be installed by the main thread; uvicorn owns those.
        consumer._set_signal_handlers = lambda: None
        consumer.run()

    thread = threading.Thread(target=run, name="huey-embedded", daemon=True)
    thread.start()
    log.info("embedded task consumer started")
    return thread
