"""Huey tasks of the event delivery (imported by EventsConfig.ready(), so every process that
runs a consumer knows them whatever else it imported)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task


@db_task(name="events.deliver")
def deliver_task(name: str) -> int:
    from xiaoer.events import delivery, queue

    queue.clear_marker(name)  # before reading: a later commit queues a new task
    return delivery.deliver(name)


@db_periodic_task(crontab(minute="*"), name="events.catch_up")
def catch_up_task() -> list[str]:
    from xiaoer.events import delivery

    return delivery.catch_up()


@db_periodic_task(crontab(minute="17"), name="events.prune")
def prune_task() -> int:
    from xiaoer.events import delivery

    return delivery.prune()


@HUEY.on_startup(name="events.catch_up_at_start")
def catch_up_at_start() -> None:
    # A worker (re)starting after a crash delivers what was committed but never queued.
    catch_up_task()
