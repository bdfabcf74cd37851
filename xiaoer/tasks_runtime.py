"""Runs the Huey consumer inside the serve process on the embedded default (no separate worker)."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def embedded_consumer():
    """The consumer `xiaoer serve` runs in-process, with every app's tasks registered."""
    from django.utils.module_loading import autodiscover_modules
    from huey.contrib.djhuey import HUEY

    # As `manage.py run_huey` does: nothing else imports the apps' tasks modules, and a periodic
    # task (the order and notice sweeps) that is never imported never runs.
    autodiscover_modules("tasks")
    consumer = HUEY.create_consumer(workers=1, worker_type="thread", periodic=True, check_worker_health=False,
                                    **polling_options())
    # Signal handlers can only be installed by the main thread; uvicorn owns those.
    consumer._set_signal_handlers = lambda: None
    return consumer


def polling_options() -> dict:
    """The queue polling delays of settings.HUEY["consumer"] (how soon an idle worker sees a task)."""
    from django.conf import settings

    options = settings.HUEY.get("consumer", {})
    return {k: options[k] for k in ("initial_delay", "backoff", "max_delay") if k in options}


def start_embedded_consumer() -> threading.Thread | None:
    consumer = embedded_consumer()
    thread = threading.Thread(target=consumer.run, name="huey-embedded", daemon=True)
    thread.start()
    log.info("embedded task consumer started")
    return thread
