"""Questionnaires: the shop builds a short one, sends it as a link (chat card or SMS), the shopper
answers on a public page reached by a signed link; answers fill mapped profile fields and the
first completion issues the questionnaire's coupon batch (docs/customers-care.md, decision 146).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Shop, Staff
from xiaoer.conf import int_setting
from xiaoer.crm import coupons
from xiaoer.crm.models import (
    Coupon,
    CouponReason,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireResponse,
)
from xiaoer.customers.models import CustomAttribute, Customer, CustomerAttributeValue, Gender

MAX_QUESTIONS = 20
MAX_CHOICES = 10
MAX_TEXT_ANSWER = 500
LINK_SALT = "xiaoer.crm.questionnaire"
PROFILE_TARGETS = ("gender", "birthday", "city", "age_band")  # plus "attr:<custom attribute key>"
MANAGE_ROLES = account_services.SUPERVISOR_ROLES


def link_max_age() -> int:
    """Seconds a questionnaire link stays valid (setting CRM_QUESTIONNAIRE_LINK_DAYS, default 30)."""
    return int_setting("CRM_QUESTIONNAIRE_LINK_DAYS", 30) * 86400


# --- building ----------------------------------------------------------------------------------

def check_question(raw: dict, shop_id: int) -> dict:
    text = str(raw.get("text") or "").strip()
    if not text or len(text) > 200:
        raise ValidationError(_("题目不能为空，最长 200 字"))
    kind = raw.get("kind") or QuestionKind.SINGLE
    if kind not in QuestionKind.values:
        raise ValidationError(_("未知题型"))
    choices = [str(c).strip() for c in (raw.get("choices") or []) if str(c).strip()]
    if kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
        if not 2 <= len(choices) <= MAX_CHOICES or any(len(c) > 40 for c in choices):
            raise ValidationError(_("选择题需要 2 到 10 个选项，每个最长 40 字"))
        if len(set(choices)) != len(choices):
            raise ValidationError(_("选项不能重复"))
    else:
        choices = []
    maps_to = str(raw.get("maps_to") or "").strip()
    _check_target(maps_to, kind, shop_id)
    return {"text": text, "kind": kind, "choices": choices, "required": bool(raw.get("required")),
            "maps_to": maps_to}


def _check_target(maps_to: str, kind: str, shop_id: int) -> None:
    if not maps_to:
        return
    if maps_to.startswith("attr:"):
        if not CustomAttribute.objects.filter(shop_id=shop_id, key=maps_to[5:]).exists():
            raise ValidationError(_("没有这个自定义属性: %(key)s") % {"key": maps_to[5:40]})
        return
    if maps_to not in PROFILE_TARGETS:
        raise ValidationError(_("不能映射到这个资料字段"))
    if maps_to == "birthday" and kind != QuestionKind.DATE:
        raise ValidationError(_("生日只能由日期题填写"))
    if maps_to in ("gender", "age_band") and kind != QuestionKind.SINGLE:
        raise ValidationError(_("性别和年龄段只能由单选题填写"))
    if kind == QuestionKind.MULTIPLE:
        raise ValidationError(_("多选题不能映射到资料字段"))


def do_save_questionnaire(staff: Staff, *, title: str, intro: str = "", questions: list[dict],
                          coupon_batch_id: int | None = None, active: bool = True,
                          questionnaire: Questionnaire | None = None) -> Questionnaire:
    """Create (or replace the questions of) a questionnaire. Questions of one already answered
    are kept as they were: answers point at them (ValidationError)."""
    account_services.require_role(staff, MANAGE_ROLES)
    title = (title or "").strip()
    if not title or len(title) > 60:
        raise ValidationError(_("问卷标题不能为空，最长 60 字"))
    intro = (intro or "").strip()
    if len(intro) > 300:
        raise ValidationError(_("问卷说明最长 300 字"))
    if not 1 <= len(questions or []) <= MAX_QUESTIONS:
        raise ValidationError(_("问卷需要 1 到 20 道题"))
    cleaned = [check_question(q if isinstance(q, dict) else {}, staff.shop_id) for q in questions]
    batch = coupons.batch_for_shop(staff.shop_id, coupon_batch_id)
    if questionnaire is not None:
        if questionnaire.shop_id != staff.shop_id:
            raise Http404("questionnaire not found")
        if questionnaire.responses.exists():
            raise ValidationError(_("已有人作答，题目不能再改；可以新建一份问卷"))
    with transaction.atomic(savepoint=False):
        if questionnaire is None:
            questionnaire = Questionnaire.objects.create(shop_id=staff.shop_id, title=title, intro=intro,
                                                         coupon_batch=batch, active=active, created_by=staff)
        else:
            Questionnaire.objects.filter(pk=questionnaire.pk).update(title=title, intro=intro, coupon_batch=batch,
                                                                     active=active)
            questionnaire.questions.all().delete()
            questionnaire.refresh_from_db()
        Question.objects.bulk_create([Question(questionnaire=questionnaire, position=i, **q)
                                      for i, q in enumerate(cleaned, 1)])
    return questionnaire


def do_set_active(staff: Staff, questionnaire: Questionnaire, active: bool) -> None:
    account_services.require_role(staff, MANAGE_ROLES)
    Questionnaire.objects.filter(pk=questionnaire.pk, shop_id=staff.shop_id).update(active=bool(active))


def access_questionnaire(staff: Staff, questionnaire_id: int) -> Questionnaire:
    """A questionnaire of STAFF's shop (agents may read them, to send one)."""
    account_services.require_role(staff, account_services.CHAT_ROLES)
    try:
        return Questionnaire.objects.get(pk=questionnaire_id, shop_id=staff.shop_id)
    except (Questionnaire.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("questionnaire not found") from None


def questionnaires_of(staff: Staff) -> list[Questionnaire]:
    account_services.require_role(staff, account_services.CHAT_ROLES)
    return list(Questionnaire.objects.filter(shop_id=staff.shop_id).select_related("coupon_batch"))


# --- links -------------------------------------------------------------------------------------

def make_token(questionnaire: Questionnaire, customer: Customer) -> str:
    """Signed with the site key and the shop's own secret: a link names one questionnaire for
    one customer and cannot be altered to another."""
    signer = signing.TimestampSigner(salt=f"{LINK_SALT}:{questionnaire.shop.secret}")
    return signer.sign_object({"q": questionnaire.pk, "c": customer.pk})


def link_path(questionnaire: Questionnaire, customer: Customer) -> str:
    return reverse("crm-questionnaire-answer", args=[questionnaire.shop.slug, make_token(questionnaire, customer)])


def link_url(questionnaire: Questionnaire, customer: Customer) -> str:
    """Absolute link for an SMS (needs PUBLIC_URL); the chat card uses the path."""
    base = getattr(settings, "PUBLIC_URL", "")
    if not base:
        raise ValidationError(_("没有设置 PUBLIC_URL，短信里的链接打不开"))
    return base + link_path(questionnaire, customer)


def resolve_token(shop_slug: str, token: str) -> tuple[Questionnaire, Customer]:
    """The questionnaire and customer a link names; Http404 for anything else (bad, expired,
    another shop's, an inactive questionnaire)."""
    shop = Shop.objects.filter(slug=str(shop_slug)[:50]).first()
    if shop is None or len(token or "") > 300:
        raise Http404("not found")
    signer = signing.TimestampSigner(salt=f"{LINK_SALT}:{shop.secret}")
    try:
        data = signer.unsign_object(token, max_age=link_max_age())
        questionnaire = Questionnaire.objects.select_related("shop", "coupon_batch").get(
            pk=int(data["q"]), shop=shop, active=True)
        customer = Customer.objects.get(pk=int(data["c"]), shop=shop)
    except (signing.BadSignature, KeyError, TypeError, ValueError, Questionnaire.DoesNotExist,
            Customer.DoesNotExist):
        raise Http404("not found") from None
    return questionnaire, customer


# --- sending -----------------------------------------------------------------------------------

def chat_card(shop_id: int, customer_id: int, ref) -> tuple[str, dict]:
    """The chat's questionnaire card (registered with xiaoer.chat.cards as "questionnaire")."""
    try:
        questionnaire = Questionnaire.objects.select_related("shop").get(pk=int(ref), shop_id=shop_id, active=True)
        customer = Customer.objects.get(pk=customer_id, shop_id=shop_id)
    except (Questionnaire.DoesNotExist, Customer.DoesNotExist, TypeError, ValueError, OverflowError):
        raise LookupError("questionnaire not found") from None
    body = _("邀请您填写问卷「%(title)s」") % {"title": questionnaire.title}
    return body, {"type": "questionnaire", "questionnaire": questionnaire.pk, "title": questionnaire.title,
                  "url": link_path(questionnaire, customer)}


def do_send_in_chat(staff: Staff, questionnaire: Questionnaire, conversation_id: int) -> dict:
    """The agent sends QUESTIONNAIRE as a link card into a conversation they may answer (the
    chat's card path: the card is built by ``chat_card`` from the database)."""
    from xiaoer.chat import services as chat_services

    conv = chat_services.access_conversation(staff, conversation_id)
    if questionnaire.shop_id != staff.shop_id or not questionnaire.active:
        raise Http404("questionnaire not found")
    return chat_services.post_staff_message(staff, conv, kind="card", payload={"questionnaire": questionnaire.pk})


def do_send_sms(staff: Staff, questionnaire: Questionnaire, customer: Customer) -> str:
    """Queue the invitation by SMS to CUSTOMER's phone, once per questionnaire per customer
    (notice key "questionnaire-<q>-<customer>"). Returns the key."""
    from xiaoer.notify import services as notify_services
    from xiaoer.notify.models import Channel

    account_services.require_role(staff, account_services.CHAT_ROLES)
    if customer.shop_id != staff.shop_id or questionnaire.shop_id != staff.shop_id:
        raise Http404("not found")
    if not questionnaire.active:
        raise ValidationError(_("问卷已停用"))
    if not customer.phone:
        raise ValidationError(_("这位顾客没有手机号"))
    shop = questionnaire.shop
    body = _("【%(shop)s】邀请您填写问卷「%(title)s」：%(url)s") % {
        "shop": shop.name, "title": questionnaire.title, "url": link_url(questionnaire, customer)}
    key = f"questionnaire-{questionnaire.pk}-{customer.pk}"
    with transaction.atomic(savepoint=False):
        notify_services.do_queue_notice(shop, key=key, channel=Channel.SMS, template="questionnaire", body=body,
                                        recipient=customer.phone)
    return key


# --- answering ---------------------------------------------------------------------------------

@dataclass
class Submitted:
    response: QuestionnaireResponse
    created: bool  # False: this customer had already answered (a double submit)
    coupon: Coupon | None


def check_answers(questionnaire: Questionnaire, raw: dict) -> dict[str, object]:
    """RAW: question id (str) → a string, or a list of strings for multiple choice. Returns the
    clean answers; ValidationError naming the first bad question."""
    answers: dict[str, object] = {}
    for question in questionnaire.questions.all():
        value = raw.get(str(question.pk))
        clean = _clean_answer(question, value)
        if clean in (None, "", []):
            if question.required:
                raise ValidationError(_("请回答：%(q)s") % {"q": question.text})
            continue
        answers[str(question.pk)] = clean
    return answers


def _clean_answer(question: Question, value) -> object:
    if question.kind == QuestionKind.MULTIPLE:
        values = value if isinstance(value, list) else [value] if value not in (None, "") else []
        values = [str(v) for v in values][:MAX_CHOICES]
        if any(v not in question.choices for v in values):
            raise ValidationError(_("选项无效：%(q)s") % {"q": question.text})
        return list(dict.fromkeys(values))
    text = str(value if value is not None else "").strip()
    if isinstance(value, list):
        raise ValidationError(_("只能选一项：%(q)s") % {"q": question.text})
    if not text:
        return ""
    if question.kind == QuestionKind.SINGLE and text not in question.choices:
        raise ValidationError(_("选项无效：%(q)s") % {"q": question.text})
    if question.kind == QuestionKind.DATE:
        try:
            day = dt.date.fromisoformat(text[:10])
        except ValueError:
            raise ValidationError(_("日期格式不对：%(q)s") % {"q": question.text}) from None
        if not dt.date(1900, 1, 1) <= day <= timezone.localdate():
            raise ValidationError(_("日期不合理：%(q)s") % {"q": question.text})
        return day.isoformat()
    if len(text) > MAX_TEXT_ANSWER:
        raise ValidationError(_("回答太长（最多 500 字）：%(q)s") % {"q": question.text})
    return text


def do_submit_answers(questionnaire: Questionnaire, customer: Customer, raw: dict, *,
                      now: dt.datetime | None = None) -> Submitted:
    """The shopper's answers (the public page; no staff: the signed link is the authority).
    The first submit stores them, fills mapped profile fields and issues the coupon batch once;
    a second (double click, two tabs) changes nothing and returns the first."""
    if questionnaire.shop_id != customer.shop_id:
        raise Http404("not found")
    answers = check_answers(questionnaire, raw)
    now = now or timezone.now()
    with transaction.atomic(savepoint=False):
        try:
            with transaction.atomic():
                response = QuestionnaireResponse.objects.create(
                    shop_id=questionnaire.shop_id, questionnaire=questionnaire, customer=customer, answers=answers,
                    submitted_at=now)
        except IntegrityError:
            first = QuestionnaireResponse.objects.select_related("coupon").get(questionnaire=questionnaire,
                                                                               customer=customer)
            return Submitted(first, False, first.coupon)
        _fill_profile(questionnaire, customer, answers)
        coupon = _reward(questionnaire, customer, now)
        if coupon is not None:
            QuestionnaireResponse.objects.filter(pk=response.pk).update(coupon=coupon)
            response.coupon = coupon
    return Submitted(response, True, coupon)


def _reward(questionnaire: Questionnaire, customer: Customer, now: dt.datetime) -> Coupon | None:
    batch = questionnaire.coupon_batch
    if batch is None:
        return None
    try:
        with transaction.atomic():  # a used-up or stopped batch leaves the answers stored
            coupon, _created = coupons.do_issue_coupon(None, batch, customer, reason=CouponReason.QUESTIONNAIRE,
                                                       rule=f"questionnaire:{questionnaire.pk}", now=now)
    except ValidationError:
        return None
    return coupon


def _fill_profile(questionnaire: Questionnaire, customer: Customer, answers: dict) -> None:
    """The shopper's own answers are facts about them: mapped fields are overwritten."""
    changed: list[str] = []
    for question in questionnaire.questions.exclude(maps_to=""):
        value = answers.get(str(question.pk))
        if value in (None, "", []):
            continue
        target = question.maps_to
        if target.startswith("attr:"):
            _set_attribute(customer, target[5:], str(value))
        elif target == "gender":
            gender = Gender.FEMALE if "女" in str(value) else Gender.MALE if "男" in str(value) else ""
            if gender:
                customer.gender = gender
                changed.append("gender")
        elif target == "birthday":
            day = dt.date.fromisoformat(str(value))
            customer.birth_date, customer.birthday_month, customer.birthday_day = day, day.month, day.day
            customer.birthday_lunar = False
            changed += ["birth_date", "birthday_month", "birthday_day", "birthday_lunar"]
        elif target == "city":
            customer.city = str(value)[:50]
            changed.append("city")
        elif target == "age_band":
            customer.age_band = str(value)[:10]
            changed.append("age_band")
    if changed:
        customer.save(update_fields=sorted(set(changed)))


def _set_attribute(customer: Customer, key: str, value: str) -> None:
    attribute = CustomAttribute.objects.filter(shop_id=customer.shop_id, key=key).first()
    if attribute is None:  # removed since the questionnaire was built
        return
    if attribute.kind == "number":
        try:
            value = str(float(value))
        except ValueError:
            return
    if attribute.kind == "choice" and attribute.choices and value not in attribute.choices:
        return
    CustomerAttributeValue.objects.update_or_create(shop_id=customer.shop_id, customer=customer, attribute=attribute,
                                                    defaults={"value": value[:200]})


def responses_of(questionnaire: Questionnaire, limit: int = 200) -> list[QuestionnaireResponse]:
    return list(questionnaire.responses.select_related("customer", "coupon").order_by("-submitted_at")[:limit])


def answers_shown(response: QuestionnaireResponse) -> list[tuple[str, str]]:
    """(question, answer) pairs for a page, in question order."""
    pairs = []
    for question in response.questionnaire.questions.all():
        value = response.answers.get(str(question.pk))
        if value in (None, "", []):
            continue
        pairs.append((question.text, "、".join(value) if isinstance(value, list) else str(value)))
    return pairs


def questionnaire_json(questionnaire: Questionnaire, *, detail: bool = False) -> dict:
    data = {"id": questionnaire.pk, "title": questionnaire.title, "intro": questionnaire.intro,
            "coupon_batch_id": questionnaire.coupon_batch_id, "active": questionnaire.active,
            "created_at": questionnaire.created_at.isoformat()}
    if detail:
        data["questions"] = [{"id": q.pk, "position": q.position, "text": q.text, "kind": q.kind,
                              "choices": q.choices, "required": q.required, "maps_to": q.maps_to}
                             for q in questionnaire.questions.all()]
    return data
