"""The robot's operations: per-shop index cache, suggestions for messages, robot replies and
hand-off, learning from agents. Chat integration goes through the chat's public functions
(the MessagesCommitted event, hub.publish_event, writer.post_message_sync) only.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import hashlib
import logging
import queue
import threading
import time
import zoneinfo
from collections import OrderedDict

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Shop, Staff
from xiaoer.assistant import encoder as enc
from xiaoer.assistant.context import MAX_TURNS, Context, Turn
from xiaoer.assistant.engine import Entry, ProductInfo, ShopIndex, Tuning
from xiaoer.assistant.models import (
    AssistantSettings,
    ConfirmedPhrasing,
    EmbeddingCache,
    LearnedPair,
    LearnStatus,
    RobotMode,
    Suggestion,
)
from xiaoer.chat import services as chat_services
from xiaoer.chat import writer
from xiaoer.chat.events import MessagesCommitted
from xiaoer.chat.frames import GREETING_CLIENT_ID, is_greeting
from xiaoer.chat.models import Conversation, Message
from xiaoer.conf import setting
from xiaoer.knowledge import services as knowledge_services
from xiaoer.knowledge.events import KnowledgeChanged
from xiaoer.knowledge.models import Product, StandardAnswer
from xiaoer.knowledge.variables import REQUIRED_FOR_ROBOT, fill

log = logging.getLogger(__name__)
HANDOFF_QUIET_SECONDS = 600


# --- vectors cached in the database ----------------------------------------------------------------
class DbVectorStore:
    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            for key, blob in EmbeddingCache.objects.filter(key__in=keys[start:start + 500]).values_list("key", "vector"):
                out[key] = np.frombuffer(bytes(blob), dtype=np.float16).astype(np.float32)
        return out

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        rows = [EmbeddingCache(key=k, vector=np.asarray(v, dtype=np.float16).tobytes()) for k, v in items.items()]
        try:
            EmbeddingCache.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        except Exception:  # a cache, not a record: never fail a rebuild over it
            log.exception("could not store sentence vectors")


_cached_encoder = None
_encoder_lock = threading.Lock()


def shop_encoder():
    """The process's encoder wrapped with the vector cache, or None (lexical only)."""
    global _cached_encoder
    inner = enc.get_encoder()
    if inner is None:
        return None
    with _encoder_lock:
        if _cached_encoder is None or _cached_encoder.inner is not inner:
            _cached_encoder = enc.CachedEncoder(inner, DbVectorStore())
        return _cached_encoder


def generic_vectors(encoder) -> np.ndarray | None:
    if encoder is None:
        return None
    from xiaoer.assistant.data import build_vectors

    return build_vectors.load(encoder.name)  # None: the engine encodes (and the cache keeps) them


# --- the per-shop index, rebuilt when the knowledge version moves ----------------------------------
_indexes: dict[int, tuple[int, ShopIndex]] = {}
_build_locks: dict[int, threading.Lock] = {}
_locks_lock = threading.Lock()


def entries_for(shop_id: int) -> list[Entry]:
    rows = StandardAnswer.objects.filter(shop_id=shop_id, enabled=True).select_related("product")
    confirmed: dict[int, list[str]] = {}
    for answer_id, question in ConfirmedPhrasing.objects.filter(shop_id=shop_id).order_by("id").values_list(
            "answer_id", "question"):
        confirmed.setdefault(answer_id, []).append(question)
    return [Entry(code=a.code, category=a.category, question=a.question, answer=a.answer,
                  similar=[*a.similar, *confirmed.get(a.pk, [])],
                  product_code=a.product.code if a.product else "", pk=a.pk) for a in rows]


_by_content: OrderedDict[str, ShopIndex] = OrderedDict()


def _fingerprint(entries: list[Entry], words: list[str], encoder) -> str:
    h = hashlib.sha1((encoder.name if encoder is not None else "-").encode())
    for e in entries:
        h.update("\x1f".join([e.code, e.category, e.question, e.answer, e.product_code, *e.similar]).encode())
        h.update(b"\x1e")
    h.update("\x1f".join(words).encode())
    return h.hexdigest()


def build_index(shop_id: int) -> ShopIndex:
    """A fresh index; shops with identical knowledge (demo shops, tests, eval runs) share the models."""
    words = list(Product.objects.filter(shop_id=shop_id).values_list("title", flat=True)[:20000])
    encoder = shop_encoder()
    entries = entries_for(shop_id)
    key = _fingerprint(entries, words, encoder)
    with _locks_lock:
        same = _by_content.get(key)
    if same is not None:
        clone = copy.copy(same)
        clone.entries = entries  # same content and order; only the database ids differ
        clone.by_code = {e.code: e for e in entries}
        return clone
    index = ShopIndex(entries, encoder=encoder, shop_words=words, tuning=Tuning.load(lexical_only=encoder is None),
                      generic_vectors=generic_vectors(encoder))
    with _locks_lock:
        _by_content[key] = index
        while len(_by_content) > 8:
            _by_content.popitem(last=False)
    return index


def get_index(shop_id: int) -> ShopIndex:
    version = knowledge_services.knowledge_version(shop_id)
    cached = _indexes.get(shop_id)
    if cached and cached[0] == version:
        return cached[1]
    with _locks_lock:
        lock = _build_locks.setdefault(shop_id, threading.Lock())
    with lock:
        cached = _indexes.get(shop_id)
        if cached and cached[0] == version:
            return cached[1]
        index = build_index(shop_id)
        _indexes[shop_id] = (version, index)
        log.info("robot index for shop %s rebuilt in %.2fs", shop_id, index.build_seconds)
        return index


def warm_indexes() -> int:
    """Build the index of every shop whose robot has work, so that after a restart the first
    shoppers neither wait for a build nor share the CPU with one (bench/chat_bench.py --robot).
    Runs where the robot runs: the chat server (tasks_runtime/runtime.on_started) or each worker."""
    off = AssistantSettings.objects.filter(mode=RobotMode.OFF).values_list("shop_id", flat=True)
    shops = (StandardAnswer.objects.filter(enabled=True).exclude(shop_id__in=off)
             .order_by().values_list("shop_id", flat=True).distinct())
    built = 0
    for shop_id in list(shops):
        get_index(shop_id)
        built += 1
    return built


def warm_server_indexes() -> None:
    if not runs_in_workers():
        warm_indexes()


def forget_indexes() -> None:
    """Drop the per-shop cache (the content-keyed models stay: they depend on content only)."""
    _indexes.clear()


# --- context for one conversation ------------------------------------------------------------------
def product_info(product: Product) -> ProductInfo:
    return ProductInfo(code=product.code, title=product.title, material=product.material, usage=product.usage,
                       precautions=product.precautions, care=product.care, suits=product.suits,
                       not_suits=product.not_suits, size_chart=product.size_chart or {},
                       price="" if product.price is None else f"¥{product.price}", stock=product.stock,
                       related=[{"code": p.code, "title": p.title, "kind": kind}
                                for kind, rel in (("related", product.related), ("upsell", product.upsell))
                                for p in rel.all()[:3]])


_PRODUCT_KEYS = ("product_code", "product", "product_id", "item_id", "code")


def conversation_product(conversation: Conversation) -> Product | None:
    """The product the conversation is about: the latest product card either side sent."""
    cards = Message.objects.filter(conversation=conversation, kind="card").order_by("-seq")[:10]
    for card in cards:
        payload = card.payload or {}
        for key in _PRODUCT_KEYS:
            value = payload.get(key)
            if value in (None, ""):
                continue
            product = Product.objects.filter(shop_id=conversation.shop_id, code=str(value)[:64]).first()
            if product is None and str(value).isdigit():
                product = Product.objects.filter(shop_id=conversation.shop_id, pk=int(value)).first()
            if product is not None:
                return product
    return None


def variable_values(conversation: Conversation) -> dict[str, str]:
    values = {"customer": conversation.customer.name or ""}
    if conversation.seat_id:
        values["seat"] = conversation.seat.display_name
    try:
        from xiaoer.orders import services as order_services

        orders = order_services.orders_of_customer(conversation.customer_id, limit=1)
    except Exception:  # the orders app is optional for the robot
        orders = []
    if orders:
        values["order_no"] = orders[0].order_no
        values["tracking_no"] = getattr(orders[0], "tracking_no", "") or ""
    return values


def conversation_context(conversation: Conversation, before_seq: int | None = None) -> Context:
    """The visible text lines before ``before_seq`` (all when None) and the robot's intent for the
    last shopper question: what a fragment (好的, 暂时没有, an order number) is read with."""
    rows = (Message.objects.filter(conversation=conversation, kind="text", internal=False,
                                   sender_kind__in=("shopper", "agent", "robot"))
            .exclude(client_id__startswith=GREETING_CLIENT_ID))
    if before_seq is not None:
        rows = rows.filter(seq__lt=before_seq)
    turns = [Turn(sender, (body or "")[:500])
             for sender, body in reversed(rows.order_by("-seq").values_list("sender_kind", "body")[:MAX_TURNS])]
    previous = Suggestion.objects.filter(conversation=conversation)
    if before_seq is not None:
        previous = previous.filter(seq__lt=before_seq)
    intent = previous.order_by("-seq", "-id").values_list("intent", flat=True).first()
    return Context(turns=turns, previous_intent=intent)


def suggest_for_text(shop_id: int, text: str, *, product: Product | None = None,
                     values: dict | None = None, use_encoder: bool = True, context: Context | None = None) -> dict:
    index = get_index(shop_id)
    return index.suggest(text, product=product_info(product) if product else None, values=values or {},
                         use_encoder=use_encoder, context=context)


def robot_lag(message: dict, now: dt.datetime | None = None) -> float:
    """Seconds between a message's commit and the robot getting to it (0 when unknown)."""
    try:
        created = dt.datetime.fromisoformat(str(message["created_at"]))
    except (KeyError, TypeError, ValueError):
        return 0.0
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return max(0.0, ((now or timezone.now()) - created).total_seconds())


def behind(message: dict) -> bool:
    """Is the robot so far behind that it should answer with words only (~1 ms, not ~15) to catch up?

    The robot shares the chat server's CPU; a burst of shopper messages beyond what the sentence
    encoder can take (~60 a second a core) would otherwise queue without end (docs/decisions/036)."""
    return robot_lag(message) > float(setting("ASSISTANT_MAX_LAG_SECONDS", 2.0))


# --- messages from the chat ------------------------------------------------------------------------
def current_settings(shop_id: int) -> AssistantSettings:
    """The shop's settings without writing: defaults (suggest mode) until a supervisor saves them."""
    return AssistantSettings.objects.filter(shop_id=shop_id).first() or AssistantSettings(shop_id=shop_id)


def settings_for(shop_id: int) -> AssistantSettings:
    obj, _created = AssistantSettings.objects.get_or_create(shop_id=shop_id)
    return obj


def do_update_settings(staff: Staff, *, mode: str, threshold: float, work_start: dt.time, work_end: dt.time,
                       handoff_text: str) -> AssistantSettings:
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    if mode not in RobotMode.values:
        raise ValidationError(_("未知的机器人模式"))
    if not 0.3 <= threshold <= 0.99:
        raise ValidationError(_("阈值应在 0.3 到 0.99 之间"))
    if not handoff_text.strip() or len(handoff_text) > 200:
        raise ValidationError(_("转人工提示语为空或太长"))
    obj = settings_for(staff.shop_id)
    obj.mode, obj.threshold, obj.work_start, obj.work_end = mode, threshold, work_start, work_end
    obj.handoff_text = handoff_text.strip()
    obj.save()
    forget_active(staff.shop_id)
    return obj


def in_working_hours(cfg: AssistantSettings, shop: Shop, now: dt.datetime | None = None) -> bool:
    now = (now or timezone.now()).astimezone(zoneinfo.ZoneInfo(shop.timezone or "Asia/Shanghai"))
    start, end, t = cfg.work_start, cfg.work_end, now.time()
    return start <= t < end if start <= end else (t >= start or t < end)


def agents_online(shop_id: int) -> bool:
    """Someone takes shoppers now (the chat's routing rule: available and at a workbench)."""
    from xiaoer.chat import services as chat_services

    return chat_services.seats_available(shop_id)


def robot_decision(cfg: AssistantSettings, shop: Shop, suggestion: dict, now: dt.datetime | None = None) -> str:
    """"answer", "handoff" or "none" (leave it to the agent)."""
    if cfg.mode in (RobotMode.OFF, RobotMode.SUGGEST):
        return "none"
    if cfg.mode == RobotMode.UNATTENDED and agents_online(shop.id) and in_working_hours(cfg, shop, now):
        return "none"
    if (suggestion.get("context") or {}).get("kind") == "nothing_more":
        return "none"  # 好的, 暂时没有: the shopper is done, neither an answer nor a hand-off is due
    if suggestion.get("handoff"):
        return "handoff"
    top = suggestion["answers"][0] if suggestion.get("answers") else None
    sendable = top is not None and not suggestion["reject"] and not (set(top["missing"]) & REQUIRED_FOR_ROBOT)
    if cfg.mode == RobotMode.THRESHOLD:
        return "answer" if sendable and suggestion["confidence"] >= cfg.threshold else "none"
    return "answer" if sendable else "handoff"


def handle_shopper_message(message: dict) -> Suggestion | None:
    """Suggest for one committed shopper text message; maybe answer or hand off (robot mode)."""
    body = (message.get("body") or "").strip()
    if message.get("kind") != "text" or not body or message.get("internal"):
        return None
    shop_id = message.get("shop")
    if shop_id is not None and not robot_active(int(shop_id)):
        return None  # nothing of the shop's own to suggest or send: stay out of the way
    conversation = Conversation.objects.select_related("shop", "customer", "seat").filter(
        pk=message["conversation"]).first()
    if conversation is None or (shop_id is None and not robot_active(conversation.shop_id)):
        return None
    shop = conversation.shop
    cfg = current_settings(shop.id)
    if cfg.mode == RobotMode.OFF:
        return None
    product = conversation_product(conversation)
    values = variable_values(conversation)
    context = conversation_context(conversation, int(message.get("seq") or 0) or None)
    data = suggest_for_text(shop.id, body, product=product, values=values, use_encoder=not behind(message),
                            context=context)
    top = data["answers"][0] if data["answers"] else None
    written = written_answer(conversation, cfg, data)
    # The suggestion (and a written answer) is computed above, outside any transaction: on SQLite a
    # write transaction holds the database lock, and nobody may wait on the robot's thinking.
    with transaction.atomic():
        return _record_and_act(message, conversation, cfg, data, top, written)


# Apps below the robot may write its answers in their own words (drafting, docs/decisions/174):
# fn(conversation, suggestion, settings) -> text, or None to send the standard answer.
_answer_writers: list = []


def register_answer_writer(writer_fn) -> None:
    if writer_fn not in _answer_writers:
        _answer_writers.append(writer_fn)


def written_answer(conversation: Conversation, cfg: AssistantSettings, data: dict) -> str | None:
    """Only where the robot would answer alone anyway (its mode, its threshold): a writer's text."""
    if not _answer_writers or robot_decision(cfg, conversation.shop, data) != "answer":
        return None
    for writer_fn in _answer_writers:
        try:
            text = writer_fn(conversation, data, cfg)
        except Exception:  # a writer failing leaves the standard answer, never silence
            log.exception("answer writer failed for conversation %s", conversation.id)
            continue
        if text:
            return text
    return None


def _record_and_act(message: dict, conversation: Conversation, cfg: AssistantSettings, data: dict,
                    top: dict | None, written: str | None = None) -> Suggestion:
    shop = conversation.shop
    body = (message.get("body") or "").strip()
    suggestion = Suggestion.objects.create(
        shop=shop, conversation=conversation, message_id=int(message["id"]), seq=int(message.get("seq") or 0),
        question=body[:2000], intent=data["intent"], confidence=data["confidence"],
        top_code=top["id"] if top and not data["reject"] else "", top_text=top["text"] if top else "",
        payload=data)
    event = {"message_id": message["id"], "suggestion_id": suggestion.id, **data}
    chat_services.publish_after_commit(shop.id, "suggestion", event, conversation_id=conversation.id)
    decision = robot_decision(cfg, shop, data)
    if decision == "answer":
        _robot_say(conversation, written or top["text"], {"robot": {"answer_id": top["id"], "drafted": bool(written),
                                                                    "confidence": data["confidence"]}},
                   f"robot-{message['id']}")
        Suggestion.objects.filter(pk=suggestion.pk).update(robot_replied=True)
    elif decision == "handoff" and cache.add(f"robot-handoff:{conversation.id}", 1, HANDOFF_QUIET_SECONDS):
        # once per conversation in a while: five unclear lines must not get five hand-off notices
        do_handoff(conversation, data, cfg, message_id=message["id"])
    return suggestion


def _post(conversation_id: int, **kwargs) -> dict | None:
    return writer.post_message_sync(conversation_id, **kwargs)


def _robot_say(conversation: Conversation, text: str, payload: dict, client_id: str) -> dict | None:
    return _post(conversation.id, sender_kind="robot", kind="text", body=text[:5000], payload=payload,
                 client_id=client_id[:64])


def do_handoff(conversation: Conversation, data: dict, cfg: AssistantSettings, *, message_id) -> None:
    """Tell the shopper a person is coming (the shop's own words) and leave the agent what the robot knows."""
    _robot_say(conversation, cfg.handoff_text, {"robot": {"handoff": True}}, f"handoff-{message_id}")
    lines = [_("机器人转人工：%s") % data.get("text", "")[:200],
             _("意图：%(label)s（%(conf).0f%%）") % {"label": data.get("intent_label", ""),
                                                  "conf": 100 * data.get("intent_confidence", 0)}]
    if data.get("answers"):
        lines.append(_("最接近的标准答案：%(id)s %(q)s") % {"id": data["answers"][0]["id"],
                                                         "q": data["answers"][0]["question"]})
    if data.get("size"):
        lines.append(_("尺码建议：%(size)s（%(reason)s）") % data["size"])
    if data.get("measures"):
        lines.append(_("顾客身材：%s") % data["measures"])
    _post(conversation.id, sender_kind="system", kind="event", body="\n".join(lines)[:2000],
          payload={"handoff": {"intent": data.get("intent"), "confidence": data.get("confidence")}},
          internal=True, client_id=f"handoff-note-{message_id}")
    handoff = {"conversation": conversation.id, "text": "\n".join(lines)[:2000]}
    chat_services.publish_after_commit(conversation.shop_id, "handoff", handoff, conversation_id=conversation.id)


# --- learning from agents --------------------------------------------------------------------------
def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def handle_agent_message(message: dict) -> LearnedPair | None:
    """An agent's reply that is not the top suggestion becomes a (question, reply) pair to review."""
    body = (message.get("body") or "").strip()
    if message.get("kind") != "text" or not body or message.get("internal") or is_greeting(message.get("client_id")):
        return None  # a seat's greeting answers no question
    reply_seq = int(message.get("seq") or 0)
    last = Suggestion.objects.filter(conversation_id=message["conversation"], seq__lt=reply_seq).order_by(
        "-seq", "-id").first()
    if last is None or last.robot_replied:
        return None
    # Pair a reply only with the turn it answers: the first reply after that question, with no
    # newer shopper message (an image, a card) it could be answering instead.
    between = (Message.objects.filter(conversation_id=message["conversation"], seq__gt=last.seq, seq__lt=reply_seq)
               .exclude(client_id__startswith=GREETING_CLIENT_ID))
    if between.filter(Q(sender_kind="shopper") | Q(sender_kind__in=("agent", "robot"), internal=False)).exists():
        return None
    if _confirm_suggested_answer(last, body, message.get("staff")):
        return None  # the agent chose one of the shop's answers: learnt at once, nothing to review
    if LearnedPair.objects.filter(conversation_id=message["conversation"], question=last.question).exists():
        return None  # one pair per question: follow-up lines of the same reply are not new lessons
    if last.top_text and _similar(body, last.top_text) >= 0.8:
        return None
    return LearnedPair.objects.create(shop_id=last.shop_id, conversation_id=last.conversation_id,
                                      question=last.question, reply=body[:2000], suggested_code=last.top_code,
                                      suggested_text=last.top_text, intent=last.intent,
                                      staff_id=message.get("staff"))


MAX_CONFIRMED_QUESTION = 200  # characters: a longer message is a story, not a phrasing


def _confirm_suggested_answer(suggestion: Suggestion, reply: str, staff_id: int | None) -> bool:
    """The agent's reply is one of the suggested standard answers, but not the one the robot would
    have sent (another of the three, or any when it said nothing fits): the question becomes a
    phrasing of that answer for this shop, in the live index as soon as the reply commits."""
    payload = suggestion.payload or {}
    if (payload.get("context") or {}).get("kind", "question") != "question":
        return False  # a fragment (an order number, 好的) read with the conversation is no phrasing
    question = suggestion.question.strip()
    if not question or len(question) > MAX_CONFIRMED_QUESTION:
        return False
    offered = [a for a in payload.get("answers") or [] if a.get("pk")]
    offered += [o["answer"] for o in payload.get("others") or [] if (o.get("answer") or {}).get("pk")]
    chosen = next((a for a in offered if _similar(reply, a.get("text") or "") >= 0.8), None)
    if chosen is None:
        return False
    if chosen["id"] == suggestion.top_code:
        return True  # the robot's own first answer: right already
    answer = StandardAnswer.objects.filter(shop_id=suggestion.shop_id, pk=chosen["pk"], enabled=True).first()
    if answer is None:
        return False
    _row, created = ConfirmedPhrasing.objects.get_or_create(
        shop_id=suggestion.shop_id, answer=answer, question=question[:500],
        defaults={"conversation_id": suggestion.conversation_id, "staff_id": staff_id})
    if created:
        shop_id, code = suggestion.shop_id, answer.code
        transaction.on_commit(lambda: learn_now(shop_id, question, code))
    return True


def learn_now(shop_id: int, question: str, code: str) -> None:
    """Add a confirmed phrasing to this process's index of the shop without a rebuild. Other
    processes (workers, scaled out) take it at their next rebuild: it is stored (entries_for)."""
    with _locks_lock:
        cached = _indexes.get(shop_id)
        if cached is not None and cached[0] == knowledge_services.knowledge_version(shop_id):
            _indexes[shop_id] = (cached[0], cached[1].with_phrasing(question, code))


ACTIVE_CACHE_SECONDS = 5.0
_active_cache: dict[int, tuple[float, bool]] = {}


def robot_active(shop_id: int) -> bool:
    """Does the robot have anything to do for this shop (own answers, mode not off)?

    Cached per process for a few seconds: the hook sees every committed chat batch, and shops
    without knowledge must cost it nothing, not queries per message (bench/chat_bench.py)."""
    now = time.monotonic()
    cached = _active_cache.get(shop_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    active = (current_settings(shop_id).mode != RobotMode.OFF
              and StandardAnswer.objects.filter(shop_id=shop_id, enabled=True).exists())
    _active_cache[shop_id] = (now + ACTIVE_CACHE_SECONDS, active)
    return active


def forget_active(shop_id: int) -> None:
    """Knowledge or robot settings changed in this process: look again at the next message."""
    _active_cache.pop(shop_id, None)


def on_knowledge_changed(event: KnowledgeChanged) -> None:
    """Live listener (AppConfig.ready): look again at the shop and queue one index rebuild. Live is
    enough: the index is rebuilt lazily on the next suggestion anyway (version check in get_index)."""
    from xiaoer.assistant import tasks

    forget_active(event.shop_id)
    tasks.schedule_rebuild(event.shop_id)


def process_messages(messages: list[dict]) -> None:
    """Suggest for shopper messages and learn from agent replies, one message at a time."""
    for message in messages:
        if message.get("shop") is not None and not robot_active(int(message["shop"])):
            continue
        try:
            if message.get("sender_kind") == "shopper":
                handle_shopper_message(message)
            elif message.get("sender_kind") == "agent":
                with transaction.atomic():
                    handle_agent_message(message)
        except Exception:
            log.exception("robot failed on message %s", message.get("id"))


class RobotWorker:
    """One thread, a bounded queue: the robot's share of the chat server's CPU.

    The robot is CPU work beside the event loop; one thread keeps at most one core busy with it
    and leaves the chat's own after-commit callbacks their pool. Past the queue's bound messages are
    dropped from the robot (the chat has them all; the agent still answers), and a lag of more than
    ASSISTANT_MAX_LAG_SECONDS makes suggestions words-only until it catches up (decision 036)."""

    def __init__(self, maxsize: int = 5000) -> None:
        self.queue: queue.Queue[dict] = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, messages: list[dict]) -> None:
        self._ensure_thread()
        for message in messages:
            try:
                self.queue.put_nowait(message)
            except queue.Full:
                self.dropped += 1
                if self.dropped % 1000 == 1:
                    log.warning("robot queue full: %s messages dropped from the robot so far", self.dropped)

    def wait_idle(self) -> None:
        """Block until every message submitted so far is handled (tests, shutdown)."""
        self.queue.join()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="robot", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            message = self.queue.get()
            try:
                process_messages([message])
            finally:
                if self.queue.empty():
                    close_old_connections()
                self.queue.task_done()


WORKER = RobotWorker()


def runs_in_workers() -> bool:
    """Does the robot run in the task workers (scaled-out default) or in the chat server process?"""
    where = str(setting("ASSISTANT_RUN_IN", "") or ("worker" if settings.REDIS_URL else "server"))
    return where.lower() == "worker"


def on_committed(event: MessagesCommitted) -> None:
    """Live listener of the chat's MessagesCommitted: hands the robot's messages to its thread or
    to the workers. Batches of shops without knowledge cost a cached look-up, no query."""
    if not any(row[3] in ("shopper", "agent") for row in event.messages):
        return
    if not any(robot_active(shop_id) for shop_id in event.shop_ids):
        return
    wanted = [m for m in chat_services.committed_messages(event) if m.get("sender_kind") in ("shopper", "agent")
              and (m.get("shop") is None or robot_active(int(m["shop"])))]
    if not wanted:
        return
    if runs_in_workers():
        from xiaoer.assistant import tasks

        tasks.handle_messages(wanted)
    else:
        WORKER.submit(wanted)


def access_pair(staff: Staff, pair_id: int) -> LearnedPair:
    return get_object_or_404(LearnedPair, pk=pair_id, shop_id=staff.shop_id)


def do_learn_as_phrasing(staff: Staff, pair: LearnedPair, answer_code: str) -> StandardAnswer:
    """One step: the shopper's question becomes another phrasing of an existing answer."""
    answer = StandardAnswer.objects.filter(shop_id=staff.shop_id, code=answer_code).first()
    if answer is None:
        raise ValidationError(_("标准答案“%s”不存在") % answer_code[:64])
    knowledge_services.do_add_phrasing(staff, answer, pair.question)
    _resolve(pair, staff, LearnStatus.PHRASING)
    return answer


def do_learn_as_new_answer(staff: Staff, pair: LearnedPair, *, code: str, category: str, question: str = "",
                           answer: str = "") -> StandardAnswer:
    """One step: a new standard answer from the question and the agent's reply (both editable)."""
    obj = knowledge_services.do_save_answer(staff, code=code, category=category,
                                            question=(question or pair.question)[:500], similar=[],
                                            answer=answer or pair.reply)
    _resolve(pair, staff, LearnStatus.NEW_ANSWER)
    return obj


def do_dismiss_pair(staff: Staff, pair: LearnedPair) -> None:
    _resolve(pair, staff, LearnStatus.DISMISSED)


def _resolve(pair: LearnedPair, staff: Staff, status: str) -> None:
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)  # the do_* above: one rule
    pair.status, pair.resolved_by = status, staff
    pair.save(update_fields=["status", "resolved_by"])


def latest_suggestion(conversation: Conversation) -> Suggestion | None:
    return Suggestion.objects.filter(conversation=conversation).order_by("-seq", "-id").first()


def access_conversation(staff: Staff, conversation_id: int) -> Conversation:
    """The chat's own rule: a conversation of the caller's shop, for the roles that chat."""
    from xiaoer.chat import services as chat_services

    return chat_services.access_conversation(staff, conversation_id)


def refill(conversation: Conversation, payload: dict) -> dict:
    """A stored suggestion with its answers' variables filled from the conversation as it is now:
    after a reassignment {客服} is the seat that will send it, not the one it was computed for."""
    data = dict(payload)
    answers = [a for a in data.get("answers") or []] + [o["answer"] for o in data.get("others") or [] if o.get("answer")]
    templates = dict(StandardAnswer.objects.filter(
        shop_id=conversation.shop_id, pk__in=[a["pk"] for a in answers if a.get("pk")]).values_list("pk", "answer"))
    if not templates:
        return data
    values = variable_values(conversation)
    product = conversation_product(conversation)
    if product is not None:
        values.setdefault("product", product.title)

    def filled(answer: dict) -> dict:
        if answer.get("pk") not in templates:
            return answer
        text, missing = fill(templates[answer["pk"]], values)
        return {**answer, "text": text, "missing": missing}

    data["answers"] = [filled(a) for a in data.get("answers") or []]
    data["others"] = [{**o, "answer": filled(o["answer"]) if o.get("answer") else o.get("answer")}
                      for o in data.get("others") or []]
    return data


def panel_suggestion(staff: Staff, conversation_id: int) -> tuple[Conversation, dict | None]:
    """For the side panel: the stored suggestion of the latest shopper message, else computed now."""
    conversation = access_conversation(staff, conversation_id)
    last_msg = Message.objects.filter(conversation=conversation, sender_kind="shopper", kind="text",
                                      internal=False).order_by("-seq").first()
    if last_msg is None:
        return conversation, None
    stored = Suggestion.objects.filter(conversation=conversation, message_id=last_msg.id).first()
    if stored is not None:
        return conversation, refill(conversation, stored.payload)
    product = conversation_product(conversation)
    return conversation, suggest_for_text(conversation.shop_id, last_msg.body, product=product,
                                          values=variable_values(conversation),
                                          context=conversation_context(conversation, last_msg.seq))
