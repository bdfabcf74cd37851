"""A probe event and three durable probe listeners, for the event tests and bench/events_bench.py.

Each listener records (listener, n) in its own table row, in the delivery transaction: a
redelivery after a crash would show up as a second row. Also a small command line for the
subprocess tests (real processes, real Huey consumers):

    python -m xiaoer.events.tests.probe init                 create the probe table
    python -m xiaoer.events.tests.probe emit-and-hang N      commit event N, then hang before its
                                                             listeners are queued (to be killed)
    python -m xiaoer.events.tests.probe emit FIRST COUNT [--slow-every K]
    python -m xiaoer.events.tests.probe deliver              run pending deliveries, then exit
    python -m xiaoer.events.tests.probe worker [--threads N] a Huey consumer (until signalled)

PROBE_DIE_IN=<listener> makes that listener SIGKILL its own process after writing its row,
before the delivery transaction commits.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import ClassVar

from xiaoer.events import Event

TABLE = "events_probe_handled"
LISTENERS = ("probe.a", "probe.b", "probe.c")


@dataclass(frozen=True, kw_only=True)
class ProbeHappened(Event):
    name: ClassVar[str] = "probe.Happened"
    n: int
    source: str = ""
    at: float = 0.0  # wall time taken just before the emitting commit (bench lag)


def create_table() -> None:
    from django.db import connection

    serial = "BIGSERIAL PRIMARY KEY" if connection.vendor == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    with connection.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (seq {serial}, listener VARCHAR(40) NOT NULL, "
                    "n BIGINT NOT NULL, source VARCHAR(40) NOT NULL, lag DOUBLE PRECISION NOT NULL, pid INTEGER NOT NULL)")


def record(listener: str, event: ProbeHappened) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"INSERT INTO {TABLE} (listener, n, source, lag, pid) VALUES (%s, %s, %s, %s, %s)",
                    [listener, event.n, event.source, time.time() - event.at if event.at else 0.0, os.getpid()])
    if os.environ.get("PROBE_DIE_IN") == listener:
        os.kill(os.getpid(), signal.SIGKILL)


def handler_for(listener: str):
    def handle(event: ProbeHappened) -> None:
        record(listener, event)

    handle.__qualname__ = f"probe_{listener.replace('.', '_')}"
    return handle


def install(names: tuple[str, ...] = LISTENERS) -> None:
    from xiaoer.events import subscribe

    for name in names:
        subscribe(ProbeHappened, handler_for(name), name=name)


def handled(listener: str | None = None) -> list[tuple[str, int, str]]:
    """(listener, n, source) in handling order."""
    from django.db import connection

    with connection.cursor() as cur:
        where, params = (" WHERE listener = %s", [listener]) if listener else ("", [])
        cur.execute(f"SELECT listener, n, source FROM {TABLE}{where} ORDER BY seq", params)
        return [tuple(r) for r in cur.fetchall()]


def _emit_range(first: int, count: int, source: str, slow_every: int) -> None:
    from django.db import transaction

    from xiaoer.events import emit

    for n in range(first, first + count):
        with transaction.atomic():
            emit(ProbeHappened(shop_id=None, n=n, source=source, at=time.time()))
            if slow_every and n % slow_every == 0:
                time.sleep(0.05)  # an id taken early, committed late: ordering must not skip it


def _worker(threads: int) -> None:
    from huey.contrib.djhuey import HUEY

    from xiaoer.tasks_runtime import polling_options

    consumer = HUEY.create_consumer(workers=threads, worker_type="thread", periodic=True, check_worker_health=False,
                                    **polling_options())
    consumer.run()


def main(argv: list[str]) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
    django.setup()
    install()
    command, args = argv[0], argv[1:]
    if command == "init":
        create_table()
    elif command == "emit-and-hang":
        from django.db import transaction

        from xiaoer.events import emit

        def hang() -> None:  # registered before emit's own hook: the listeners are never queued
            print("committed", flush=True)
            time.sleep(3600)

        with transaction.atomic():
            transaction.on_commit(hang)
            emit(ProbeHappened(shop_id=None, n=int(args[0]), source="hang"))
    elif command == "emit":
        slow = int(args[args.index("--slow-every") + 1]) if "--slow-every" in args else 0
        _emit_range(int(args[0]), int(args[1]), f"emitter{args[0]}", slow)
        from xiaoer.events.queue import flush

        flush()
    elif command == "deliver":
        from xiaoer.events.testing import deliver_all

        print(deliver_all(), flush=True)
    elif command == "worker":
        _worker(int(args[args.index("--threads") + 1]) if "--threads" in args else 2)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
