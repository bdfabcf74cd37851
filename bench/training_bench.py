"""Fifty trainees in role-play at once on the embedded default (SQLite): the simulated shopper's
reply latency — one trainee reply scored, stored, and answered (services.do_reply) — p50/p99,
beside one trainee alone in the same run. Words-only robot (no encoder), no LLM.

    .venv/bin/python bench/training_bench.py --trainees 50 --rounds 6
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPLIES = ("亲，全店满59元就包邮哦～", "亲，下午4点前付款当天就发货哦～", "亲，现在下单送小礼品，还能领店铺券哦～",
           "您好", "亲，这款面料做过抗起球处理，正常穿着不易起球哦～", "亲，支持七天无理由退换的～")


def setup(data_dir: str):
    os.environ["XIAOER_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from xiaoer.assistant import encoder as enc

    enc.set_encoder(None)


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return round(float(np.percentile(values, q)), 1) if values else 0.0


def play(trainee, scenarios, rounds: int, out: list[float], barrier: threading.Barrier | None) -> None:
    from django.db import close_old_connections, transaction

    from xiaoer.training import services

    if barrier is not None:
        barrier.wait()
    n = 0
    while n < rounds:
        with transaction.atomic():
            session = services.do_start_session(trainee, scenarios[n % len(scenarios)])
        while session.status == "active" and n < rounds:
            started = time.perf_counter()
            with transaction.atomic():
                services.do_reply(trainee, session, REPLIES[n % len(REPLIES)])
            out.append((time.perf_counter() - started) * 1000)
            n += 1
    close_old_connections()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trainees", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6, help="replies per trainee")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xiaoer-training-bench-") as tmp:
        setup(tmp)
        from xiaoer.accounts.models import Role
        from xiaoer.assistant import demo as assistant_demo
        from xiaoer.testing import make_shop, make_staff
        from xiaoer.training import demo as training_demo
        from xiaoer.training import services
        from xiaoer.training.models import Scenario

        shop = make_shop(slug="bench")
        assistant_demo.seed(shop)
        training_demo.seed(shop)
        services.scorer_for(shop.pk)  # the index is built once, before the clock
        scenarios = list(Scenario.objects.filter(shop=shop))
        trainees = [make_staff(shop, Role.AGENT, username=f"t{i}") for i in range(args.trainees)]
        alone: list[float] = []
        play(trainees[0], scenarios, args.rounds * 3, alone, None)
        together: list[float] = []
        barrier = threading.Barrier(len(trainees))
        threads = [threading.Thread(target=play, args=(t, scenarios, args.rounds, together, barrier))
                   for t in trainees]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        print(json.dumps({
            "trainees": args.trainees, "replies": len(together), "replies_per_s": round(len(together) / wall, 1),
            "p50_ms": percentile(together, 50), "p99_ms": percentile(together, 99),
            "baseline_one_trainee": {"replies": len(alone), "p50_ms": percentile(alone, 50),
                                     "p99_ms": percentile(alone, 99)},
            "p99_ratio": round(percentile(together, 99) / max(percentile(alone, 99), 0.1), 2),
        }))


if __name__ == "__main__":
    main()
