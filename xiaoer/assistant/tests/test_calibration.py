"""The reject threshold calibrated per knowledge base, as the eval command reports it."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command

from xiaoer.assistant.engine import DATA, Tuning

pytestmark = pytest.mark.django_db


def _eval(capsys, kb, questions) -> dict:
    call_command("assistant", "eval", "--kb", str(kb), "--questions", str(questions), "--no-encoder")
    return json.loads(capsys.readouterr().out)


def _questions(tmp_path, rows):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def test_each_kb_gets_its_own_threshold_from_its_phrasings(tmp_path, capsys):
    questions = [{"text": "什么时候能发出", "intent": "shipping", "faq_id": None},
                 {"text": "你们招聘吗", "intent": "other", "faq_id": None}]
    clothing = _eval(capsys, DATA / "kb_clothing.csv", _questions(tmp_path, questions))
    cosmetics = _eval(capsys, DATA / "kb_cosmetics.csv", _questions(tmp_path, questions))
    for result in (clothing, cosmetics):
        assert 0.05 <= result["reject_threshold"] <= 0.95
        assert "reject_justified" in result
    assert clothing["reject_threshold"] != cosmetics["reject_threshold"]


def test_a_kb_too_small_to_calibrate_keeps_the_fitted_threshold(tmp_path, capsys):
    kb = tmp_path / "kb.csv"
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["id", "category", "question", "similar", "answer", "product"])
    writer.writerow(["S1", "shipping", "什么时候发货", "几天发货", "亲，48小时内发货。", ""])
    writer.writerow(["S2", "bargain", "包邮吗", "", "亲，满59包邮。", ""])
    kb.write_text(buf.getvalue(), encoding="utf-8")
    result = _eval(capsys, kb, _questions(tmp_path, [{"text": "几号发货", "intent": "shipping", "faq_id": "S1"}]))
    assert result["reject_threshold"] == Tuning.load(lexical_only=True).reject_threshold
