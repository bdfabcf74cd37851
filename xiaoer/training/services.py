"""Training operations: scenarios, role-play sessions against the simulated shopper, scores.

Sessions and their messages are training's own rows: nothing here creates or changes a real
Conversation, Customer or Order, emits an event or a notice (docs/training.md).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from statistics import mean

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from xiaoer.accounts.models import Staff
from xiaoer.accounts.services import CHAT_ROLES, SUPERVISOR_ROLES, require_role
from xiaoer.assistant import services as assistant_services
from xiaoer.customers.models import ShopperType
from xiaoer.knowledge.models import Product
from xiaoer.training import simulator
from xiaoer.training.models import Exam, Scenario, SessionStatus, Situation, TrainingMessage, TrainingSession
from xiaoer.training.scorer import ReplyScorer

MAX_REPLY = 1000
MAX_QUESTIONS = 8
FAST_REPLY_SECONDS = 30
SLOW_REPLY_SECONDS = 90
OUTCOME_POINTS = {SessionStatus.ORDERED: 10.0, SessionStatus.CALMED: 10.0, SessionStatus.LEFT: -20.0}
_PRICE_CUT = re.compile(r"便宜\s*\d+|少\s*\d+\s*[元块]|降价|给您打\s*\S?折|按\s*\d+\s*[元块]")
_APOLOGY = re.compile(r"抱歉|对不起|不好意思|理解")

_scorers: dict[int, tuple[object, ReplyScorer]] = {}
_scorers_lock = threading.Lock()


def scorer_for(shop_id: int) -> ReplyScorer:
    """The shop's scorer over the robot's current index (rebuilt when the knowledge changes)."""
    index = assistant_services.get_index(shop_id)
    with _scorers_lock:
        cached = _scorers.get(shop_id)
        if cached is None or cached[0] is not index:
            cached = (index, ReplyScorer(index))
            _scorers[shop_id] = cached
    return cached[1]


# --- scenarios -------------------------------------------------------------------------------------
def scenarios(staff: Staff) -> list[Scenario]:
    require_role(staff, CHAT_ROLES)
    return list(Scenario.objects.filter(shop_id=staff.shop_id).select_related("product"))


def access_scenario(staff: Staff, scenario_id: int) -> Scenario:
    require_role(staff, CHAT_ROLES)
    scenario = Scenario.objects.filter(shop_id=staff.shop_id, pk=scenario_id).first()
    if scenario is None:
        raise Http404("no such scenario")
    return scenario


def _clean_questions(questions: list[str]) -> list[str]:
    return [q.strip()[:500] for q in questions if q and q.strip()][:MAX_QUESTIONS]


def do_create_scenario(staff: Staff | None, *, shop_id: int | None = None, title: str, opening: str,
                       situation: str = Situation.PRODUCT, shopper_type: str = ShopperType.EASYGOING,
                       questions: list[str] | None = None, product: Product | None = None, goal: str = "",
                       hidden_facts: str = "", order_facts: str = "", persuaded_by: list[str] | None = None,
                       source_conversation_id: int | None = None) -> Scenario:
    """Supervisors and owners write scenarios; None (the demo seed) passes ``shop_id``."""
    if staff is not None:
        require_role(staff, SUPERVISOR_ROLES)
        shop_id = staff.shop_id
    if situation not in Situation.values or shopper_type not in ShopperType.values:
        raise ValidationError("unknown situation or shopper type")
    if not title.strip() or not opening.strip():
        raise ValidationError("a scenario needs a title and an opening line")
    if product is not None and product.shop_id != shop_id:
        raise Http404("no such product")
    with transaction.atomic(savepoint=False):
        return Scenario.objects.create(
            shop_id=shop_id, title=title.strip()[:100], opening=opening.strip()[:500], situation=situation,
            shopper_type=shopper_type, questions=_clean_questions(questions or []), product=product,
            goal=goal[:200], hidden_facts=hidden_facts[:2000], order_facts=order_facts[:2000],
            persuaded_by=[w.strip()[:20] for w in (persuaded_by or []) if w.strip()][:10],
            source_conversation_id=source_conversation_id, created_by=staff)


def do_scenario_from_conversation(staff: Staff, conversation_id: int) -> Scenario:
    """One step: a past conversation's shopper lines become the opening and the questions, its
    customer's type the shopper type, its product card the product. Only the text is copied."""
    from xiaoer.chat.models import Message

    require_role(staff, SUPERVISOR_ROLES)
    conversation = assistant_services.access_conversation(staff, conversation_id)
    lines = list(Message.objects.filter(conversation=conversation, sender_kind="shopper", kind="text",
                                        internal=False).order_by("seq").values_list("body", flat=True)[:20])
    lines = [t.strip() for t in lines if t and t.strip()]
    if not lines:
        raise ValidationError("the conversation has no shopper text to play")
    title = f"会话 #{conversation.pk}：{lines[0][:30]}"
    existing = Scenario.objects.filter(shop_id=staff.shop_id, title=title[:100]).first()
    if existing is not None:
        return existing
    return do_create_scenario(
        staff, title=title, opening=lines[0], questions=lines[1:], situation=Situation.PRODUCT,
        shopper_type=conversation.customer.shopper_type or ShopperType.EASYGOING,
        product=assistant_services.conversation_product(conversation), source_conversation_id=conversation.pk)


def _play(scenario: Scenario) -> simulator.Play:
    return simulator.Play(shopper_type=scenario.shopper_type, situation=scenario.situation, opening=scenario.opening,
                          questions=list(scenario.questions), persuaded_by=list(scenario.persuaded_by))


# --- sessions --------------------------------------------------------------------------------------
def access_session(staff: Staff, session_id: int) -> TrainingSession:
    """A trainee sees their own sessions; supervisors and owners every session of their shop."""
    require_role(staff, CHAT_ROLES)
    qs = TrainingSession.objects.filter(shop_id=staff.shop_id, pk=session_id).select_related("scenario")
    if staff.role not in SUPERVISOR_ROLES:
        qs = qs.filter(trainee=staff)
    session = qs.first()
    if session is None:
        raise Http404("no such session")
    return session


def my_sessions(staff: Staff, limit: int = 20) -> list[TrainingSession]:
    require_role(staff, CHAT_ROLES)
    return list(TrainingSession.objects.filter(shop_id=staff.shop_id, trainee=staff)
                .select_related("scenario")[:limit])


def _say(session: TrainingSession, lines: list[str], now: dt.datetime) -> None:
    for line in lines:
        TrainingMessage.objects.create(session=session, shop_id=session.shop_id, from_shopper=True, text=line, at=now)


def do_start_session(staff: Staff, scenario: Scenario, now: dt.datetime | None = None) -> TrainingSession:
    require_role(staff, CHAT_ROLES)
    if scenario.shop_id != staff.shop_id:
        raise Http404("no such scenario")
    now = now or timezone.now()
    state, turn = simulator.start(_play(scenario))
    with transaction.atomic(savepoint=False):
        session = TrainingSession.objects.create(shop_id=staff.shop_id, scenario=scenario, trainee=staff,
                                                 state=state, started_at=now)
        _say(session, turn.lines, now)
    return session


def _own_active(staff: Staff, session: TrainingSession) -> None:
    if session.trainee_id != staff.pk:
        raise PermissionDenied("只有练习者本人可以回复")
    if session.status != SessionStatus.ACTIVE:
        raise ValidationError("这次练习已经结束")


def _last_shopper_at(session: TrainingSession) -> dt.datetime:
    last = session.messages.filter(from_shopper=True).order_by("-pk").first()
    return last.at if last else session.started_at


def do_reply(staff: Staff, session: TrainingSession, text: str, now: dt.datetime | None = None) -> TrainingMessage:
    """The trainee's reply: scored with reasons, then the simulated shopper answers."""
    _own_active(staff, session)
    text = (text or "").strip()[:MAX_REPLY]
    if not text:
        raise ValidationError("回复不能为空")
    now = now or timezone.now()
    scenario = session.scenario
    pending = session.state.get("pending") or scenario.opening
    judgement = scorer_for(session.shop_id).judge(pending, text)
    reasons = list(judgement.reasons)
    points = judgement.score + _timing(reasons, (now - _last_shopper_at(session)).total_seconds())
    points += _type_fit(reasons, scenario, text)
    score = round(max(0.0, min(100.0, points)), 1)
    play, state = _play(scenario), dict(session.state)
    turn = simulator.respond(play, state, text, judgement.score)
    with transaction.atomic(savepoint=False):
        message = TrainingMessage.objects.create(session=session, shop_id=session.shop_id, from_shopper=False,
                                                 text=text, at=now, score=score, reasons=reasons,
                                                 better_answer=judgement.better_answer)
        _say(session, turn.lines, now)
        session.state = state
        if turn.outcome:
            _finish(session, turn.outcome, now)
        session.save()
    return message


def _timing(reasons: list[dict], seconds: float) -> float:
    if seconds <= FAST_REPLY_SECONDS:
        reasons.append({"points": 0.0, "text": f"回复及时（{seconds:.0f} 秒）"})
        return 0.0
    lost = -5.0 if seconds <= SLOW_REPLY_SECONDS else -15.0
    reasons.append({"points": lost, "text": f"回复慢（{seconds:.0f} 秒）"})
    return lost


def _type_fit(reasons: list[dict], scenario: Scenario, text: str) -> float:
    """The handling tips of the type (crm's tips), checked where a rule can see them."""
    kind = scenario.shopper_type
    if kind == ShopperType.THRIFTY and _PRICE_CUT.search(text):
        reasons.append({"points": -10.0, "text": "精明型：不要轻易让价，可以用赠品或包邮代替"})
        return -10.0
    if kind == ShopperType.BLUNT and len(text) > 80:
        reasons.append({"points": -10.0, "text": "直爽型：回复太长，先给答案再给理由"})
        return -10.0
    if (kind == ShopperType.PICKY or scenario.situation in simulator.CALMING_SITUATIONS) and \
            not _APOLOGY.search(text) and not scenario.persuaded_by:
        reasons.append({"points": -5.0, "text": "先认同顾客的感受（抱歉、理解），再解释"})
        return -5.0
    return 0.0


def _finish(session: TrainingSession, outcome: str, now: dt.datetime) -> None:
    session.status = outcome
    session.ended_at = now
    scores = list(session.messages.filter(from_shopper=False, score__isnull=False).values_list("score", flat=True))
    base = mean(scores) if scores else 0.0
    bonus = OUTCOME_POINTS.get(outcome, 0.0)
    session.score = round(max(0.0, min(100.0, base + bonus)), 1)
    session.reasons = [{"points": round(base, 1), "text": f"{len(scores)} 条回复的平均分"},
                       {"points": bonus, "text": "结果：" + str(SessionStatus(outcome).label)}]


def do_tick(staff: Staff, session: TrainingSession, now: dt.datetime | None = None) -> list[TrainingMessage]:
    """The page polls: after a silence the shopper hurries ("在吗？？") or leaves."""
    _own_active(staff, session)
    now = now or timezone.now()
    last = session.messages.order_by("-pk").first()
    silence = (now - (last.at if last else session.started_at)).total_seconds()
    state = dict(session.state)
    turn = simulator.tick(_play(session.scenario), state, silence)
    if not turn.lines:
        return []
    with transaction.atomic(savepoint=False):
        before = session.messages.count()
        _say(session, turn.lines, now)
        session.state = state
        if turn.outcome:
            _finish(session, turn.outcome, now)
        session.save()
        return list(session.messages.all()[before:])


def do_end_session(staff: Staff, session: TrainingSession, now: dt.datetime | None = None) -> TrainingSession:
    _own_active(staff, session)
    with transaction.atomic(savepoint=False):
        _finish(session, SessionStatus.ENDED, now or timezone.now())
        session.save()
    return session


# --- exams -----------------------------------------------------------------------------------------
def do_create_exam(staff: Staff, *, title: str, scenario_ids: list[int], trainee_ids: list[int], pass_mark: int,
                   deadline: dt.datetime) -> Exam:
    """Only supervisors and owners set exams; scenarios and trainees of their own shop."""
    require_role(staff, SUPERVISOR_ROLES)
    scenarios_ = list(Scenario.objects.filter(shop_id=staff.shop_id, pk__in=scenario_ids[:50]))
    trainees = list(Staff.objects.filter(shop_id=staff.shop_id, pk__in=trainee_ids[:200], role__in=CHAT_ROLES))
    if not title.strip() or not scenarios_ or not trainees:
        raise ValidationError("考试需要标题、至少一个情景和一位学员")
    if not 0 <= pass_mark <= 100:
        raise ValidationError("及格分在 0 到 100 之间")
    with transaction.atomic(savepoint=False):
        exam = Exam.objects.create(shop_id=staff.shop_id, title=title.strip()[:100], pass_mark=pass_mark,
                                   deadline=deadline, created_by=staff)
        exam.scenarios.set(scenarios_)
        exam.trainees.set(trainees)
    return exam


def exams(staff: Staff) -> list[Exam]:
    """Supervisors see every exam of the shop; a trainee the exams assigned to them."""
    require_role(staff, CHAT_ROLES)
    qs = Exam.objects.filter(shop_id=staff.shop_id)
    if staff.role not in SUPERVISOR_ROLES:
        qs = qs.filter(trainees=staff)
    return list(qs)


def access_exam(staff: Staff, exam_id: int) -> Exam:
    exam = next((e for e in exams(staff) if e.pk == exam_id), None) if exam_id else None
    if exam is None:
        raise Http404("no such exam")
    return exam


def do_start_exam_session(staff: Staff, exam: Exam, scenario: Scenario,
                          now: dt.datetime | None = None) -> TrainingSession:
    now = now or timezone.now()
    if not exam.trainees.filter(pk=staff.pk).exists() or not exam.scenarios.filter(pk=scenario.pk).exists():
        raise Http404("not in this exam")
    if now > exam.deadline:
        raise ValidationError("考试已截止")
    session = do_start_session(staff, scenario, now=now)
    session.exam = exam
    session.save(update_fields=["exam"])
    return session


def exam_results(staff: Staff, exam: Exam) -> list[dict]:
    """Per trainee (a trainee sees only their own row): the best finished score per scenario before
    the deadline, their mean over all the exam's scenarios (missing = 0) and whether it passes."""
    scenario_ids = list(exam.scenarios.values_list("pk", flat=True))
    trainees = list(exam.trainees.all())
    if staff.role not in SUPERVISOR_ROLES:
        trainees = [t for t in trainees if t.pk == staff.pk]
    rows = []
    for trainee in trainees:
        best: dict[int, float] = {}
        for scenario_id, score in TrainingSession.objects.filter(
                exam=exam, trainee=trainee, score__isnull=False, ended_at__lte=exam.deadline
        ).values_list("scenario_id", "score"):
            best[scenario_id] = max(best.get(scenario_id, 0.0), score)
        average = round(sum(best.get(s, 0.0) for s in scenario_ids) / max(len(scenario_ids), 1), 1)
        rows.append({"trainee": trainee, "done": len(best), "total": len(scenario_ids), "score": average,
                     "passed": len(best) == len(scenario_ids) and average >= exam.pass_mark})
    return rows
