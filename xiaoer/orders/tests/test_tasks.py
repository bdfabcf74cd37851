"""orders/tasks.py: the periodic sweeps are registered with the consumer and run their sweep."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from xiaoer.orders.models import ConfirmState, Order, OrderSettings, RemindState

from .conftest import World

ROOT = Path(__file__).resolve().parents[3]
SWEEPS = {"xiaoer.orders.tasks.reminder_sweep", "xiaoer.orders.tasks.confirmation_sweep",
          "xiaoer.notify.tasks.notify_sweep"}


def test_the_embedded_consumer_of_a_fresh_process_has_the_periodic_sweeps(tmp_path):
    """What `xiaoer serve` runs: before this, nothing imported orders/tasks.py, so the sweeps
    were never registered and never ran."""
    code = ("import django; django.setup()\n"
            "from xiaoer.tasks_runtime import embedded_consumer\n"
            "consumer = embedded_consumer()\n"
            "print(sorted(f'{t.__module__}.{t.__name__}' for t in consumer.huey._registry._periodic_tasks))\n")
    env = dict(os.environ, XIAOER_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="xiaoer.settings",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    registered = set(eval(out.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own repr of a list
    assert SWEEPS <= registered


def _periodic(name: str):
    """The task as registered with the consumer's Huey (a TaskWrapper)."""
    from huey.contrib.djhuey import HUEY

    from xiaoer.orders import tasks

    wrapper = getattr(tasks, name)
    assert wrapper.task_class in HUEY._registry._periodic_tasks
    return wrapper


@pytest.mark.parametrize("name", ["reminder_sweep", "confirmation_sweep"])
def test_sweeps_are_due_every_minute(name):
    task = _periodic(name).task_class()
    start = timezone.now().replace(second=0, microsecond=0)
    assert all(task.validate_datetime(start + dt.timedelta(minutes=m)) for m in range(0, 24 * 60, 7))


@pytest.mark.django_db(transaction=True)  # djhuey's db tasks close the connection when done
def test_the_registered_tasks_run_their_sweeps(outbox):
    world = World()
    OrderSettings.objects.create(shop=world.shop, quiet_enabled=False)  # whatever the wall clock says
    now = timezone.now()
    unpaid = world.order(buyer=None, created_at=now - dt.timedelta(hours=1), receiver_phone="13700001111")
    paid = world.order(created_at=now - dt.timedelta(minutes=10), paid_at=now - dt.timedelta(minutes=5),
                       paid_amount="99")
    assert _periodic("reminder_sweep").call_local() == 1
    assert _periodic("confirmation_sweep").call_local()["asked"] == 1
    assert Order.objects.get(pk=unpaid.pk).remind_state == RemindState.SENT
    assert Order.objects.get(pk=paid.pk).confirm_state == ConfirmState.ASKED
    assert [m["key"] for m in outbox] == [f"remind-{unpaid.pk}"]
