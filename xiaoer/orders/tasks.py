"""Periodic workflow sweeps (docs/decisions/040: state in the database, idempotent periodic tasks).

Every minute; any number of workers may run them at once (services.run_reminder_sweep).
No task lock on purpose: a lock left by a crashed worker would stop the sweeps, and the claims in the database already make a second
run harmless."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from xiaoer.orders import services, webhooks


@db_periodic_task(crontab(minute="*"))
def reminder_sweep() -> int:
    return services.run_reminder_sweep()


@db_periodic_task(crontab(minute="*"))
def confirmation_sweep() -> dict:
    return services.run_confirmation_sweep()


@db_periodic_task(crontab(minute="17"))
def webhook_prune() -> int:
    return webhooks.prune_delivery_ids()
