"""A small command line around one revisit campaign, for the crash test and the benchmark
(real processes on the embedded default: SQLite + SqliteHuey in XIAOER_DATA_DIR):

    python -m xiaoer.aftersales.tests.campaign_probe init N     a shop, N reachable customers, a campaign
    python -m xiaoer.aftersales.tests.campaign_probe run        one pass of the campaign (rate 6000/min)
    python -m xiaoer.aftersales.tests.campaign_probe run-all B  passes of B sends until none is left
                                                                (prints "progress <sent so far>" after each)
    python -m xiaoer.aftersales.tests.campaign_probe deliver    deliver the queued notices (prints the count)
    python -m xiaoer.aftersales.tests.campaign_probe enqueue K  queue the campaign's Huey task K times
    python -m xiaoer.aftersales.tests.campaign_probe worker     a Huey consumer (until signalled)

PROBE_SLOW=S sleeps S seconds after each send and prints "sent" (the parent kills it midway);
PROBE_DIE_AT=K SIGKILLs the process inside the K-th send's transaction, before its commit.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def _campaign():
    from xiaoer.aftersales.models import Campaign

    return Campaign.objects.select_related("shop").get(name="probe")


def init(count: int) -> None:
    import datetime as dt

    from django.db import transaction
    from django.utils import timezone

    from xiaoer.aftersales import campaigns_services
    from xiaoer.customers.models import Customer
    from xiaoer.orders.models import OrderSettings
    from xiaoer.testing import make_shop, owner_of

    with transaction.atomic():
        shop = make_shop(slug="probe")
        OrderSettings.objects.update_or_create(shop=shop, defaults={"quiet_enabled": False})
        Customer.objects.bulk_create([Customer(shop=shop, buyer_id=f"b{i}", phone=f"139{i:08d}")
                                      for i in range(count)], batch_size=2000)
        from xiaoer.crm import listing

        segment = listing.do_save_segment(owner_of(shop), "全部", listing.check_filters(shop, {}))
        campaigns_services.do_create_campaign(owner_of(shop), name="probe", target="segment", segment_id=segment.pk,
                                              message="{name}您好", starts_at=timezone.now() - dt.timedelta(minutes=1),
                                              rate_per_minute=campaigns_services.MAX_RATE)


def _hooks() -> None:
    from xiaoer.aftersales import campaigns_services
    from xiaoer.notify import services as notify_services

    slow = float(os.environ.get("PROBE_SLOW") or 0)
    die_at = int(os.environ.get("PROBE_DIE_AT") or 0)
    send_one, queue = campaigns_services.send_one, notify_services.do_queue_notices
    calls = {"queued": 0}

    def slow_send(*args, **kwargs):
        sent = send_one(*args, **kwargs)
        print("sent", flush=True)
        time.sleep(slow)
        return sent

    def dying_queue(*args, **kwargs):
        keys = queue(*args, **kwargs)
        calls["queued"] += 1
        if calls["queued"] == die_at:
            os.kill(os.getpid(), signal.SIGKILL)  # inside the send's transaction: nothing of it commits
        return keys

    if slow:
        campaigns_services.send_one = slow_send
    if die_at:
        notify_services.do_queue_notices = dying_queue


def main(argv: list[str]) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
    django.setup()
    command, args = argv[0], argv[1:]
    if command == "init":
        init(int(args[0]))
    elif command == "run":
        from xiaoer.aftersales import campaigns_services

        _hooks()
        print(campaigns_services.run_campaign(_campaign(), deliver=False).sent, flush=True)
    elif command == "run-all":
        from xiaoer.aftersales import campaigns_services
        from xiaoer.aftersales.models import CampaignSend

        campaign = _campaign()
        while campaigns_services.run_campaign(campaign, deliver=False, limit=int(args[0])).sent:
            print("progress", CampaignSend.objects.filter(campaign=campaign).count(), flush=True)
    elif command == "deliver":
        from xiaoer.notify import services as notify_services

        total = 0
        while (n := notify_services.deliver_due()):
            total += n
        print(total, flush=True)
    elif command == "enqueue":
        from xiaoer.aftersales.campaigns_tasks import run_campaign_task

        for _ in range(int(args[0])):
            run_campaign_task(_campaign().pk)
    elif command == "worker":
        from huey.contrib.djhuey import HUEY

        from xiaoer.tasks_runtime import polling_options

        HUEY.create_consumer(workers=2, worker_type="thread", periodic=False, check_worker_health=False,
                             **polling_options()).run()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
