"""Robot pages: the workbench side panel (htmx partial), robot settings, learning from agents."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from xiaoer.accounts import services as account_services
from xiaoer.assistant import services
from xiaoer.assistant.models import LearnedPair, LearnStatus, RobotMode
from xiaoer.knowledge.models import Category, StandardAnswer
from xiaoer.knowledge.variables import LABELS

# The intents (engine.INTENTS) as a person reads them, in the page's language.
INTENT_NAMES = {"greeting": gettext_lazy("问候"), "product_quality": gettext_lazy("质量材质"),
                "size_spec": gettext_lazy("尺码规格"), "bargain": gettext_lazy("议价优惠"),
                "shipping": gettext_lazy("发货物流"), "after_sales": gettext_lazy("售后"), "payment": gettext_lazy("付款"),
                "order_change": gettext_lazy("订单变更"), "product_usage": gettext_lazy("使用方法"),
                "other": gettext_lazy("其他"), "human": gettext_lazy("转人工")}


@login_required
def panel(request, conversation_id: int):
    """Suggestions for the conversation's latest shopper message; buttons carry data-insert-text."""
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    conversation, suggestion = services.panel_suggestion(staff, conversation_id)
    if suggestion:
        suggestion = {**suggestion, "intent_label": INTENT_NAMES.get(suggestion.get("intent"), suggestion.get("intent_label"))}
    for answer in (suggestion or {}).get("answers") or []:
        answer["missing"] = [str(LABELS.get(key, key)) for key in answer.get("missing") or []]
    return render(request, "assistant/panel.html", {"staff": staff, "conversation": conversation, "s": suggestion})


@login_required
def robot_settings(request):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    cfg = services.settings_for(staff.shop_id)
    error = None
    if request.method == "POST":
        form = request.POST
        try:
            services.do_update_settings(
                staff, mode=form.get("mode", ""), threshold=float(form.get("threshold") or 0),
                work_start=dt.time.fromisoformat(form.get("work_start") or "09:00"),
                work_end=dt.time.fromisoformat(form.get("work_end") or "23:00"),
                handoff_text=form.get("handoff_text", ""))
            return redirect("assistant-settings")
        except (ValidationError, ValueError) as exc:
            error = "；".join(getattr(exc, "messages", [str(exc)]))
    return render(request, "assistant/settings.html",
                  {"staff": staff, "cfg": cfg, "modes": RobotMode.choices, "error": error, "can_write": True,
                   "tab": "robot"})


@login_required
def learned(request):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    pairs = LearnedPair.objects.filter(shop_id=staff.shop_id, status=LearnStatus.PENDING).select_related("staff")[:100]
    codes = StandardAnswer.objects.filter(shop_id=staff.shop_id).values_list("code", "question")
    return render(request, "assistant/learned.html",
                  {"staff": staff, "pairs": pairs, "codes": codes, "categories": Category.choices,
                   "error": request.GET.get("error", "")[:200], "can_write": True, "tab": "learned"})


@login_required
@require_POST
def learn(request, pair_id: int):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    pair = services.access_pair(staff, pair_id)
    action = request.POST.get("action")
    try:
        with transaction.atomic():
            if action == "phrasing":
                services.do_learn_as_phrasing(staff, pair, request.POST.get("answer_code", ""))
            elif action == "new_answer":
                services.do_learn_as_new_answer(staff, pair, code=request.POST.get("code", ""),
                                                category=request.POST.get("category", ""),
                                                question=request.POST.get("question", ""),
                                                answer=request.POST.get("answer", ""))
            else:
                services.do_dismiss_pair(staff, pair)
    except ValidationError as exc:
        from urllib.parse import urlencode

        return redirect(f"/desk/robot/learned?{urlencode({'error': '；'.join(exc.messages)})}")
    return redirect("assistant-learned")
