"""The suggestion engine on the demo clothing knowledge base, word matching only (fast)."""

from __future__ import annotations

import pytest

from xiaoer.assistant.engine import DATA, Entry, ProductInfo, ShopIndex, recommend_size
from xiaoer.assistant.text import Measures
from xiaoer.knowledge import importer

CHART = {"S": {"height": [150, 158], "weight": [40, 47]}, "M": {"height": [158, 165], "weight": [47, 54]},
         "L": {"height": [165, 170], "weight": [54, 61]}}
DRESS = ProductInfo(code="P1", title="碎花连衣裙", material="聚酯纤维95% 氨纶5%", care="冷水手洗，反面晾干",
                    size_chart=CHART)


@pytest.fixture(scope="module")
def index() -> ShopIndex:
    parsed = importer.parse_answers(importer.read_table((DATA / "kb_clothing.csv").read_bytes()))
    entries = [Entry(code=r["code"], category=r["category"], question=r["question"], answer=r["answer"],
                     similar=r["similar"]) for r in parsed.rows]
    return ShopIndex(entries, encoder=None, shop_words=["碎花连衣裙"])


def test_suggestion_shape_and_variables(index):
    out = index.suggest("亲 单号多少啊", values={"tracking_no": "SF123", "order_no": "O-9"})
    assert out["intent"] == "shipping"
    assert out["answers"][0]["id"] == "C24"
    assert "SF123" in out["answers"][0]["text"] and "O-9" in out["answers"][0]["text"]
    assert len(out["answers"]) == 3
    assert 0 <= out["confidence"] <= 1


def test_unknown_values_show_placeholders(index):
    out = index.suggest("快递单号是多少")
    top = out["answers"][0]
    assert "【物流单号】" in top["text"] and "tracking_no" in top["missing"]


def test_product_facts_answer_the_question(index):
    out = index.suggest("这个是什么面料啊", product=DRESS)
    assert any(f["field"] == "material" and "聚酯" in f["text"] for f in out["facts"])
    out = index.suggest("能丢洗衣机洗吗", product=DRESS)
    assert any(f["field"] == "care" for f in out["facts"])


def test_size_from_height_and_weight(index):
    out = index.suggest("身高160体重100斤穿什么码", product=DRESS)
    assert out["intent"] == "size_spec"
    assert out["size"]["size"] == "M"
    assert "160" in out["size"]["reason"]


def test_size_advice_leads_when_it_applies(index):
    """「165 110斤穿什么码」 with a product in the chat: the first suggestion is the size, not a standard
    answer asking for the height and weight the shopper just gave (issue 10)."""
    out = index.suggest("165 110斤穿什么码", product=DRESS)
    top = out["answers"][0]
    assert top["id"] == "size" and f"{out['size']['size']} 码" in top["text"] and not top["missing"]
    assert all(a["id"] != "size" for a in out["answers"][1:])
    assert index.suggest("165 110斤穿什么码")["answers"][0]["id"] != "size"  # no chart: nothing to advise


def test_size_rule_takes_the_larger_size_when_dimensions_disagree():
    rec = recommend_size(Measures(height_cm=155, weight_kg=58), CHART)
    assert rec["size"] == "L" and "较大" in rec["reason"]
    rec = recommend_size(Measures(height_cm=185, weight_kg=90), CHART)
    assert rec["size"] == "L" and not rec["exact"]


def test_transfer_to_a_person_is_a_handoff(index):
    out = index.suggest("别机器人了 我要人工")
    assert out["handoff"] and out["reject"] and out["intent"] == "human"


def test_several_questions_answer_main_and_list_others(index):
    out = index.suggest("什么时候发货？可以开发票吗")
    ids = {out["answers"][0]["id"]} | {o["answer"]["id"] for o in out["others"] if o["answer"]}
    assert {"C19", "C32"} <= ids


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "hello how are you", "1234567890", "好" * 5000,
                                  "<script>alert(1)</script>", "\x00\x01", "？？？？"])
def test_bad_input_never_raises(index, text):
    out = index.suggest(text, product=DRESS)
    assert out["intent"] in {"greeting", "other", "human", "product_quality", "size_spec", "bargain", "shipping",
                             "after_sales", "payment", "order_change", "product_usage"}
    assert isinstance(out["answers"], list)
    if not text.strip() or text == "😀😀😀":
        assert out["reject"]


def test_unrelated_question_is_rejected(index):
    assert index.suggest("你们公司招不招仓库打包员")["reject"]


def test_empty_knowledge_base_still_answers_intent():
    empty = ShopIndex([], encoder=None)
    out = empty.suggest("什么时候发货")
    assert out["reject"] and out["answers"] == [] and out["intent"] == "shipping"
