"""``xiaoer training eval``: how well the reply scorer separates good from bad replies (docs/training.md).

PAIRS.jsonl: one ``{"question", "reply", "label": "good" | "acceptable" | "bad"}`` a line.
"""

from __future__ import annotations

import json
from pathlib import Path

from xiaoer.assistant.engine import Entry, ShopIndex
from xiaoer.knowledge.importer import FileProblem, parse_answers, read_table
from xiaoer.training.scorer import ReplyScorer, auc, word_overlap

LABELS = ("good", "acceptable", "bad")
MAX_TEXT = 2000


class PairFileError(ValueError):
    pass


def load_entries(path: str | Path) -> list[Entry]:
    """Standard answers from a file in the knowledge import format (CSV UTF-8/GBK or .xlsx)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FileProblem(str(exc)) from exc
    parsed = parse_answers(read_table(data, str(path)))
    if not parsed.rows:
        raise FileProblem("; ".join(str(e) for e in parsed.errors[:20]) or "no standard answers")
    return [Entry(code=r["code"], category=r["category"], question=r["question"], answer=r["answer"],
                  similar=r["similar"]) for r in parsed.rows if r["enabled"]]


def load_pairs(path: str | Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise PairFileError(f"line {number}: not JSON ({exc})") from exc
            if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("question", "reply")):
                raise PairFileError(f"line {number}: needs string \"question\" and \"reply\"")
            if row.get("label") not in LABELS:
                raise PairFileError(f"line {number}: label must be one of {', '.join(LABELS)}")
            rows.append({"question": row["question"][:MAX_TEXT], "reply": row["reply"][:MAX_TEXT],
                         "label": row["label"]})
    return rows


def _summary(scores: list[float], pairs: list[dict]) -> dict:
    by = {label: [s for s, p in zip(scores, pairs, strict=True) if p["label"] == label] for label in LABELS}
    return {"auc": auc(by["good"], by["bad"]),
            "auc_good_vs_acceptable": auc(by["good"], by["acceptable"]),
            "auc_acceptable_vs_bad": auc(by["acceptable"], by["bad"]),
            "mean": {label: round(sum(v) / len(v), 3) if v else None for label, v in by.items()}}


def evaluate(entries: list[Entry], pairs: list[dict], *, encoder=None) -> dict:
    scorer = ReplyScorer(ShopIndex(entries, encoder=encoder))
    ours = [scorer.judge(p["question"], p["reply"]).score for p in pairs]
    baseline = [word_overlap(p["question"], p["reply"]) for p in pairs]
    counts = {label: sum(p["label"] == label for p in pairs) for label in LABELS}
    return {"n": len(pairs), **counts, **_summary(ours, pairs),
            "baseline_word_overlap": _summary(baseline, pairs)}
