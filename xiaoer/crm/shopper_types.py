"""Shopper types: the default handling tips, and a suggestion from how a shopper writes.

The suggestion reads behaviour only — reply speed, bargaining words, the number and kind of
questions, message length, hesitation words — scores each of the eight types and gives the best
one with its reason in words. It never sets the type: the agent does (docs/customers-spotting.md).
Pure functions over (who, text, when) triples; crm.hints feeds them a conversation's messages.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xiaoer.customers.models import ShopperType

# Our own words, one short paragraph per type; a shop replaces them on the tips page.
DEFAULT_TIPS: dict[str, object] = {
    ShopperType.OUTGOING: gettext_lazy("聊得来就多聊两句，语气可以活泼些；顺着顾客的兴致介绍搭配和新品，但别忘了适时把话题带回下单。"),
    ShopperType.EASYGOING: gettext_lazy("顾客好说话，更要替他把关：主动说清尺码、发货时间和售后，给一个明确的推荐，别让他买错。"),
    ShopperType.INDECISIVE: gettext_lazy("选项不要给太多，最多两三个；说出你推荐哪一个和理由，用已购顾客的反馈和退换保障打消顾虑。"),
    ShopperType.THRIFTY: gettext_lazy("先讲清楚值在哪里（材质、做工、售后），再说现有的优惠和满减；不要轻易让价，可以用赠品或包邮代替。"),
    ShopperType.STEADY: gettext_lazy("顾客重视细节和可靠：回答要准确完整，参数、材质、保修写清楚，不催促，给他时间比较。"),
    ShopperType.BLUNT: gettext_lazy("说话直接、要结果：回复简短，先给答案再给理由，价格、库存、发货时间一次说清，不绕弯子。"),
    ShopperType.SLOW: gettext_lazy("顾客回复慢、想得多：耐心等，不要连发消息催；每条消息只说一件事，重要信息在最后再总结一遍。"),
    ShopperType.PICKY: gettext_lazy("顾客要求高、爱挑问题：先认同再解释，拿实物图、检测报告和细节图说话；对瑕疵类问题说明售后怎么处理。"),
}

_BARGAIN = re.compile(r"便宜|优惠|打折|折扣|少点|少一点|最低|砍价|包邮|送点|赠品|返现|券|别家|人家才|比价|划算|贵")
_HESITATE = re.compile(r"纠结|犹豫|考虑一?下|再看看|再想想|想一想|不知道选|哪个好|哪个更|还是|要不要|拿不准|不确定|怎么选")
_PICKY = re.compile(r"质量|做工|色差|线头|起球|掉色|瑕疵|味道|真的假的|正品|假货|材质|缩水|开线|差评|检测")
_AGREE = re.compile(r"好的|可以|行|都行|随便|听你的|没问题|好滴|嗯嗯|ok", re.I)
_LIVELY = re.compile(r"哈哈|嘻嘻|呀|啦|哇|[!！]{1,}|[\U0001F300-\U0001FAFF]|亲爱的|宝贝")
_QUESTION = re.compile(r"[?？]|吗|么|呢|多少|什么|怎么|几|哪|能不能|可不可以|有没有|是不是")
_DIRECT = re.compile(r"直接|快点|就要|赶紧|到底|行不行|能不能|多少钱|最低多少|给个痛快")

SLOW_REPLY_SECONDS = 180  # median shopper reply after an agent message slower than this: slow-paced
MIN_SHOPPER_MESSAGES = 3  # fewer than this: too little to go on, no suggestion


@dataclass(frozen=True)
class Suggestion:
    shopper_type: str
    label: str
    reason: str
    score: float


def _count(pattern: re.Pattern, texts: list[str]) -> int:
    return sum(len(pattern.findall(t)) for t in texts)


def _reply_seconds(messages: list[tuple[str, str, datetime]]) -> list[float]:
    """Seconds from each staff message to the shopper's next message."""
    out, last_staff = [], None
    for who, _text, when in messages:
        if who == "shopper":
            if last_staff is not None:
                out.append((when - last_staff).total_seconds())
                last_staff = None
        else:
            last_staff = when
    return out


def suggest(messages: list[tuple[str, str, datetime]]) -> Suggestion | None:
    """The likeliest type for the shopper of MESSAGES ((sender kind, text, time) in time order),
    or None when there is too little to go on or nothing stands out."""
    texts = [t for who, t, _ in messages if who == "shopper" and t]
    if len(texts) < MIN_SHOPPER_MESSAGES:
        return None
    n = len(texts)
    lengths = [len(t) for t in texts]
    median_len = statistics.median(lengths)
    replies = _reply_seconds(messages)
    median_reply = statistics.median(replies) if replies else None
    bargain, hesitate, picky = _count(_BARGAIN, texts), _count(_HESITATE, texts), _count(_PICKY, texts)
    agree, lively, questions = _count(_AGREE, texts), _count(_LIVELY, texts), _count(_QUESTION, texts)
    direct = _count(_DIRECT, texts)
    scores: dict[str, tuple[float, str]] = {
        ShopperType.THRIFTY: (bargain * 1.5, _("讲价、比价的话 %(n)d 次") % {"n": bargain}),
        ShopperType.INDECISIVE: (hesitate * 1.5, _("犹豫的话 %(n)d 次（如“再看看”“哪个好”）") % {"n": hesitate}),
        ShopperType.PICKY: (picky * 1.2, _("问质量、瑕疵、真假 %(n)d 次") % {"n": picky}),
        ShopperType.EASYGOING: (agree * 0.8 if bargain + picky == 0 else 0,
                                _("多次爽快答应（%(n)d 次），没有讲价或挑剔") % {"n": agree}),
        ShopperType.OUTGOING: (lively * 0.7 if median_len >= 8 else lively * 0.3,
                               _("语气活泼、表情和感叹多（%(n)d 处），消息不短") % {"n": lively}),
        ShopperType.BLUNT: ((direct + (2 if median_len <= 6 else 0)) * 1.0,
                            _("消息短（中位 %(len)d 字），直接要结果的话 %(n)d 次") % {"len": median_len, "n": direct}),
        ShopperType.STEADY: ((questions / n * 2 if median_len >= 15 and bargain == 0 else 0),
                             _("问题多而具体（%(q)d 个），消息长（中位 %(len)d 字），不讲价") % {"q": questions,
                                                                                  "len": median_len}),
        ShopperType.SLOW: ((3.0 if median_reply is not None and median_reply > SLOW_REPLY_SECONDS else 0),
                           _("回复慢：客服说完后中位 %(s)d 秒才回") % {"s": median_reply or 0}),
    }
    best, (score, reason) = max(scores.items(), key=lambda item: item[1][0])
    if score < 2:
        return None
    return Suggestion(shopper_type=str(best), label=str(ShopperType(best).label), reason=reason, score=score)
