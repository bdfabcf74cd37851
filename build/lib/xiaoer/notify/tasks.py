"""Notice delivery on the task queue: a task per queued batch plus a sweep every minute that
retries failures with backoff and recovers sends a dead process left behind."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from xiaoer.notify import services


@db_task()
def deliver_notices_task(keys: list[str]) -> int:
    return services.deliver_due(keys=keys)


@db_periodic_task(crontab(minute="*"))
def notify_sweep() -> int:
    return services.sweep()
