"""Judging one agent reply against the shop's standard answers, free of the database so the eval
command, the training chat and tests share it (docs/training.md, docs/decisions/195).

The robot's engine finds the standard answer the shopper's question asks for; the reply is then
compared with that answer: its meaning (character and word overlap), its facts (numbers with their
units — prices, days, hours, years, sizes — and yes/no promises such as 包邮 / 支持 / 可以) and its
tone (courtesy words, the forbidden-words list, absolute over-promises). Every point given or lost
carries a reason a trainee can read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from xiaoer.assistant import text as tx
from xiaoer.assistant.engine import Entry, ShopIndex

# Words a shop never wants an agent to say (the shop can extend them: Scenario settings later).
FORBIDDEN_WORDS = ("爱买不买", "不管", "跟我们无关", "跟我们没关系", "与我们无关", "没办法", "别买了", "自己研究",
                   "你自己", "您自己", "不知道", "随便", "概不", "再买一台", "问题不大", "没关系")
COURTESY_WORDS = ("亲", "您", "抱歉", "不好意思", "谢谢", "请", "哦", "～", "呢", "放心")
# Absolute claims a standard answer rarely makes: a promise the shop may not keep.
OVERPROMISE = ("绝对", "完全", "一定", "任何", "保证", "百分百", "100%")
# Yes/no markers: the reply saying "不X" where the standard answer says "X" (or the reverse) is a
# wrong promise ("不包邮" against "满59元包邮").
POLAR = ("支持", "可以", "能", "会", "有", "包邮", "包退", "送", "开", "退", "换", "保", "发", "用")
_NEG = "不没无未别非"
_UNITS = (r"元|块|天|小时|个工作日|工作日|年|个月|月|点|ml|毫升|g|克|件|片|期|折|%|cm|厘米|斤|公斤|kg|码|v|V|伏|"
          r"瓦|w|W|分钟|周|次|减")
_NUMBER = re.compile(r"(\d+(?:\.\d+)?|[一二两三四五六七八九十百]+)\s*(?:-\s*\d+\s*)?(" + _UNITS + ")")
_VARIABLE = re.compile(r"\{[^{}]{1,30}\}")

# Weights of the combined score; fitted by hand on the dev pairs (data/pairs_dev_*.jsonl) only.
W_MEANING = 1.0
W_FACT_COVERAGE = 0.25
W_COURTESY = 0.08
P_CONTRADICTION = 0.45
P_WRONG_NUMBER = 0.35
P_FORBIDDEN = 0.4
P_OVERPROMISE = 0.2


@dataclass
class Judgement:
    score: float  # 0–100
    entry: Entry | None  # the standard answer the question asks for
    better_answer: str  # what the shop's knowledge says, for the feedback beside the reply
    reasons: list[dict] = field(default_factory=list)  # {"points": +/-float, "text": str}

    def as_dict(self) -> dict:
        return {"score": self.score, "answer_code": self.entry.code if self.entry else "",
                "better_answer": self.better_answer, "reasons": self.reasons}


def plain(text: str) -> str:
    """A standard answer as a reader sees it, variables dropped."""
    return _VARIABLE.sub("", text or "")


def numbers(text: str) -> set[tuple[float, str]]:
    """(value, unit) pairs: '满59元' → (59, '元'), '三年' → (3, '年'), '1-3个工作日' → (1, '个工作日')."""
    out = set()
    for raw, unit in _NUMBER.findall(tx.to_half(text or "")):
        value = float(raw) if raw[0].isdigit() else tx.cn_number(raw)
        if value is not None:
            out.add((float(value), unit.lower().replace("个工作日", "工作日")))
    return out


def polarity(text: str, marker: str) -> tuple[bool, bool]:
    """(said plainly, said negated) of one marker in the text."""
    pos = neg = False
    for m in re.finditer(re.escape(marker), text):
        before = text[max(0, m.start() - 2):m.start()]
        if before and (before[-1] in _NEG or (before[0] in _NEG and before[-1] in "太会能可有")):
            neg = True
        else:
            pos = True
    return pos, neg


def negated_words(text: str) -> list[str]:
    """The two characters after a negation: '没有赠品' → '赠品', '不讲价' → '讲价'."""
    return [m.group(1) for m in re.finditer(r"[" + _NEG + r"]有?([\u4e00-\u9fff]{2})", text)]


class ReplyScorer:
    """Scores replies for one shop's knowledge; build once per index (a few ms)."""

    def __init__(self, index: ShopIndex, forbidden: tuple[str, ...] = FORBIDDEN_WORDS):
        self.index = index
        self.forbidden = forbidden
        answers = [tx.lexical(plain(e.answer)) or plain(e.answer) for e in index.entries] or ["-"]
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 2), sublinear_tf=True).fit(answers)

    def standard_answer(self, question: str) -> Entry | None:
        out = self.index.suggest(question)
        answers = out.get("answers") or []
        return self.index.by_code.get(answers[0]["id"]) if answers else None

    def meaning(self, reply: str, reference: str) -> float:
        a, b = self.char.transform([tx.lexical(reply) or reply, tx.lexical(reference) or reference])
        return float((a @ b.T).toarray()[0, 0])

    def judge(self, question: str, reply: str, *, entry: Entry | None = None) -> Judgement:
        entry = entry or self.standard_answer(question)
        reasons: list[dict] = []
        total = 0.0

        def note(points: float, reason: str) -> None:
            nonlocal total
            total += points
            reasons.append({"points": round(points * 100, 1), "text": reason})

        reference = plain(entry.answer) if entry else ""
        if entry:
            sim = self.meaning(reply, reference)
            note(W_MEANING * sim, f"与标准答案意思相近度 {sim:.0%}")
            self._facts(reply, reference, note)
        else:
            note(0.3, "知识库里没有对应的标准答案，只评语气")
        self._tone(reply, reference, note)
        score = round(float(np.clip(total, 0.0, 1.0)) * 100, 1)
        return Judgement(score=score, entry=entry, better_answer=reference, reasons=reasons)

    def _facts(self, reply: str, reference: str, note) -> None:
        ref_nums, reply_nums = numbers(reference), numbers(reply)
        if ref_nums:
            covered = len(ref_nums & reply_nums) / len(ref_nums)
            note(W_FACT_COVERAGE * covered, f"标准答案中的数字说到了 {covered:.0%}")
        ref_units = {u for _v, u in ref_nums}
        wrong = [(v, u) for v, u in reply_nums - ref_nums if u in ref_units]
        if wrong:
            v, u = wrong[0]
            note(-P_WRONG_NUMBER, f"数字与标准答案不符：{v:g}{u}")
        for marker in [*POLAR, *negated_words(reply)]:
            ref_pos, ref_neg = polarity(reference, marker)
            rep_pos, rep_neg = polarity(reply, marker)
            if (rep_neg and ref_pos and not ref_neg) or (rep_pos and not rep_neg and ref_neg and not ref_pos):
                note(-P_CONTRADICTION, f"与标准答案说法相反：「{marker}」")
                break

    def _tone(self, reply: str, reference: str, note) -> None:
        courtesy = [w for w in COURTESY_WORDS if w in reply]
        if courtesy:
            note(W_COURTESY * min(len(courtesy), 3) / 3, "礼貌用语：" + "、".join(courtesy[:3]))
        else:
            note(0.0, "没有礼貌用语（亲、您、请…）")
        bad = [w for w in self.forbidden if w in reply]
        if bad:
            note(-P_FORBIDDEN, "禁用语：" + "、".join(bad[:3]))
        promises = [w for w in OVERPROMISE if w in reply and w not in reference]
        if promises:
            note(-P_OVERPROMISE, "过度承诺：" + "、".join(promises[:3]))


# --- the eval's baseline and metric --------------------------------------------------------------
def word_overlap(question: str, reply: str) -> float:
    """The plain baseline: share of the question's words the reply repeats (Jaccard of jieba words)."""
    a, b = set(tx.words(question)), set(tx.words(reply))
    return len(a & b) / len(a | b) if a | b else 0.0


def auc(good: list[float], bad: list[float]) -> float | None:
    """P(a good reply scores above a bad one), ties counted half (Mann–Whitney)."""
    if not good or not bad:
        return None
    g, b = np.asarray(good)[:, None], np.asarray(bad)[None, :]
    return round(float(((g > b).sum() + 0.5 * (g == b).sum()) / (g.size * b.size)), 4)
