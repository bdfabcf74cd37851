"""The simulated shopper: rules over the scenario and the scorer's verdict, no network, no database.

Its memory is a small JSON state kept on the session: the question it waits on, the questions
still to ask, how often it went unanswered, how far it bargained and whether it already hurried.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xiaoer.customers.models import ShopperType

ANSWERED = 40.0  # a reply scoring at least this (0–100) answers the pending question
# seconds of silence before the shopper hurries ("在吗？？"); the slow type never does
HURRY_AFTER: dict[str, int | None] = {
    ShopperType.BLUNT: 30, ShopperType.THRIFTY: 45, ShopperType.OUTGOING: 60, ShopperType.PICKY: 60,
    ShopperType.EASYGOING: 120, ShopperType.INDECISIVE: 120, ShopperType.STEADY: 180, ShopperType.SLOW: None,
}
LEAVE_AFTER_HURRY = 3  # silence of this many times HURRY_AFTER: the shopper leaves
# unanswered repeats tolerated before leaving
PATIENCE: dict[str, int] = {
    ShopperType.BLUNT: 1, ShopperType.THRIFTY: 2, ShopperType.PICKY: 2, ShopperType.OUTGOING: 3,
    ShopperType.EASYGOING: 3, ShopperType.INDECISIVE: 3, ShopperType.STEADY: 3, ShopperType.SLOW: 4,
}
BARGAIN_PUSHES = ("能再便宜点吗？", "别家才卖这个价的九折，再少点嘛。")
DEFAULT_PERSUADERS = ("券", "赠品", "小礼品", "包邮", "满减", "优惠", "活动")
CALMING_SITUATIONS = {"complaint", "bad_review", "return"}
REPEAT = {
    ShopperType.BLUNT: "问你话呢：{q}",
    ShopperType.PICKY: "你没回答我的问题：{q}",
    ShopperType.SLOW: "嗯……那{q}",
}
REPEAT_DEFAULT = "你还没回答我呢，{q}"


@dataclass
class Play:
    """A scenario as the shopper sees it."""

    shopper_type: str
    situation: str
    opening: str
    questions: list[str]
    persuaded_by: list[str] = field(default_factory=list)


@dataclass
class Turn:
    lines: list[str]
    outcome: str = ""  # "", "ordered", "calmed" or "left"


def start(play: Play) -> tuple[dict, Turn]:
    state = {"pending": play.opening, "queue": list(play.questions), "misses": 0, "pushes": 0, "hurried": False}
    return state, Turn([play.opening])


def respond(play: Play, state: dict, reply: str, score: float) -> Turn:
    """The shopper's answer to one trainee reply that scored ``score`` against the pending question."""
    state["hurried"] = False
    persuaded = any(w in reply for w in (play.persuaded_by or DEFAULT_PERSUADERS))
    bargaining = state["pushes"] > 0
    if bargaining and persuaded and score >= ANSWERED / 2:
        state["pending"] = ""
        return Turn(["那行吧，有这个我就拍了。"], "ordered")
    if score < ANSWERED:
        return _unanswered(play, state)
    state["misses"] = 0
    if state["queue"]:
        state["pending"] = state["queue"].pop(0)
        return Turn([state["pending"]])
    wants_bargain = play.shopper_type == ShopperType.THRIFTY or play.situation == "bargain"
    if wants_bargain and state["pushes"] < len(BARGAIN_PUSHES):
        state["pending"] = BARGAIN_PUSHES[state["pushes"]]
        state["pushes"] += 1
        return Turn([state["pending"]])
    state["pending"] = ""
    if play.situation in CALMING_SITUATIONS:
        return Turn(["好吧，那就按你说的办。"], "calmed")
    return Turn(["好的，那我拍了。"], "ordered")


def _unanswered(play: Play, state: dict) -> Turn:
    state["misses"] += 1
    if state["misses"] > PATIENCE.get(play.shopper_type, 3):
        state["pending"] = ""
        return Turn(["算了，我去别家看看吧。"], "left")
    if state["pushes"]:  # a bargainer keeps pushing rather than repeating
        return Turn(["就不能再少一点吗？"])
    return Turn([REPEAT.get(play.shopper_type, REPEAT_DEFAULT).format(q=state["pending"])])


def tick(play: Play, state: dict, silence_seconds: float) -> Turn:
    """What the shopper says after ``silence_seconds`` without a reply: hurries once, then leaves."""
    wait = HURRY_AFTER.get(play.shopper_type)
    if not state.get("pending") or wait is None:
        return Turn([])
    if silence_seconds >= wait * LEAVE_AFTER_HURRY:
        state["pending"] = ""
        return Turn(["这么久都不回，不买了。"], "left")
    if silence_seconds >= wait and not state["hurried"]:
        state["hurried"] = True
        return Turn(["在吗？？"])
    return Turn([])
