"""Working off the KPI listener's dirty buyers: right after a delivery commits, and every minute
(what a crash left behind)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from xiaoer.kpi import compute


@db_task()
def process_dirty() -> int:
    return compute.process_dirty()


def queue_process_dirty() -> None:
    process_dirty()


@db_periodic_task(crontab(minute="*"))
def process_dirty_periodically() -> int:
    return compute.process_dirty()
