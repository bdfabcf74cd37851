"""Pages: the shopper chat (and its widget), the agent workbench, the supervisor view.

Views only parse the request and call one service; the pages are shells that small plain-JS
modules (static/chat/*.js) fill from the JSON API and the chat socket.
"""

from __future__ import annotations

import json
from functools import wraps
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Role, Seat, SeatAssignment, Staff
from xiaoer.chat import services
from xiaoer.chat.models import Conversation
from xiaoer.customers import services as customer_services

VISITOR_COOKIE = "xiaoer_visitor"
# Titles of settings.XIAOER_SIDE_PANELS, marked here so makemessages puts them in the catalogue.
PANEL_TITLES = [gettext_noop("顾客"), gettext_noop("订单"), gettext_noop("机器人建议"), gettext_noop("内部任务")]


# --- helpers ------------------------------------------------------------------------------------

def chat_staff_required(view):
    """Logged in, a staff person of a shop, with a role that reads chats (else 403)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        request.staff = account_services.staff_of(request, account_services.CHAT_ROLES)
        return view(request, *args, **kwargs)

    return wrapper


def supervisor_required(view):
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        request.staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
        return view(request, *args, **kwargs)

    return wrapper


def _bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return (request.POST.get("token") or "").strip()


def shopper_claims(token: str) -> tuple[int, int] | None:
    """(shop_id, customer_id) of a valid shopper token, else None."""
    if not token:
        return None
    from xiaoer.chat import auth

    return auth.read_shopper_token(token)


def _too_big(request: HttpRequest) -> JsonResponse | None:
    """Refuse an oversized upload from its Content-Length, before Django spools it to disk."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.MAX_IMAGE_BYTES + 64 * 1024:
        mb = settings.MAX_IMAGE_BYTES // (1024 * 1024)
        return JsonResponse({"detail": _("图片不能超过 %(mb)s MB") % {"mb": mb}}, status=413)
    return None


def _json_error(exc: ValidationError, status: int = 400) -> JsonResponse:
    return JsonResponse({"detail": " ".join(exc.messages)}, status=status)


def _optional_url(name: str, *args) -> str:
    """URL of a feature another app provides, or "" when that app is not installed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _labels() -> dict[str, str]:
    """Texts the JS modules show, translated on the server (no JS catalogue to load)."""
    return {
        "me": _("我"), "ungrouped": _("未分组"), "shopper": _("顾客"), "agent": _("客服"), "robot": _("机器人"), "system": _("系统"),
        "internal": _("仅客服可见"), "image": _("图片"), "card": _("卡片"), "imagePreview": _("[图片]"),
        "sending": _("发送中…"), "delivered": _("已送达"), "read": _("已读"), "failed": _("发送失败"),
        "error": _("出错了，请稍后再试"), "tooLong": _("消息太长了"), "tooBig": _("图片不能超过 10 MB"),
        "uploadFailed": _("图片上传失败"), "connecting": _("连接中…"), "reconnecting": _("重新连接中…"),
        "online": _("已连接"), "servedBy": _("为您服务的是"), "waitingSeat": _("正在为您安排客服…"),
        "queue": _("当前排队人数较多，您前面还有 %s 位，请稍候"), "queueNext": _("马上就轮到您了，请稍候"), "agentTyping": _("客服正在输入…"),
        "shopperTyping": _("顾客正在输入…"), "queued": _("排队中"), "open": _("进行中"), "resolved": _("已解决"),
        "seat": _("客服账号"), "waited": _("已等"), "emptyList": _("这里没有会话"), "loading": _("加载中…"),
        "noMore": _("没有更早的消息了"), "earlier": _("查看更早的消息"), "newMessage": _("新消息"),
        "offline": _("离线"), "offlineSeat": _("客服暂时不在线，可以给我们留言"), "leaveEmpty": _("请填写留言内容"),
        "leftMessage": _("离线留言"), "leftPhone": _("留了手机号，见顾客资料"), "leftWechat": _("留了微信号，见顾客资料"),
        "order": _("订单"), "myOrders": _("我的订单"), "noOrders": _("还没有订单"),
        "questionnaire": _("问卷"), "openQuestionnaire": _("去填写"),
        "notYourSeat": _("这个会话不属于你值守的客服账号，不能回复"), "noSeats": _("你还没有值守的客服账号"),
        "toggleSeat": _("点击切换在线/离线"), "seatGained": _("你接管了客服账号：%s"),
        "seatLost": _("你值守的客服账号已交给别人"),
        "mustRead": _("必读通知"), "acknowledge": _("我已阅读"),
        "searchResults": _("搜索结果"), "noResults": _("没有找到匹配的会话"),
        # socket error codes (docs/protocol.md) in the page's language; the frame's detail is for developers
        "errors": {
            "forbidden": _("这个会话不由你的客服账号接待，不能在这里回复"), "not_found": _("会话不存在或已无权查看"),
            "rate_limited": _("发送太快了，请稍等再发"), "too_long": _("消息太长了"), "empty": _("不能发送空消息"),
            "unavailable": _("服务器正在重启，消息会自动重发"), "invalid": _("消息格式不对，请刷新页面后再试"),
        },
    }


# --- shopper side -------------------------------------------------------------------------------

@require_GET
def shopper_chat(request: HttpRequest, slug: str) -> HttpResponse:
    shop = services.access_shop_by_slug(slug)
    config = {
        "shop": shop.slug,
        "shopName": shop.name,
        "timezone": shop.timezone,
        "sessionUrl": reverse("shopper-session", args=[shop.slug]),
        "uploadUrl": reverse("shopper-upload", args=[shop.slug]),
        "leaveMessageUrl": reverse("shopper-leave-message", args=[shop.slug]),
        "leaveMaxChars": settings.CHAT_LEAVE_MESSAGE_MAX_CHARS,
        "contactMaxChars": services.CONTACT_MAX_CHARS,
        "ordersUrl": _optional_url("orders-shopper-list", shop.slug),
        "buyer": (request.GET.get("buyer") or "")[:1000],
        "embedded": request.GET.get("embed") == "1",
        "maxChars": settings.CHAT_MAX_MESSAGE_CHARS,
        "maxImageBytes": settings.MAX_IMAGE_BYTES,
        "labels": _labels(),
    }
    response = render(request, "chat/shopper.html", {"shop": shop, "config": config})
    # The widget embeds this page in an iframe on the shop's own site.
    response.xframe_options_exempt = True
    return response


def _cross_site(request: HttpRequest) -> bool:
    """A browser request sent by another site's page (a form post, a cross-origin fetch).
    Non-browser clients send neither header and are not a session-fixation vector."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != request.get_host() and origin not in settings.CSRF_TRUSTED_ORIGINS


@csrf_exempt  # the visitor cookie is only read and set on same-origin requests (_cross_site)
@require_POST
def shopper_session(request: HttpRequest, slug: str) -> JsonResponse:
    shop = services.access_shop_by_slug(slug)
    if _cross_site(request):
        # Another site could otherwise plant its own visitor identity in the shopper's browser
        # (session fixation) and read what they write. docs/decisions/084-shopper-session-origin.md
        return JsonResponse({"detail": _("请在店铺的聊天页面中打开")}, status=403)
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"detail": _("请求格式不正确")}, status=400)
    if not isinstance(data, dict):
        return JsonResponse({"detail": _("请求格式不正确")}, status=400)
    visitor = data.get("visitor") or request.COOKIES.get(f"{VISITOR_COOKIE}_{shop.slug}")
    try:
        session = services.start_shopper_session(shop, visitor_token=str(visitor or "") or None,
                                                 buyer_signature=str(data.get("buyer") or "") or None)
    except ValidationError as exc:
        return _json_error(exc)
    response = JsonResponse(session.as_json())
    if session.visitor_token:
        response.set_cookie(f"{VISITOR_COOKIE}_{shop.slug}", session.visitor_token,
                            max_age=settings.SHOPPER_TOKEN_MAX_AGE, httponly=True, samesite="Lax",
                            path=f"/s/{shop.slug}/", secure=request.is_secure())
    return response


@csrf_exempt  # authorised by the shopper's bearer token, not by a cookie
@require_POST
def shopper_upload(request: HttpRequest, slug: str) -> JsonResponse:
    shop = services.access_shop_by_slug(slug)
    claims = shopper_claims(_bearer(request))
    if claims is None or claims[0] != shop.pk:
        return JsonResponse({"detail": _("请先开始会话")}, status=401)
    if (refused := _too_big(request)) is not None:
        return refused
    try:
        services.check_upload_rate(shop.pk, claims[1])
    except ValidationError as exc:
        return _json_error(exc, status=429)
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"detail": _("没有收到文件")}, status=400)
    try:
        attachment = services.do_store_image(shop, upload)
    except ValidationError as exc:
        return _json_error(exc)
    return JsonResponse(services.attachment_json(attachment), status=201)


LEAVE_MESSAGE_MAX_BYTES = 16 * 1024


@csrf_exempt  # authorised by the shopper's bearer token; cross-site browser requests are refused (084)
@require_POST
def shopper_leave_message(request: HttpRequest, slug: str) -> JsonResponse:
    """The form shown while no seat is online: the message becomes the shopper's message in their
    conversation (queued like any first message), the contact goes on their profile."""
    shop = services.access_shop_by_slug(slug)
    if _cross_site(request):
        return JsonResponse({"detail": _("请在店铺的聊天页面中打开")}, status=403)
    claims = shopper_claims(_bearer(request))
    customer = customer_services.shopper_customer(shop, claims[1]) if claims and claims[0] == shop.pk else None
    if customer is None:
        return JsonResponse({"detail": _("请先开始会话")}, status=401)
    if len(request.body) > LEAVE_MESSAGE_MAX_BYTES:
        return JsonResponse({"detail": _("留言太长了")}, status=413)
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return JsonResponse({"detail": _("请求格式不正确")}, status=400)
    try:
        services.check_leave_message_rate(shop.pk, customer.pk)
    except ValidationError as exc:
        return _json_error(exc, status=429)
    try:
        left = services.check_left_message(_text(data.get("body")), _text(data.get("contact")))
        with transaction.atomic():
            message = services.do_leave_message(customer, left, client_id=_text(data.get("client_id")))
    except ValidationError as exc:
        return _json_error(exc)
    return JsonResponse({"message": message, "contact": left.contact_kind,
                         "staffed": services.seats_available(shop.pk)}, status=201)


def _text(value) -> str:
    """A JSON field that should be a string: anything else counts as missing (then validated)."""
    return value if isinstance(value, str) else ""


@require_GET
def widget_js(request: HttpRequest, slug: str) -> HttpResponse:
    shop = services.access_shop_by_slug(slug)
    # PUBLIC_URL when configured; otherwise this request's own address, whose Host Django has checked
    # against ALLOWED_HOSTS — and then the answer depends on Host, so no shared cache may keep it.
    origin = settings.PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")
    body = render_to_string("chat/widget.js", {
        "chat_url": json.dumps(f"{origin}{reverse('shopper-chat', args=[shop.slug])}?embed=1"),
        "label": json.dumps(_("联系客服")),
        "title": json.dumps(f"{shop.name} · {_('在线客服')}"),
    })
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300" if settings.PUBLIC_URL else "private, max-age=300"
    if not settings.PUBLIC_URL:
        patch_vary_headers(response, ["Host"])
    return response


@require_GET
def attachment_file(request: HttpRequest, token: str) -> HttpResponse:
    """An uploaded image, for staff of its shop (session) or a shopper of its shop (bearer)."""
    staff = account_services.staff_for_user(request.user)  # or a shopper: no staff is no error here
    claims = shopper_claims(_bearer(request) or request.GET.get("t", ""))
    attachment = services.access_attachment(token, staff=staff, shopper_shop_id=claims[0] if claims else None)
    with attachment.file.open("rb") as fh:  # ≤ MAX_IMAGE_BYTES; a plain body suits the ASGI handler
        response = HttpResponse(fh.read(), content_type=attachment.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=86400"
    return response


# --- workbench ----------------------------------------------------------------------------------

@login_required
@ensure_csrf_cookie
def desk(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    staff = account_services.staff_of(request)
    if not staff.can_chat:
        if conversation_id is not None:
            raise PermissionDenied(_("你的角色不能查看聊天"))
        try:  # warehouse / after-sales colleagues work from the internal task queue
            return redirect(reverse("orders-task-queue"))
        except NoReverseMatch:  # orders app left out of this deployment
            return render(request, "chat/tasks_home.html", {"staff": staff})
    if conversation_id is not None:
        services.access_conversation(staff, conversation_id)
    seats = list(Seat.objects.filter(shop_id=staff.shop_id, is_active=True).select_related("operator"))
    mine = [s for s in seats if s.operator_id == staff.pk]
    config = {
        "me": {"id": staff.pk, "name": staff.display_name, "role": staff.role,
               "supervisor": staff.is_supervisor},
        "shop": {"id": staff.shop_id, "name": staff.shop.name, "timezone": staff.shop.timezone},
        "mySeats": [{"id": s.pk, "display_name": s.display_name, "online": s.is_online} for s in mine],
        "seats": [{"id": s.pk, "display_name": s.display_name, "online": s.is_online,
                   "operator": s.operator.display_name if s.operator else None} for s in seats],
        "conversation": conversation_id,
        "api": "/api/chat",
        "panelsUrl": reverse("desk-panels", args=[0]).replace("/0/", "/{id}/"),
        "uploadUrl": reverse("desk-upload"),
        # quick phrases come from the knowledge app when it is installed
        "phrasesUrl": "/api/knowledge/phrases" if apps.is_installed("xiaoer.knowledge") else "",
        "noticesUrl": "/api/knowledge/notices" if apps.is_installed("xiaoer.knowledge") else "",
        "productsUrl": "/api/knowledge/products" if apps.is_installed("xiaoer.knowledge") else "",
        "maxChars": settings.CHAT_MAX_MESSAGE_CHARS,
        "composerPlaceholder": _("输入回复，Enter 发送，Shift+Enter 换行"),
        "labels": _labels(),
    }
    return render(request, "chat/desk.html", {"staff": staff, "config": config, "my_seats": mine})


@chat_staff_required
@require_GET
def desk_panels(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The side panel sections for one conversation; each loads itself with htmx."""
    services.access_conversation(request.staff, conversation_id)
    sections = []
    for title, url_name in settings.XIAOER_SIDE_PANELS:
        url = _optional_url(url_name, conversation_id)  # "": its app is not in this deployment
        if url:
            sections.append({"title": _(title), "name": url_name, "url": url})
    return render(request, "chat/panels.html", {"sections": sections})


@chat_staff_required
@require_http_methods(["GET", "POST"])
def customer_panel(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The customer side panel: profile and shop-level notes. It lives in chat, not customers: it is
    reached through a conversation, and customers come before chat in the import graph."""
    staff = request.staff
    conv = services.access_conversation(staff, conversation_id)
    customer = conv.customer
    error = ""
    if request.method == "POST":
        seat = account_services.acting_seat(staff, conv.seat)
        try:
            customer_services.do_add_note(staff, customer, request.POST.get("text", ""), seat=seat)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    return render(request, "customers/panel.html", {
        "conversation": conv, "customer": customer, "notes": customer_services.notes_for(customer),
        "error": error, "conversations_count": customer.conversations.count(), "staff": staff,
    })


@chat_staff_required
@require_POST
def desk_upload(request: HttpRequest) -> JsonResponse:
    if (refused := _too_big(request)) is not None:
        return refused
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"detail": _("没有收到文件")}, status=400)
    try:
        attachment = services.do_store_image(request.staff.shop, upload)
    except ValidationError as exc:
        return _json_error(exc)
    return JsonResponse(services.attachment_json(attachment), status=201)


# --- supervisor ---------------------------------------------------------------------------------

@supervisor_required
def supervisor(request: HttpRequest) -> HttpResponse:
    staff = request.staff
    error = ""
    if request.method == "POST":
        try:
            with transaction.atomic():  # the edge's unit of work; the error page is rendered outside it
                _supervisor_action(staff, request.POST)
            return redirect("desk-supervisor")
        except ValidationError as exc:
            error = " ".join(exc.messages)
    loads = services.shop_load(staff.shop_id)
    queue = services.queued_conversations(staff.shop_id, limit=100)
    open_convs = list(Conversation.objects.filter(shop_id=staff.shop_id, status="open")
                      .select_related("seat", "customer").order_by("seat_id", "-last_message_at")[:200])
    people = list(Staff.objects.filter(shop_id=staff.shop_id, is_active=True,
                                       role__in=[Role.OWNER, Role.SUPERVISOR, Role.AGENT]).order_by("pk"))
    history = list(SeatAssignment.objects.filter(seat__shop_id=staff.shop_id)
                   .select_related("seat", "staff", "assigned_by")[:50])
    sections = [{"title": _(title), "name": name, "url": url} for title, name in settings.XIAOER_SUPERVISOR_SECTIONS
                if (url := _optional_url(name))]  # other apps' sections (settings.XIAOER_SUPERVISOR_SECTIONS)
    return render(request, "chat/supervisor.html", {
        "staff": staff, "loads": loads, "queue": queue, "open_convs": open_convs, "people": people,
        "history": history, "error": error, "sections": sections,
    }, status=400 if error else 200)


def _supervisor_action(staff: Staff, post) -> None:
    action = post.get("action")
    if action == "reassign":
        conv = services.access_conversation(staff, post.get("conversation"))
        seat = account_services.access_seat(staff, post.get("seat"))
        services.do_reassign(staff, conv, seat, post.get("note", ""))
    elif action == "handover":
        seat = account_services.access_seat(staff, post.get("seat"))
        to_id = post.get("staff")
        to = account_services.access_staff(staff, to_id) if to_id else None
        account_services.do_hand_over_seat(staff, seat, to)
    elif action == "greeting":
        seat = account_services.access_seat(staff, post.get("seat"))
        services.do_set_seat_greeting(staff, seat, post.get("greeting", ""))
    elif action == "online":
        seat = account_services.access_seat(staff, post.get("seat"))
        services.do_set_seat_online(staff, seat, post.get("online") == "1")
    else:
        raise Http404("unknown action")
