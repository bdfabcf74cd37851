"""Checks on text that goes to or comes from the model.

- ``check(draft, grounding)``: every price, amount, date, stock figure and promise in a draft must
  appear in the grounding (the shop's answers, facts, order); what does not is a flag, and a
  flagged draft is never sent without a person.
- ``handoff_reasons(text)``: anger, a request for a person, legal threats, safety — a person answers.
- ``looks_like_injection(text)``: a shopper writing instructions to the model.
- ``mask_personal(text)``: phones, e-mails, id and card numbers out before text leaves.

Deliberately lexical and strict: a false flag costs an agent a glance, a missed one a promise
the shop never made (docs/decisions/172).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def cn_number(text: str) -> int | None:
    """一 … 九十九 as an int (enough for days, pieces and discounts)."""
    if not text:
        return None
    if all(c in CN_DIGITS for c in text):
        return int("".join(str(CN_DIGITS[c]) for c in text))
    if "十" in text:
        tens, _sep, units = text.partition("十")
        t = CN_DIGITS.get(tens, None) if tens else 1
        u = CN_DIGITS.get(units, None) if units else 0
        if t is not None and u is not None:
            return 10 * t + u
    return None


_CN = "[零一二两三四五六七八九十]+"
_NUM = rf"(?:\d+(?:\.\d+)?|{_CN})"
# (kind, pattern): the number (group "n") or the phrase itself must be in the grounding
CLAIM_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("price", re.compile(rf"(?:[¥￥]|RMB\s?|人民币)\s*(?P<n>\d+(?:\.\d+)?)|(?P<n2>{_NUM})\s*(?:元|块钱|块|圆)")),
    ("amount", re.compile(rf"(?P<n>\d+(?:\.\d+)?)\s*%|(?P<n2>{_NUM})\s*折")),
    ("date", re.compile(r"(?P<n>\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?|\d{1,2}月\d{1,2}[日号])")),
    ("date", re.compile(rf"(?P<n>{_NUM})\s*(?:个)?(?:工作日|天|小时|周|星期|个月)")),
    ("stock", re.compile(rf"(?:库存|现货|还剩|仅剩|只剩|剩下|还有)\s*(?P<n>{_NUM})|(?P<n2>{_NUM})\s*(?:件|个|台|双|套|瓶|盒)")),
    ("number", re.compile(r"(?P<n>\d+(?:\.\d+)?)")),
]

# Promises a shop makes in its own words or not at all. Checked as phrases against the grounding.
PROMISES = ("免单", "免费", "包邮", "退款", "全额退", "退全款", "赔偿", "补偿", "赔付", "假一赔", "保证", "承诺",
            "一定", "肯定", "绝对", "送您", "赠送", "赠品", "返现", "红包", "优惠券", "打折", "减价", "降价",
            "便宜", "退货", "换货", "包退", "包换", "保价", "价保", "次日达", "当天发", "今天发", "明天发", "马上发",
            "立即发货", "加急", "补发", "退差价")
_DATE_WORDS = re.compile(r"(今天|今日|明天|明日|后天|当天|本周|下周)")


@dataclass(frozen=True)
class Flag:
    kind: str  # price, amount, date, stock, number, promise, injection, empty
    text: str
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def _canon(value: str) -> str:
    """One spelling per number: 199 = 199.0 = 199.00; 三 = 3."""
    value = value.strip()
    as_cn = cn_number(value)
    if as_cn is not None:
        return str(as_cn)
    try:
        return format(Decimal(value).normalize(), "f")
    except InvalidOperation:
        return value


def numbers_in(text: str) -> set[str]:
    found = {_canon(m) for m in re.findall(r"\d+(?:\.\d+)?", text)}
    found |= {_canon(m) for m in re.findall(_CN, text) if cn_number(m) is not None}
    return found


def _number_text(match: re.Match) -> str:
    groups = match.groupdict()
    return groups.get("n") or groups.get("n2") or match.group(0)


def _grounded(raw: str, known: set[str], grounding: str) -> bool:
    parts = re.findall(r"\d+(?:\.\d+)?", raw)
    if len(parts) > 1:  # a date: every part of it
        return all(_canon(part) in known for part in parts)
    return _canon(raw) in known


def check(draft: str, grounding: str) -> list[Flag]:
    """Flags for every figure or promise of DRAFT that GROUNDING does not contain."""
    known = numbers_in(grounding)
    flags: list[Flag] = []
    covered: list[tuple[int, int]] = []
    for kind, pattern in CLAIM_PATTERNS:
        for match in pattern.finditer(draft):
            if any(s <= match.start() < e for s, e in covered):
                continue  # one figure, one flag: 199元 is a price, not also a bare number
            covered.append(match.span())
            if not _grounded(_number_text(match), known, grounding):
                flags.append(Flag(kind, match.group(0), _("资料里没有这个数字")))
    for word in PROMISES:
        if word in draft and word not in grounding:
            flags.append(Flag("promise", word, _("店铺资料里没有这个承诺")))
    for word in set(_DATE_WORDS.findall(draft)):
        if word not in grounding:
            flags.append(Flag("date", word, _("店铺资料里没有这个时间")))
    return flags


HANDOFF_PATTERNS: dict[str, re.Pattern] = {
    "person": re.compile(r"转人工|人工客服|找人工|真人|活人|叫你们(老板|经理|主管)|换个客服|不要机器人"),
    "anger": re.compile(r"垃圾|骗子|骗人|坑人|黑店|气死|滚|妈的|他妈|什么破|差评|投诉你|太差劲|恶心|无语死"),
    "legal": re.compile(r"律师|起诉|告你|法院|12315|315|消协|消费者协会|工商局|市场监管|维权|报警|公安"),
    "safety": re.compile(r"过敏|受伤|流血|烫伤|烧伤|起火|着火|冒烟|爆炸|漏电|触电|中毒|误食|吞了|窒息|送医|医院"),
}


def handoff_reasons(text: str) -> list[str]:
    """Why a person, not a draft, should answer TEXT: person, anger, legal, safety."""
    return [reason for reason, pattern in HANDOFF_PATTERNS.items() if pattern.search(text or "")]


INJECTION = re.compile(
    r"忽略(之前|以上|上面|前面|所有)?的?(所有)?(指令|指示|规则|设定|提示|要求)|无视(之前|以上|规则|指令)|"
    r"系统提示|system\s*prompt|ignore\s+(all\s+)?(previous|prior|above)\s+(instructions|rules)|"
    r"你现在是|假装你是|扮演|开发者模式|developer\s+mode|jailbreak|越狱", re.I)


def looks_like_injection(text: str) -> bool:
    return bool(INJECTION.search(text or ""))


_MASKS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "〔邮箱〕"),
    # an id card: region, a birth date, a check digit — not any 18 digits (Taobao order numbers are 18–19)
    (re.compile(r"(?<!\d)[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?!\d)"),
     "〔证件号〕"),
    (re.compile(r"(?:卡号|银行卡|信用卡|储蓄卡)[是为:：\s]*\d[\d ]{11,22}\d"), "〔卡号〕"),
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"), "〔手机号〕"),
    (re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)"), "〔电话〕"),
]


def mask_personal(text: str, extra: list[str] | None = None) -> str:
    """TEXT with phones, e-mails, id and card numbers, and the EXTRA strings (the customer's own
    name, address …) replaced by placeholders, before it leaves the deployment."""
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    for value in sorted({v for v in extra or [] if v and len(v) >= 2}, key=len, reverse=True):
        text = text.replace(value, "〔个人信息〕")
    return text
