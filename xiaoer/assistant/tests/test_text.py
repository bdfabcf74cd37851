"""The normaliser: width, openers, slips, synonyms, measures, several questions."""

from __future__ import annotations

import pytest

from xiaoer.assistant import text as tx


@pytest.mark.parametrize("raw, height, weight", [
    ("165 110斤", 165, 55),
    ("身高170体重65kg", 170, 65),
    ("1米6 50公斤", 160, 50),
    ("一米七 一百二十斤穿几码", 170, 60),
    ("１６８ｃｍ　１００斤", 168, 50),
    ("1.65 50kg", 165, 50),
    ("我一米六二 一百斤", 162, 50),
    ("170 65 穿什么码", 170, 65),
])
def test_measures(raw, height, weight):
    m = tx.measures(raw)
    assert (m.height_cm, m.weight_kg) == (height, weight)


@pytest.mark.parametrize("raw", ["能少20吗", "买3件多少钱", "300块包邮吗", "订单号123456"])
def test_numbers_that_are_not_measures(raw):
    assert not tx.measures(raw)


def test_normalize_width_openers_and_slips():
    assert tx.normalize("亲，在吗？这件衣服会起球吗？？") == "这件衣服会起球吗?"
    assert tx.normalize("ＡＢＣ 神马时候发货") == "abc 什么时候发货"
    assert tx.normalize("在吗") == "在吗"  # a greeting alone stays a greeting
    assert tx.normalize("😀😀😀") == ""


def test_synonyms_fold_to_one_word():
    assert tx.lexical("这个尺码偏大吗") == tx.lexical("这个码数偏大吗")
    assert "快递" in tx.lexical("物流到哪了") and "优惠" in tx.lexical("能便宜点吗")
    assert "码" in tx.lexical("穿哪个号")


def test_split_questions():
    assert tx.split_questions("什么时候发货？能发顺丰吗") == ["什么时候发货", "能发顺丰吗"]
    assert tx.split_questions("什么时候发货 能发顺丰吗") == ["什么时候发货", "能发顺丰吗"]
    assert tx.split_questions("165 110斤穿什么码") == ["165 110斤穿什么码"]


def test_shop_words_are_kept_whole():
    words = tx.ShopWords(["小清新碎花连衣裙"])
    assert "小清新碎花连衣裙" in tx.words(tx.lexical("小清新碎花连衣裙会起球吗"), words)


def test_shop_titles_are_masked_for_the_encoder_but_short_words_kept():
    words = tx.ShopWords(["法式碎花连衣裙", "T恤"])
    assert words.mask(tx.normalize("法式碎花连衣裙怎么洗")) == "商品怎么洗"
    assert words.mask("t恤多大") == "t恤多大"
    assert tx.ShopWords([]).mask("什么时候发货") == "什么时候发货"
