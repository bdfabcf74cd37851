"""Attribute spotting: precision and recall per attribute, and the cost per message.

    .venv/bin/python bench/spotting_eval.py [--set eval|dev|PATH] [--repeat 20] [--misses]
    .venv/bin/python bench/spotting_eval.py --unlabelled PATH   # JSONL with a "text" field

Reads a JSONL set of shopper messages, each with the attributes it states
(``{"text": ..., "labels": {"phone": ["138..."], ...}}``), runs ``xiaoer.crm.spotting.spot`` on
each and prints one JSON object: per attribute kind the true/false positives, misses, precision
and recall; and the cost per message (median and p99 microseconds over ``--repeat`` passes)
beside a baseline measured in the same run: the robot's height/weight parser alone
(``xiaoer.assistant.text.measures``), which spotting reuses. ``--misses`` also lists every wrong
or missed attribute (for the dev set; the eval set is never tuned on, docs/customers-spotting.md).
``--unlabelled`` runs over messages nobody labelled (real chats): it prints how many messages
gave a proposal per kind, each proposal with its message to judge by eye, and the same costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xiaoer.assistant.text import measures  # noqa: E402
from xiaoer.crm.spotting import spot  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "xiaoer" / "crm" / "data"


def load(name: str) -> list[dict]:
    path = DATA / f"spotting_{name}.jsonl" if name in {"eval", "dev"} else Path(name)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(rows: list[dict]) -> tuple[dict, list[str]]:
    tp, fp, fn = Counter(), Counter(), Counter()
    wrong = []
    for row in rows:
        got = {(s.kind, s.value) for s in spot(row["text"])}
        want = {(kind, value) for kind, values in row["labels"].items() for value in values}
        for kind, _value in got & want:
            tp[kind] += 1
        for kind, value in got - want:
            fp[kind] += 1
            wrong.append(f"FP {kind}={value!r}: {row['text']}")
        for kind, value in want - got:
            fn[kind] += 1
            wrong.append(f"FN {kind}={value!r}: {row['text']}")
    kinds = sorted(set(tp) | set(fp) | set(fn))
    out = {}
    for kind in kinds:
        found, labelled = tp[kind] + fp[kind], tp[kind] + fn[kind]
        out[kind] = {"tp": tp[kind], "fp": fp[kind], "fn": fn[kind],
                     "precision": round(tp[kind] / found, 3) if found else None,
                     "recall": round(tp[kind] / labelled, 3) if labelled else None}
    return out, wrong


def cost_us(rows: list[dict], fn, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        for row in rows:
            start = time.perf_counter_ns()
            fn(row["text"])
            times.append((time.perf_counter_ns() - start) / 1000)
    times.sort()
    return {"median_us": round(statistics.median(times), 1), "p99_us": round(times[int(len(times) * 0.99) - 1], 1),
            "max_us": round(times[-1], 1)}


def unlabelled(path: str, repeat: int) -> None:
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [{"text": r.get("text") or ""} for r in rows]
    spot("预热 13812345678 身高165")
    found = Counter()
    lines = []
    for row in rows:
        for s in spot(row["text"]):
            found[s.kind] += 1
            lines.append(f"{s.kind}={s.value!r}: {row['text'][:120]}")
    print(json.dumps({"messages": len(rows), "proposals_per_kind": dict(found),
                      "cost_spot": cost_us(rows, spot, repeat),
                      "cost_baseline_measures_only": cost_us(rows, measures, repeat)}, ensure_ascii=False, indent=1))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="eval", help="eval, dev or a path to a JSONL file")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--misses", action="store_true", help="list every false positive and miss")
    parser.add_argument("--unlabelled", help="a JSONL file of messages with a text field, nobody labelled")
    args = parser.parse_args()
    if args.unlabelled:
        unlabelled(args.unlabelled, args.repeat)
        return
    rows = load(args.set)
    spot("预热 13812345678 身高165")  # compile the expressions outside the timing
    per_kind, wrong = score(rows)
    result = {"set": args.set, "messages": len(rows),
              "labelled_attributes": sum(len(v) for r in rows for v in r["labels"].values()),
              "per_kind": per_kind,
              "cost_spot": cost_us(rows, spot, args.repeat),
              "cost_baseline_measures_only": cost_us(rows, measures, args.repeat)}
    print(json.dumps(result, ensure_ascii=False, indent=1))
    if args.misses:
        print("\n".join(wrong))


if __name__ == "__main__":
    main()
