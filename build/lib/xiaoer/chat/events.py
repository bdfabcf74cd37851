"""Domain events of the chat: other apps react to committed messages here, off the hot path.

Callbacks registered with ``on_messages_committed`` receive the list of message dicts of one
committed batch (the ``message`` frame's shape plus ``shop``, ``staff``, ``conversation_status``
and ``conversation_seat``). They run on a small thread pool, never on the event loop, so a slow
callback (the robot, routing) never delays an ack. A callback that raises is logged and skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

from xiaoer.conf import setting

log = logging.getLogger(__name__)

MessagesCallback = Callable[[list[dict]], None]

_callbacks: list[MessagesCallback] = []
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pending: set = set()
WORKERS = 2


def on_messages_committed(callback: MessagesCallback) -> MessagesCallback:
    """Register CALLBACK (usable as a decorator). Registering the same function twice is a no-op."""
    with _lock:
        if callback not in _callbacks:
            _callbacks.append(callback)
    return callback


def remove_callback(callback: MessagesCallback) -> None:
    with _lock:
        if callback in _callbacks:
            _callbacks.remove(callback)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="chat-events")
        return _pool


def enabled() -> bool:
    """CHAT_EVENTS=off turns the callbacks off (bench/chat_bench.py measures the bare chat path)."""
    return str(setting("CHAT_EVENTS", "on")).lower() not in {"off", "0", "false", "no"}


def wanted() -> bool:
    """Is anyone listening? (Saves building the event dicts when not.)"""
    return _ENABLED and bool(_callbacks)


def emit_committed(messages: list[dict]):
    """Hand MESSAGES to every callback on the pool; returns the Future (tests may wait on it)."""
    if not messages or not _callbacks or not _ENABLED:
        return None
    future = _executor().submit(_run_callbacks, list(messages))
    with _lock:
        _pending.add(future)
    future.add_done_callback(_forget)
    return future


def _forget(future) -> None:
    with _lock:
        _pending.discard(future)


def _run_callbacks(messages: list[dict]) -> None:
    close_old_connections()
    try:
        for callback in list(_callbacks):
            try:
                callback(messages)
            except Exception:  # noqa: BLE001 - one app's bug must not stop the others
                log.exception("chat message callback %r failed", callback)
    finally:
        close_old_connections()


def shutdown() -> None:
    """Close the pool threads' database connections (server shutdown)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        from xiaoer.chat.socket import close_thread_connections

        wait_idle(timeout=30)
        close_thread_connections(pool, WORKERS)
        pool.shutdown(wait=False)


def wait_idle(timeout: float = 5.0) -> None:
    """Block until callbacks queued so far have run (tests)."""
    with _lock:
        pending = list(_pending)
    for future in pending:
        future.result(timeout=timeout)


_ENABLED = enabled()
