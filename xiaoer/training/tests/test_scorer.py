"""The reply scorer and its eval command (docs/training.md)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from xiaoer.assistant.engine import ShopIndex
from xiaoer.training.evaluation import load_entries
from xiaoer.training.scorer import ReplyScorer

DATA = Path(__file__).resolve().parents[1] / "data"
KBS = Path(__file__).resolve().parents[2] / "assistant" / "data"


@pytest.fixture(scope="module")
def scorer() -> ReplyScorer:
    return ReplyScorer(ShopIndex(load_entries(KBS / "kb_clothing.csv")))


def test_a_wrong_price_loses_points_with_the_reason(scorer):
    good = scorer.judge("现在下单包邮吗", "亲，全店满59元就包邮哦～")
    wrong = scorer.judge("现在下单包邮吗", "亲，全店满99元就包邮哦～")
    assert good.entry.code == "C15"
    assert good.score > wrong.score
    assert any("99元" in r["text"] and r["points"] < 0 for r in wrong.reasons)
    assert "59元" in wrong.better_answer


def test_a_contrary_promise_and_a_forbidden_word_lose_points(scorer):
    refused = scorer.judge("能七天无理由退吗", "不支持无理由退换")
    rude = scorer.judge("能便宜点吗", "爱买不买")
    assert any("相反" in r["text"] for r in refused.reasons)
    assert any("禁用语" in r["text"] for r in rude.reasons)
    assert refused.score < 30 and rude.score < 30


@pytest.mark.parametrize("kb", ["clothing", "appliance", "cosmetics"])
def test_eval_command_separates_good_from_bad_on_the_held_out_pairs(kb):
    out = io.StringIO()
    call_command("training", "eval", "--kb", str(KBS / f"kb_{kb}.csv"),
                 "--pairs", str(DATA / f"pairs_eval_{kb}.jsonl"), stdout=out)
    result = json.loads(out.getvalue())
    assert result["n"] >= 50
    assert result["auc"] >= 0.85
    assert result["auc"] > result["baseline_word_overlap"]["auc"]


def test_eval_command_reports_a_bad_pairs_line(tmp_path):
    pairs = tmp_path / "p.jsonl"
    pairs.write_text('{"question": "在吗", "reply": "在", "label": "great"}\n', encoding="utf-8")
    with pytest.raises(CommandError, match="line 1"):
        call_command("training", "eval", "--kb", str(KBS / "kb_clothing.csv"), "--pairs", str(pairs))
