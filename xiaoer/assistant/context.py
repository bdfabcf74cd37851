"""Reading a shopper's message with the turns before it (docs/assistant.md "Conversation context").

Real shoppers answer the agent in fragments — 暂时没有, 好的, an address, a bare order number,
之前的问题, 黑色的呢 — which read alone look like greetings or nothing at all (docs/decisions/167).
Free of the database: the services pass the turns in, the eval and the bench can too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from xiaoer.assistant import text as tx

MAX_TURNS = 8  # the visible text lines before the message that are looked at
SHORT = 12  # characters: a reply to the agent's question is short; a new question can be any length

ORDER_NO = re.compile(r"^(订单号?|单号)?[:：#\s]*[a-z]{0,3}\d{8,24}$")
MOBILE = re.compile(r"^(\+?86)?1[3-9]\d{9}$")  # a phone number given to the agent is no order number
_ADDRESS_MARK = re.compile(r"省|市|区|县|镇|乡|路|街|道|巷|弄|号|栋|幢|单元|室|小区|村|大厦|花园|公寓")
ACK = re.compile(r"^(好的?|好滴|好哒|好吧|嗯+|恩+|哦+|噢+|ok|okay|行|可以|知道了|明白了?|收到|了解|是的?|对的?|没问题)"
                 r"[的了啦呀哈吧嗯哦~～!！。.,，\s]*$")
NOTHING_MORE = re.compile(r"^(暂时|目前|现在)?(没有?了?|没啥|没什么|不用了?|没了|没事了?|先这样|就这些|就这样)"
                          r"(问题|事|了)?[了吧啦哈的呀~～。.!！\s]*$")
REFERS_BACK = re.compile(r"(之前|刚才|刚刚|上面|前面|上次|早上|昨天|还是)(的|那个|说的|问的|咨询的)?(问题|那个事|那件事|事情)")
# the agent's line asks something: the shopper's short reply answers it
AGENT_ASKS = re.compile(r"[?？]|吗|呢|什么|哪|几|多少|请问|麻烦|提供|发一下|告诉|方便|确认|是否")
# ...unless it only invites a new matter (有什么可以帮您, 还有其他问题吗): then the reply is a question
OPEN_INVITE = re.compile(r"有什么(问题|可以|需要|能)|还有(其他|别的|什么)|(什么|哪些)(问题|事)?(可以|能)?(帮|为)(到)?您|"
                         r"(帮|为)您(处理|解决|服务)")
# the shopper's line is itself a question
ASKS = re.compile(r"[?？]|吗|么|呢|什么|啥|怎么|咋|多少|多久|多长|几|哪|想知道|想问|请问|能不能|可不可以|可以不|会不会|有没有|是不是|行不行|要不要|[能会有是]不")
# a line that only greets or calls someone: never the question a fragment points back at
GREETS = re.compile(r"^(亲|在吗|在不在|在的吗|在么|你好|您好|hi|hello|有人吗|有人在吗|客服|老板|喂|哈喽|谢谢|多谢)+"
                    r"[啊呀吗呢哈~～?？!！。.,，\s]*$")
FOLLOW_UP = re.compile(r"^(那|那么|这个|那个)?(.{1,8})呢$")
NOT_A_THING = re.compile(r"^(好|哦|噢|嗯|恩|没|不|已|还|是)|了|过")  # 没有变呢, 哦好呢: no thing to ask about again
MAX_ADDRESS = 60  # characters: a longer line with place names is a story or an invoice, not an address


@dataclass
class Turn:
    sender: str  # "shopper", "agent" or "robot"
    text: str


@dataclass
class Context:
    """The visible text lines before the message (oldest first) and the robot's intent for the last
    shopper question."""

    turns: list[Turn] = field(default_factory=list)
    previous_intent: str | None = None


@dataclass
class Reading:
    kind: str  # question | answers_agent | nothing_more | order_number | address | refers_back | follow_up
    text: str  # what to match: the message, the earlier question it points at, or "" (nothing to match)
    values: dict = field(default_factory=dict)  # e.g. {"order_no": …} from a bare order number
    about: str = ""  # the earlier line the message was read with
    intent: str | None = None

    @property
    def new_question(self) -> bool:
        return self.kind in ("question", "order_number", "refers_back", "follow_up")


def _is_address(plain: str) -> bool:
    marks = len(_ADDRESS_MARK.findall(plain))
    return 6 <= len(plain) <= MAX_ADDRESS and "订单" not in plain and \
        (marks >= 3 or (marks >= 2 and bool(re.search(r"\d", plain))))


def _previous_question(turns: list[Turn]) -> str:
    """The shopper's last line before this one that was a question of its own (not a fragment)."""
    shopper = [t.text for t in turns if t.sender == "shopper"]
    for position in range(len(shopper) - 1, -1, -1):
        earlier = shopper[:position]
        reading = read(shopper[position], Context(turns=[Turn("shopper", s) for s in earlier]), _depth=1)
        plain = re.sub(r"\s+", "", tx.normalize(shopper[position]) or "")
        if reading.kind == "question" and plain and not GREETS.match(plain):
            return shopper[position]
    return ""


def read(text: str, context: Context | None, *, _depth: int = 0) -> Reading:
    """How to read ``text`` given the conversation before it."""
    plain = (tx.normalize(text or "") or "").strip()
    compact = re.sub(r"\s+", "", plain)
    turns = (context.turns if context else [])[-MAX_TURNS:]
    intent = context.previous_intent if context else None
    last = turns[-1] if turns else None
    agent_spoke_last = last is not None and last.sender in ("agent", "robot")
    agent_asked = agent_spoke_last and bool(AGENT_ASKS.search(last.text[-40:])) and \
        not OPEN_INVITE.search(last.text[-40:])
    earlier = _previous_question(turns) if _depth == 0 and turns else ""
    if ORDER_NO.match(compact) and not MOBILE.match(compact):
        number = re.search(r"[a-z]{0,3}\d{8,24}", compact).group(0).upper()
        if earlier:
            return Reading("order_number", earlier, {"order_no": number}, about=earlier, intent=None)
        return Reading("order_number", "", {"order_no": number}, intent=intent or "order_change")
    if _is_address(compact) and not ASKS.search(compact):
        return Reading("address", "", about=last.text if agent_spoke_last else earlier, intent="order_change")
    if REFERS_BACK.search(compact):
        if earlier:
            return Reading("refers_back", earlier, about=earlier)
        return Reading("refers_back", "", intent="other")
    if agent_spoke_last and (ACK.match(compact) or NOTHING_MORE.match(compact)):
        return Reading("nothing_more", "", about=last.text, intent=intent or "greeting")
    if agent_asked and len(compact) <= SHORT and not ASKS.search(compact):
        return Reading("answers_agent", "", about=last.text, intent=intent)
    follow = FOLLOW_UP.match(compact)
    if follow and earlier and len(compact) <= 10 and not ASKS.search(follow.group(2)) \
            and not NOT_A_THING.search(follow.group(2)):
        part = follow.group(2)
        return Reading("follow_up", f"{part} {earlier}", about=earlier)
    return Reading("question", text)
