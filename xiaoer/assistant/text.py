"""Chinese shopper text: normalising, splitting, body measures, words (docs/assistant.md).

Shoppers type fast on phones: full-width characters, 亲/在吗 openers, homophone slips (神马, 肿么),
no punctuation, several questions in one line, heights as 1米6 and weights in 斤. Everything the
robot matches goes through ``normalize`` (for the encoder and the intent model) and ``lexical``
(the same plus synonyms folded to one word, for word and character overlap).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

MAX_SCORED_CHARS = 300  # a 5,000-character paste is judged on its start; the rest is noise for matching

_EMOTICON = re.compile(r"\[[^\[\]]{1,6}\]|#e-s\S*", re.I)
_OPENER = re.compile(
    r"^(?:亲亲|亲爱的|亲|在吗|在不在|在不|在么|在嘛|在没|你好|您好|哈喽|哈罗|hello|hi|嗨|老板娘|老板|掌柜的|掌柜|客服|"
    r"小二|店家|请问一下|请问|问一下|问下|那个|嗯嗯|嗯|麻烦问下|打扰一下|我想问下|我想问|想问下)"
    r"[\s,，.。!！?？~～、]*", re.I)
# Slips shoppers make, fixed before anything else looks at the text.
_TYPO_PAIRS = [("神马", "什么"), ("什莫", "什么"), ("肿么", "怎么"), ("木有", "没有"), ("多小钱", "多少钱"),
               ("尺吗", "尺码"), ("吃码", "尺码"), ("法货", "发货"), ("发或", "发货"), ("推货", "退货"),
               ("质良", "质量"), ("可已", "可以"), ("有会", "优惠"), ("优惠卷", "优惠券"), ("快的", "快递"),
               ("快地", "快递"), ("zhege", "这个"), ("这ge", "这个"), ("咋样", "怎么样"), ("咋", "怎么"),
               ("啥", "什么"), ("伐", "吗"), ("嘛", "吗"), ("滴", "的")]
_TYPO = re.compile("|".join(re.escape(a) for a, _b in sorted(_TYPO_PAIRS, key=lambda p: -len(p[0]))))
_TYPO_MAP = dict(_TYPO_PAIRS)
_FINAL_ME = re.compile(r"(?<![什怎那这多要])么(?=$|[\s,，?？!！。~])")

# Synonyms folded to one word for lexical matching (single pass: a replacement is never re-matched).
SYNONYMS: dict[str, list[str]] = {
    "码": ["尺码", "码数", "码子", "号码", "尺寸码", "码号"],
    "快递": ["物流", "快件", "包裹"],
    "优惠": ["便宜", "打折", "折扣", "少点", "减价", "让利", "砍价", "少一点", "优惠点", "降价"],
    "优惠券": ["券", "红包", "优惠卷"],
    "面料": ["材质", "料子", "布料", "成分", "材料", "面料是"],
    "价格": ["多少钱", "价钱", "售价"],
    "掉色": ["褪色", "染色", "串色"],
    "起球": ["起毛球", "起毛", "毛球"],
    "单号": ["物流单号", "快递单号", "运单号"],
    "赠品": ["小礼物", "礼品", "送东西", "小赠品", "礼物"],
    "发货": ["发出", "寄出", "出货"],
    "机洗": ["洗衣机洗", "洗衣机"],
    "退款": ["退钱"],
    "换货": ["调换", "换一个", "换个码", "换码"],
    "转人工": ["人工客服", "真人客服", "人工服务", "转接人工", "真人"],
    "发票": ["开票", "专票", "普票"],
    "修改": ["改一下", "更改", "改下"],
    "地址": ["收货地址", "收件地址"],
    "多久": ["多长时间", "几天", "多少天"],
}
_SYN_MAP = {variant: canon for canon, variants in SYNONYMS.items() for variant in variants}
_SYN = re.compile("|".join(re.escape(v) for v in sorted(_SYN_MAP, key=len, reverse=True)))
_WHICH_HAO = re.compile(r"(哪个|几|多大|什么|大一|小一|哪)号(?!码)")

_SPLIT_STRONG = re.compile(r"[？?。！!；;\n]+|还有就是|还有|另外|顺便问一?下|还想问一?下")
_SPLIT_WEAK = re.compile(r"[,，\s]+")
_QUESTION_HINT = re.compile(r"吗|么|呢|多少|什么|怎么|几|哪|能不能|可不可以|可以|有没有|是不是|会不会|要不要|多久")

STOPWORDS = frozenset("的 了 吗 呢 啊 呀 吧 哦 哈 嘛 么 亲 我 你 您 这 那 个 是 在 也 就 还 都 和 跟 请问 一下 下 "
                      "想 问 问问 一 有 么 得 地 着 呗 哟 噢 喔 嗯 哇 额 诶 这个 那个 这款 这件 宝贝 老板 客服".split())


def to_half(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _strip_symbols(text: str) -> str:
    text = _EMOTICON.sub(" ", text)
    return "".join(ch if unicodedata.category(ch)[0] not in {"S", "C"} or ch in "\n" else " " for ch in text)


def normalize(text: str, *, strip_openers: bool = True) -> str:
    """Half-width, lower case, emoji and emoticons out, slips fixed, openers (亲, 在吗…) dropped."""
    text = _strip_symbols(to_half(text or "")[: MAX_SCORED_CHARS * 2]).lower()
    text = re.sub(r"[ \t\u3000]+", " ", text).strip()
    text = _TYPO.sub(lambda m: _TYPO_MAP[m.group(0)], text)
    text = _FINAL_ME.sub("吗", text)
    text = re.sub(r"([?？!！。.~～])\1+", r"\1", text)
    if strip_openers:
        stripped = text
        for _i in range(4):
            new = _OPENER.sub("", stripped)
            if new == stripped:
                break
            stripped = new
        if len(stripped.strip(" ,，.。!！?？~")) >= 2:
            text = stripped
    return text.strip()[:MAX_SCORED_CHARS]


def fold_synonyms(text: str) -> str:
    text = _WHICH_HAO.sub(r"\1码", text)
    return _SYN.sub(lambda m: _SYN_MAP[m.group(0)], text)


@lru_cache(maxsize=100_000)
def lexical(text: str) -> str:
    """The form used by the word and character indexes: normalised, synonyms folded, no punctuation.
    Memoised: every rebuild sees the same phrasings again."""
    text = fold_synonyms(normalize(text))
    return re.sub(r"[\s,，.。!！?？~～、:：;；\"'“”‘’()（）\[\]【】]+", " ", text).strip()


def split_questions(text: str) -> list[str]:
    """Several questions in one message → their parts, in order; one question → one part."""
    text = to_half(text or "")[: MAX_SCORED_CHARS * 2]
    parts: list[str] = []
    for chunk in _SPLIT_STRONG.split(text):
        chunk = chunk.strip()
        if not chunk:
            continue
        pieces = [p for p in _SPLIT_WEAK.split(chunk) if p]
        # commas and spaces split only between parts that are each a question of their own
        if len(pieces) > 1 and all(len(p) >= 4 and _QUESTION_HINT.search(p) and not re.search(r"\d", p)
                                   for p in pieces):
            parts.extend(pieces)
        else:
            parts.append(chunk)
    kept = [p for p in parts if len(normalize(p, strip_openers=False)) >= 1]
    return kept[:5] or [text.strip()]


# --- body measures ---------------------------------------------------------------------------------
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def cn_number(text: str) -> int | None:
    """一百二十 / 一百二 / 九十五 / 一百零五 / 一六五 → int; None if not a plain number."""
    if not text or any(ch not in _CN_DIGITS and ch not in "十百" for ch in text):
        return None
    if "十" not in text and "百" not in text:
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total, rest = 0, text
    if "百" in rest:
        head, rest = rest.split("百", 1)
        total += (_CN_DIGITS.get(head[-1:], 1) if head else 1) * 100
        if rest[:1] in {"零", "〇"}:
            rest = rest[1:]
            return total + (_CN_DIGITS.get(rest[:1], 0) if rest and "十" not in rest else 0) + \
                (10 * (_CN_DIGITS.get(rest.split("十")[0], 1) or 1) if "十" in rest else 0)
        if rest and "十" not in rest:
            return total + _CN_DIGITS[rest[0]] * 10  # 一百二 = 120
    if "十" in rest:
        head, rest = rest.split("十", 1)
        total += (_CN_DIGITS.get(head[-1:], 1) if head else 1) * 10
    if rest:
        total += _CN_DIGITS.get(rest[0], 0)
    return total


_CN_NUM = re.compile(r"[零〇一二两三四五六七八九十百]+(?=\s*(?:斤|公斤|千克|kg|cm|厘米|公分))")
_CN_METRE = re.compile(r"([一1])\s*米\s*([零一二三四五六七八九0-9]{0,2})")


@dataclass
class Measures:
    height_cm: float | None = None
    weight_kg: float | None = None
    foot_cm: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def __bool__(self) -> bool:
        return any(v is not None for v in self.__dict__.values())


def _metre(match: re.Match) -> str:
    tail = "".join(str(_CN_DIGITS[c]) if c in _CN_DIGITS else c for c in match.group(2))
    cm = 100 + (int(tail) * 10 if len(tail) == 1 else int(tail) if tail else 0)
    return f" {cm}cm "


def measures(text: str) -> Measures:
    """Height, weight and foot length from 165 110斤 / 身高170体重65kg / 1米6 50公斤 / 一米七 一百二十斤."""
    text = to_half(text or "")[:MAX_SCORED_CHARS].lower()
    text = _CN_NUM.sub(lambda m: str(cn_number(m.group(0)) or m.group(0)), text)
    text = _CN_METRE.sub(_metre, text)
    text = re.sub(r"(?<![\d.])1\.(\d{2})\s*(?:m|米)?(?![\d.])", lambda m: f" {100 + int(m.group(1))}cm ", text)
    text = re.sub(r"(?<![\d.])1\.(\d)\s*(?:m|米)(?![\d.])", lambda m: f" {100 + int(m.group(1)) * 10}cm ", text)
    out = Measures()
    used: list[tuple[int, int]] = []
    for m in re.finditer(r"(\d{2,3}(?:\.\d)?)\s*(cm|厘米|公分)", text):
        value = float(m.group(1))
        if 20 <= value <= 32 and out.foot_cm is None:
            out.foot_cm = value
        elif 90 <= value <= 220 and out.height_cm is None:
            out.height_cm = value
        used.append(m.span())
    for m in re.finditer(r"(\d{2,3}(?:\.\d)?)\s*(斤|公斤|千克|kg|kilo)", text):
        value = float(m.group(1))
        kg = value / 2 if m.group(2) == "斤" else value
        if 15 <= kg <= 200 and out.weight_kg is None:
            out.weight_kg = kg
        used.append(m.span())
    for label, attr in (("身高", "height_cm"), ("体重", "weight_kg"), ("脚长", "foot_cm")):
        m = re.search(label + r"\s*[:是有]?\s*(\d{2,3}(?:\.\d)?)(?!\s*(?:cm|厘米|公分|斤|公斤|千克|kg|\d))", text)
        if m and getattr(out, attr) is None:
            value = float(m.group(1))
            if attr == "weight_kg" and value >= 80:
                value /= 2  # a bare weight this large is in 斤
            setattr(out, attr, value)
            used.append(m.span())
    bare = [m for m in re.finditer(r"(?<![\d.])(\d{2,3})(?![\d.]|\s*(?:元|块|件|天|个|号|点|%|折|w|瓦|升|l|v|伏|年|月|岁|码|度|cm|厘米|斤|公斤|kg))", text)
            if not any(s <= m.start() < e for s, e in used)]
    sizey = bool(re.search(r"码|穿|尺|身高|体重|胖|瘦|合适|号", text)) or len(bare) >= 2 or out
    if sizey:
        for m in bare:
            value = float(m.group(1))
            if out.height_cm is None and 140 <= value <= 200:
                out.height_cm = value
            elif out.weight_kg is None and 35 <= value <= 250:
                out.weight_kg = value / 2 if value >= 80 else value
    return out


# --- words -----------------------------------------------------------------------------------------
_jieba = None


def _tokenizer():
    global _jieba
    if _jieba is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _jieba = jieba
    return _jieba


class ShopWords:
    """The shop's own words (product names, brand words): kept whole, whatever jieba would do.

    jieba's dictionary is process-wide, so a per-shop dictionary is a longest-match pass that
    protects the shop's words before jieba cuts the rest.
    """

    def __init__(self, words: list[str] | None = None):
        self.words: dict[str, set[str]] = {}
        self.max_len = 0
        self.titles: dict[str, set[str]] = {}
        self.max_title = 0
        for word in words or []:
            folded = lexical(word).replace(" ", "")
            if 2 <= len(folded) <= 20:
                self.words.setdefault(folded[0], set()).add(folded)
                self.max_len = max(self.max_len, len(folded))
                plain = normalize(word, strip_openers=False)
                if 4 <= len(plain) <= 40:  # short words ("T恤") say what is asked about; titles say which item
                    self.titles.setdefault(plain[0], set()).add(plain)
                    self.max_title = max(self.max_title, len(plain))

    def mask(self, text: str, placeholder: str = "商品") -> str:
        """The shop's product titles in a ``normalize``d text replaced by one generic word."""
        if not self.titles:
            return text
        out, i = [], 0
        while i < len(text):
            candidates = self.titles.get(text[i])
            match = 0
            if candidates:
                for length in range(min(self.max_title, len(text) - i), 3, -1):
                    if text[i:i + length] in candidates:
                        match = length
                        break
            out.append(placeholder if match else text[i])
            i += match or 1
        return "".join(out)

    def cut(self, text: str) -> list[str]:
        tokens: list[str] = []
        pending_start = 0
        i = 0
        while i < len(text):
            match = None
            candidates = self.words.get(text[i])
            if candidates:
                for length in range(min(self.max_len, len(text) - i), 1, -1):
                    if text[i:i + length] in candidates:
                        match = text[i:i + length]
                        break
            if match:
                tokens.extend(_jieba_cut(text[pending_start:i]))
                tokens.append(match)
                i += len(match)
                pending_start = i
            else:
                i += 1
        tokens.extend(_jieba_cut(text[pending_start:]))
        return tokens


_cut_cache: dict[str, list[str]] = {}


def _jieba_cut(text: str) -> list[str]:
    """jieba without its HMM guesser (2x faster; unknown words fall back to single characters, which
    the character index covers anyway), memoised: knowledge phrasings are cut again on every rebuild."""
    if not text.strip():
        return []
    cached = _cut_cache.get(text)
    if cached is None:
        cached = [t for t in _tokenizer().lcut(text, HMM=False) if t.strip() and t not in STOPWORDS]
        if len(_cut_cache) > 200_000:
            _cut_cache.clear()
        _cut_cache[text] = cached
    return cached


def words(text: str, shop_words: ShopWords | None = None) -> list[str]:
    """Words of an already ``lexical`` text."""
    if shop_words is not None and shop_words.max_len:
        return [t for t in shop_words.cut(text) if t.strip()]
    return _jieba_cut(text)
