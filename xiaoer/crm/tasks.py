"""crm's periodic work on the task queue."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from xiaoer.crm import care


@db_periodic_task(crontab(minute="5"))
def birthday_care() -> int:
    """Hourly: each shop is greeted for on the first run inside its hours (decision 147)."""
    return care.run_birthday_care().greeted
