"""Handing durable listeners to the task queue after a commit.

One ``deliver`` task per listener is enough however many events wait: the task handles all of
them. A marker in the queue's storage (SQLite file or Redis, so shared by every process) says
"a task for this listener is queued and has not started"; while it is set, commits enqueue
nothing. The task clears it before reading the outbox, so an event committed after that read
finds the marker gone and queues a new task. A marker left by a crash (set, task never queued)
only delays the listener until the periodic catch-up, which enqueues regardless.

Enqueueing happens on a small background thread, so a commit (the chat writer's, on its hot
path) never waits for the queue; in Huey's immediate mode (tests) it happens inline.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.005


def marker_key(name: str) -> str:
    return f"xiaoer.events.queued.{name}"


def clear_marker(name: str) -> None:
    from huey.contrib.djhuey import HUEY

    HUEY.storage.delete_data(marker_key(name))


def enqueue(name: str, *, force: bool = False) -> bool:
    """Queue a delivery task for NAME unless one is queued and not started (FORCE: anyway)."""
    from huey.contrib.djhuey import HUEY

    from xiaoer.events.tasks import deliver_task

    if not HUEY.storage.put_if_empty(marker_key(name), b"1") and not force:
        return False
    deliver_task(name)
    return True


class _Kicker:
    def __init__(self) -> None:
        self._names: set[str] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._busy = False

    def kick(self, names: Iterable[str]) -> None:
        with self._cond:
            was_empty = not self._names
            self._names.update(names)
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="events-kicker", daemon=True)
                self._thread.start()
            if was_empty:  # else the thread is already due to look
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._names:
                    self._cond.wait()
            time.sleep(GATHER_SECONDS)  # let a burst of commits share one enqueue per listener
            with self._cond:
                names, self._names = self._names, set()
                self._busy = True
            try:
                _enqueue_all(names)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Queue what is pending now, in this thread, and wait for the thread's current batch
        (process exit: a short command that emitted must not leave its listeners to the
        periodic catch-up). True when nothing is left."""
        with self._cond:
            names, self._names = self._names, set()
        _enqueue_all(names)
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._busy or self._names) and time.monotonic() < deadline:
                self._cond.wait(0.05)
            return not self._busy and not self._names


def _enqueue_all(names: Iterable[str]) -> None:
    for name in sorted(names):
        try:
            enqueue(name)
        except Exception:  # noqa: BLE001 - the periodic catch-up delivers it later
            log.exception("could not queue delivery for event listener %s", name)


_KICKER = _Kicker()
atexit.register(_KICKER.flush)


def flush(timeout: float = 5.0) -> bool:
    return _KICKER.flush(timeout)


def kick(names: Iterable[str]) -> None:
    """After a commit: make sure a delivery task is on its way for each listener in NAMES."""
    from huey.contrib.djhuey import HUEY

    if HUEY.immediate:
        _enqueue_all(set(names))
        return
    _KICKER.kick(names)
