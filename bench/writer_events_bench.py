"""What the chat's domain events cost the writer, per stored message, in one run.

    .venv/bin/python bench/writer_events_bench.py --batch 10 --batches 300

Writes batches through the group-commit writer's own transaction (``writer._write``) on a fresh
embedded deployment (SQLite WAL file), alternating rounds with its MessagesCommitted event — one
outbox row per batch plus the after-commit delivery to the live listeners (the robot's hook,
reopen-on-message) — and rounds with both taken out (the same-run baseline). Prints CPU µs per
stored message for each (``time.process_time``: this one thread, so a busy machine changes wall
time far more than this) and the ratio. bench/chat_bench.py measures the whole server; this
isolates the part decision 110 added.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=10, help="messages per batch")
    parser.add_argument("--batches", type=int, default=300, help="batches per round")
    parser.add_argument("--rounds", type=int, default=6, help="rounds (alternating with/without events)")
    parser.add_argument("--conversations", type=int, default=50)
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="xiaoer-wbench-")
    os.environ.update(XIAOER_DATA_DIR=tmp, DJANGO_SETTINGS_MODULE="xiaoer.settings", LOG_LEVEL="WARNING")
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from xiaoer.accounts import services as acc
    from xiaoer.chat import writer
    from xiaoer.chat.models import Conversation
    from xiaoer.customers.models import Customer

    call_command("migrate", verbosity=0)
    shop = acc.do_create_shop(slug="wbench", name="压测", owner_username="o", owner_password="x" * 12)
    agent = acc.do_create_staff(shop=shop, username="a", password="x" * 12, role="agent", display_name="客服")
    seat = acc.do_create_seat(shop=shop, name="s", display_name="小美")
    acc.do_assign_seat(seat, agent)
    convs = [Conversation.objects.create(shop=shop, customer=Customer.objects.create(shop=shop, visitor_id=f"v{i}"),
                                         seat=seat, status="open", queued_at=timezone.now()).pk
             for i in range(args.conversations)]
    counter = iter(range(10**9))

    def batch() -> list:
        out = []
        for _ in range(args.batch):
            n = next(counter)
            conv = convs[n % len(convs)]
            if n % 2:
                out.append(writer.Draft(conv, shop.pk, f"c{n}", "agent", "text", False, seat.pk, agent.pk,
                                        "亲，今天下单今天发货哦", {}))
            else:
                out.append(writer.Draft(conv, shop.pk, f"c{n}", "shopper", "text", False, None, None,
                                        "请问什么时候发货", {}))
        return out

    real_insert, real_event = writer.outbox_insert, writer._batch_event

    def run(events: bool) -> float:
        writer.outbox_insert = real_insert if events else (lambda *a, **k: None)
        writer._batch_event = real_event if events else (lambda *a, **k: None)
        t0 = time.process_time()
        for _ in range(args.batches):
            result = writer._write(batch(), {})
            if result.event is not None:
                writer.after_commit(result.event, result.outbox_id)  # what the event thread runs
        return 1e6 * (time.process_time() - t0) / (args.batches * args.batch)

    run(True)  # warm-up: caches, the robot's per-shop check
    with_events, without = [], []
    for i in range(args.rounds):
        (with_events if i % 2 == 0 else without).append(run(i % 2 == 0))
    writer.outbox_insert, writer._batch_event = real_insert, real_event
    a, b = statistics.median(with_events), statistics.median(without)
    print(f"batch {args.batch}, {args.batches} batches x {args.rounds} rounds, SQLite WAL file")
    print(f"writer CPU per stored message: with events {a:.1f} us (rounds {', '.join(f'{x:.0f}' for x in with_events)}), "
          f"without {b:.1f} us (rounds {', '.join(f'{x:.0f}' for x in without)}); with / without {a / b:.3f}")
    return {"with_events_us": a, "without_us": b, "ratio": a / b}


if __name__ == "__main__":
    main()
