"""Drafting pages: the streamed draft for the workbench (server-sent events, under ASGI) and the
shop's drafting settings with this month's usage."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect, render

from xiaoer.accounts import services as account_services
from xiaoer.drafting import llm, services
from xiaoer.drafting.models import CallOutcome


def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _prepare(request, conversation_id: int):
    """Sync part: who asks, their conversation, its grounding and endpoint (or an error response)."""
    if not request.user.is_authenticated:
        return None, redirect_to_login(request.get_full_path())
    try:
        staff = account_services.staff_of(request, account_services.CHAT_ROLES)
        g, config, cfg = services.prepare_draft(staff, conversation_id)
    except PermissionDenied:
        return None, HttpResponse(status=403)
    except Http404:
        return None, HttpResponse(status=404)
    limit = config is not None and g.question and services.capped(staff.shop_id, cfg)
    return (staff, g, config, cfg, limit), None


def _log(staff, g, outcome: str, model: str, *, result=None, status_code=None, flags: int = 0) -> None:
    with transaction.atomic():
        services.log_call(staff.shop_id, purpose="draft", outcome=outcome, model=model, conversation_id=g.conversation_id,
                          staff=staff, result=result, status_code=status_code, flags=flags)


async def _stream(staff, g, config, cfg, limit) -> AsyncIterator[bytes]:
    """start → delta … → done; on a failure, replace (the robot's standard answer) → done."""
    yield _event("start", {"sources": [s.__dict__ for s in g.sources], "model": config.model if config else ""})
    if config is None or not g.question or limit:
        reason = "unconfigured" if config is None else ("no_question" if not g.question else CallOutcome.CAPPED)
        if limit:
            await sync_to_async(_log)(staff, g, CallOutcome.CAPPED, config.model)
        out = await sync_to_async(services.fallback_result)(g, reason)
        yield _event("replace", {"text": out["text"]})
        yield _event("done", out)
        return
    done = llm.Completion()
    try:
        async for piece in llm.astream(config, services.draft_messages(g, mask=cfg.mask_personal), done):
            yield _event("delta", {"text": piece})
    except llm.LlmError as exc:
        await sync_to_async(_log)(staff, g, exc.outcome, config.model, status_code=exc.status_code)
        out = await sync_to_async(services.fallback_result)(g, exc.outcome)
        yield _event("replace", {"text": out["text"]})
        yield _event("done", out)
        return
    out = await sync_to_async(services.result)(g, done.text.strip(), outcome="ok", model=config.model)
    await sync_to_async(_log)(staff, g, CallOutcome.OK, config.model, result=done, flags=len(out["flags"]))
    yield _event("done", out)


async def stream_draft(request, conversation_id: int):
    """POST: the draft for the conversation's latest shopper message as server-sent events (CSRF
    checked by the middleware, as for every POST)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    prepared, error = await sync_to_async(_prepare)(request, conversation_id)
    if error is not None:
        return error
    response = StreamingHttpResponse(_stream(*prepared), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on as it comes
    return response


@login_required
def drafting_settings(request):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    cfg = services.current_settings(staff.shop_id)
    error = None
    if request.method == "POST":
        form = request.POST
        cap = (form.get("monthly_cap") or "").strip()
        try:
            with transaction.atomic():
                services.do_update_settings(staff, enabled=form.get("enabled") == "on",
                                            auto_send=form.get("auto_send") == "on",
                                            mask_personal=form.get("mask_personal") == "on",
                                            monthly_cap=int(cap) if cap else None)
            return redirect("drafting-settings")
        except (ValidationError, ValueError) as exc:
            error = "；".join(getattr(exc, "messages", [str(exc)]))
    config = services.config_for(staff.shop_id, cfg)
    return render(request, "drafting/settings.html",
                  {"staff": staff, "cfg": cfg, "config": config, "cap": services.monthly_cap(cfg),
                   "usage": services.usage(staff.shop_id), "error": error, "outcomes": dict(CallOutcome.choices),
                   "tab": "llm", "can_write": True})
