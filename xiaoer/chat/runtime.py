"""Start and stop the chat machinery of one process: hub, group-commit writer, Redis bridge.

Called from the ASGI lifespan (xiaoer/asgi.py); the socket handler also calls ``ensure_started``
so a server run without lifespan still works.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections

from xiaoer.chat import hub, writer
from xiaoer.conf import setting

log = logging.getLogger(__name__)

_lock: asyncio.Lock | None = None
_started_callbacks: list[Callable[[], None]] = []


def on_started(callback: Callable[[], None]) -> Callable[[], None]:
    """Run CALLBACK on a background thread once this process's chat runtime is up (other apps'
    warm-up work: it must not hold up the server's start)."""
    if callback not in _started_callbacks:
        _started_callbacks.append(callback)
    return callback


def _run_started_callbacks() -> None:
    for callback in list(_started_callbacks):
        try:
            callback()
        except Exception:  # noqa: BLE001 - warm-up is an optimisation, never fatal
            log.exception("start-up callback %r failed", callback)
        finally:
            close_old_connections()
    gc.freeze()  # what the warm-up built (the robot's indexes) lives as long as the process: see _tune_gc


async def startup() -> None:
    global _lock
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if hub.HUB.running() and writer.WRITER is not None:
            return
        loop = asyncio.get_running_loop()
        hub.HUB.bind(loop)
        w = writer.Writer()
        w.start()
        writer.WRITER = w
        if settings.REDIS_URL:
            from xiaoer.chat import pubsub

            bridge = pubsub.RedisBridge(settings.REDIS_URL, hub.HUB.apply)
            await bridge.start()
            hub.HUB.bridge = bridge
            log.info("chat hub: redis pub/sub on %s", bridge.channel)
        from xiaoer.chat import presence

        presence.TRACKER.start(loop)
        _tune_gc()
        if _started_callbacks:
            threading.Thread(target=_run_started_callbacks, name="chat-warm-up", daemon=True).start()
        log.info("chat runtime started (batch max %s, wait %s ms)", settings.CHAT_BATCH_MAX,
                 settings.CHAT_BATCH_WAIT_MS)


def _tune_gc() -> None:
    # Django, the robot's models and their libraries leave a few hundred thousand long-lived
    # objects; every full collection would walk them all and stall every socket (p99 spikes).
    # Freezing them moves them out of the collector's sight; later garbage is collected as usual.
    gc.collect()
    gc.freeze()
    # The writer thread gives up the GIL around every SQLite call and must get it back from a
    # busy event loop: a shorter switch interval bounds each wait (default 5 ms).
    sys.setswitchinterval(float(setting("CHAT_SWITCH_INTERVAL", 0.001)))


async def ensure_started() -> None:
    if not hub.HUB.running() or writer.WRITER is None:
        await startup()


async def shutdown() -> None:
    w, writer.WRITER = writer.WRITER, None
    if w is not None:
        await w.stop()
    bridge, hub.HUB.bridge = hub.HUB.bridge, None
    if bridge is not None:
        await bridge.stop()
    from xiaoer.chat import presence

    await presence.TRACKER.stop()
    await hub.HUB.unbind()
    from xiaoer.chat import socket

    loop = asyncio.get_running_loop()
    # Both block on their worker threads: run them off the loop.
    await loop.run_in_executor(None, socket.shutdown_pool)
    await loop.run_in_executor(None, writer.EVENTS.shutdown)
