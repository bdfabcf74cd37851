"""Every route × every role: who may use what (the table in docs/roles.md).

Walks every JSON API operation (from the ninja routers) and every page URL (from the Django URL
patterns) as each role of one shop — owner, supervisor, agent, warehouse, after-sales — and as an
anonymous visitor, with real ids of the shop's own objects, and checks the outcome against ROUTES
below. A route with no entry fails the test: add it here and to docs/roles.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client
from test_cross_shop import (
    PARAM,
    SKIP_PREFIXES,
    _other_app_ids,
    _seed_other_apps,
    api_operations,
    body_for,
    fill_route,
    page_patterns,
)

from xiaoer.accounts.models import Role
from xiaoer.assistant.models import LearnedPair
from xiaoer.chat import services as chat_services
from xiaoer.chat import writer
from xiaoer.chat.models import Conversation
from xiaoer.knowledge import services as knowledge_services
from xiaoer.knowledge.models import ImportJob, Product
from xiaoer.testing import PASSWORD, make_seat, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parent.parent
ROLES = ("owner", "supervisor", "agent", "warehouse", "aftersales", "anonymous")


@pytest.fixture
def shop_world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    shop = make_shop(name="角色店")
    people = {"owner": owner_of(shop)}
    for role in (Role.SUPERVISOR, Role.AGENT, Role.WAREHOUSE, Role.AFTERSALES):
        people[str(role)] = make_staff(shop, role)
    seat = make_seat(shop, "小美", operator=people["agent"])
    session = chat_services.start_shopper_session(shop, buyer_signature=chat_services.make_buyer_signature(
        shop, "tb_role_buyer", name="顾客"))
    conv = session.conversation
    writer.post_message_sync(conv.pk, sender_kind="shopper", body="你好")
    # Served by the agent's seat: the agent's column is about their own conversation.
    Conversation.objects.filter(pk=conv.pk).update(seat=seat, status="open")
    _seed_other_apps(shop)
    product = Product.objects.filter(shop=shop).order_by("pk").first()
    knowledge_services.do_save_sku(people["owner"], product, code="sku1", attrs={"颜色": "黑"}, price="10", stock=3)
    ImportJob.objects.create(shop=shop, kind="answers", filename="a.csv", content=b"", status="done")
    LearnedPair.objects.create(shop=shop, conversation=conv, question="问", reply="答", staff=people["agent"])
    ids = {"conversation_id": conv.pk, "seat_id": seat.pk, "customer_id": session.customer.pk,
           "staff_id": people["agent"].pk, "slug": shop.slug, "shop_id": shop.pk}
    ids.update({k: v for k, v in _other_app_ids(shop).items() if k not in ids})
    clients = {"anonymous": Client()}
    for role, staff in people.items():
        clients[role] = Client()
        assert clients[role].login(username=staff.user.username, password=PASSWORD)
    return {"shop": shop, "ids": ids, "clients": clients}


WALK_ORDER = ("anonymous", "aftersales", "warehouse", "agent", "supervisor", "owner")  # least allowed first


def outcome(res) -> str:
    """ok: served (or refused for the input); login: sent to log in; denied: forbidden for the
    role; away: redirected to the role's own start page."""
    assert res.status_code < 500, res.status_code
    location = res.get("Location", "")
    if res.status_code == 401 or (res.status_code == 302 and "/desk/login" in location):
        return "login"
    if res.status_code == 403:
        return "denied"
    if res.status_code == 302:
        return "away"
    if res.status_code == 405:
        return "method"
    return "ok"


def _multipart() -> bytes:
    from test_cross_shop import png

    return (b"--BoUnDaRy\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + png() + b"\r\n--BoUnDaRy--\r\n")


def _destructive(key: str) -> int:
    """Walk order: what deletes or logs out comes last (the logout at the very end)."""
    return 2 if "logout" in key else 1 if ("DELETE" in key or "delete" in key) else 0


def walk(ids: dict):
    """(key, role, response) for every route × role; key is "METHOD /route" as in ROUTES."""
    calls = []
    for path, method, op in api_operations():
        url = PARAM.sub(lambda m, path=path: str(ids[m.group(1)]), path)
        kind, body = body_for(op, ids)
        calls.append((f"{method} {path}", method, url, kind, body))
    for route in page_patterns():
        if route.startswith(SKIP_PREFIXES):
            continue
        url = fill_route(route, ids)
        if url is not None:
            for method in ("GET", "POST"):
                calls.append((f"{method} /{route}", method, url, "form", {}))
    calls.sort(key=lambda c: _destructive(c[0]))
    return calls


def request(client, method: str, url: str, kind: str, body):
    if kind == "file":
        return client.generic(method, url, data=body or _multipart(),
                              content_type="multipart/form-data; boundary=BoUnDaRy")
    if kind == "json":
        return client.generic(method, url, json.dumps(body), content_type="application/json")
    if kind == "form":
        return client.generic(method, url, "text=x&action=x", content_type="application/x-www-form-urlencoded")
    return client.generic(method, url)


def test_every_route_for_every_role(shop_world):
    ids, clients = shop_world["ids"], shop_world["clients"]
    unlisted, wrong, walked = [], [], set()
    for key, method, url, kind, body in walk(ids):
        walked.add(key)
        if key not in ROUTES:
            unlisted.append(key)
            continue
        expected = dict(zip(ROLES, ROUTES[key].split(), strict=True))
        for role in WALK_ORDER:
            res = request(clients[role], method, url, *BODIES.get(key, (kind, body)))
            got = outcome(res)
            if got != expected[role] and not (expected[role] == "any" and got != "denied"):
                wrong.append(f"{key} as {role}: {got} ({res.status_code}), table says {expected[role]}")
    assert not unlisted, "routes with no entry in ROUTES (and docs/roles.md): " + ", ".join(unlisted)
    assert not wrong, "\n".join(wrong)
    assert not set(ROUTES) - walked, f"ROUTES lists routes that no longer exist: {set(ROUTES) - walked}"


def render_table() -> str:
    head = "| route | " + " | ".join(ROLES) + " |\n|---|" + "---|" * len(ROLES) + "\n"
    return head + "".join(f"| `{key}` | " + " | ".join(ROUTES[key].split()) + " |\n" for key in ROUTES)


def test_docs_roles_md_shows_the_same_table():
    text = (REPO / "docs" / "roles.md").read_text()
    assert render_table() in text, "docs/roles.md is out of date: paste render_table() between its markers"


def _import_body() -> tuple[str, bytes]:
    return "file", (b"--BoUnDaRy\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nanswers\r\n"
                    b"--BoUnDaRy\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
                    b"Content-Type: text/csv\r\n\r\n\xe7\xbc\x96\xe5\x8f\xb7\r\n--BoUnDaRy--\r\n")


# Bodies the schema walk cannot guess (without them the input check answers before the role check).
BODIES = {
    "PUT /api/chat/seats/{seat_id}/greeting": ("json", {"greeting": "{顾客}您好"}),
    "PUT /api/orders/settings": ("json", {"remind_after_minutes": 30}),
    "PUT /api/crm/levels": ("json", {"levels": [{"name": "VIP1", "basis": "total_paid", "threshold": "100"}]}),
    "POST /api/knowledge/import": _import_body(),
}

# Outcome per role, in the order of ROLES: owner supervisor agent warehouse aftersales anonymous.
# ok: served (or the input refused: 400/404/409/422); denied: 403; login: 401 or sent to the login
# page; away: redirected to the role's own start page; method: 405 for everyone; any: never 403.
ROUTES = {
    "GET /api/accounts/me": "ok ok ok ok ok login",
    "GET /api/aftersales/reviews": "ok ok ok denied ok login",
    "POST /api/aftersales/reviews": "ok ok denied denied ok login",
    "POST /api/aftersales/reviews/import": "ok ok denied denied ok login",
    "GET /api/aftersales/reviews/followups": "ok ok ok denied ok login",
    "POST /api/aftersales/reviews/followups/{int:followup_id}": "ok ok ok denied ok login",
    "POST /api/aftersales/reviews/thank": "ok ok ok denied ok login",
    "GET /api/aftersales/reviews/templates": "ok ok ok denied ok login",
    "POST /api/aftersales/reviews/templates": "ok ok denied denied ok login",
    "GET /api/aftersales/reviews/figures": "ok ok ok denied ok login",
    "GET /api/aftersales/campaigns": "ok ok denied denied denied login",
    "POST /api/aftersales/campaigns": "ok ok denied denied denied login",
    "GET /api/aftersales/campaigns/{int:campaign_id}": "ok ok denied denied denied login",
    "POST /api/aftersales/campaigns/{int:campaign_id}/stop": "ok ok denied denied denied login",
    "POST /api/aftersales/campaigns/{int:campaign_id}/run": "ok ok denied denied denied login",
    "GET /desk/reviews": "ok ok ok denied ok login",
    "POST /desk/reviews": "ok ok ok denied ok login",
    "GET /desk/revisits": "ok ok denied denied denied login",
    "POST /desk/revisits": "method method method method method login",
    "GET /api/accounts/seats": "ok ok ok denied denied login",
    "GET /api/accounts/seats/{seat_id}/history": "ok ok denied denied denied login",
    "POST /api/accounts/seats/{seat_id}/assign": "ok ok denied denied denied login",
    "GET /api/accounts/staff": "ok ok denied denied denied login",
    "GET /api/chat/conversations": "ok ok ok denied denied login",
    "GET /api/chat/conversations/{conversation_id}": "ok ok ok denied denied login",
    "GET /api/chat/conversations/{conversation_id}/messages": "ok ok ok denied denied login",
    "POST /api/chat/conversations/{conversation_id}/messages": "ok ok ok denied denied login",
    "POST /api/chat/conversations/{conversation_id}/transfer": "ok ok ok denied denied login",
    "POST /api/chat/conversations/{conversation_id}/reassign": "ok ok denied denied denied login",
    "POST /api/chat/conversations/{conversation_id}/claim": "ok ok ok denied denied login",
    "POST /api/chat/conversations/{conversation_id}/resolve": "ok ok ok denied denied login",
    "POST /api/chat/conversations/{conversation_id}/reopen": "ok ok ok denied denied login",
    "GET /api/chat/conversations/{conversation_id}/notes": "ok ok ok denied denied login",
    "POST /api/chat/conversations/{conversation_id}/notes": "ok ok ok denied denied login",
    "GET /api/chat/seats": "ok ok ok denied denied login",
    "POST /api/chat/seats/{seat_id}/online": "ok ok ok denied denied login",
    "PUT /api/chat/seats/{seat_id}/greeting": "ok ok denied denied denied login",
    "GET /api/chat/queue": "ok ok ok denied denied login",
    "GET /api/chat/search": "ok ok ok denied denied login",
    "POST /api/chat/conversations/{conversation_id}/product-card": "ok ok ok denied denied login",
    "POST /api/chat/uploads": "ok ok ok denied denied login",
    "POST /api/chat/buyer-links": "ok ok denied denied denied login",
    "GET /api/knowledge/phrases": "ok ok ok denied denied login",
    "GET /api/knowledge/answers": "ok ok ok denied denied login",
    "POST /api/knowledge/answers": "ok ok denied denied denied login",
    "PUT /api/knowledge/answers/{answer_id}": "ok ok denied denied denied login",
    "POST /api/knowledge/answers/{answer_id}/must-read": "ok ok denied denied denied login",
    "GET /api/knowledge/products": "ok ok ok denied denied login",
    "POST /api/knowledge/products/{product_id}/publish": "ok ok denied denied denied login",
    "GET /api/knowledge/notices/pending": "ok ok ok denied denied login",
    "POST /api/knowledge/notices/{notice_id}/ack": "ok ok ok denied denied login",
    "GET /api/knowledge/notices/{notice_id}/unread": "ok ok denied denied denied login",
    "POST /api/knowledge/import": "ok ok denied denied denied login",
    "POST /api/assistant/suggest": "ok ok ok denied denied login",
    "POST /api/drafting/conversations/{conversation_id}/draft": "ok ok ok denied denied login",
    "POST /api/drafting/rewrite": "ok ok ok denied denied login",
    "GET /api/assistant/conversations/{conversation_id}/suggestion": "ok ok ok denied denied login",
    "GET /api/orders/": "ok ok ok ok ok login",
    "POST /api/orders/": "ok ok denied denied denied login",
    "GET /api/orders/{int:order_id}": "ok ok ok ok ok login",
    "GET /api/orders/{int:order_id}/card": "ok ok ok ok ok login",
    "POST /api/orders/{int:order_id}/cause": "ok ok ok denied denied login",
    "POST /api/orders/{int:order_id}/remind": "ok ok ok denied denied login",
    "POST /api/orders/{int:order_id}/guide": "ok ok ok denied denied login",
    "POST /api/orders/{int:order_id}/close": "ok ok ok denied denied login",
    "POST /api/orders/{int:order_id}/confirm": "ok ok ok denied denied login",
    "POST /api/orders/{int:order_id}/change": "ok ok ok denied denied login",
    "POST /api/orders/{int:order_id}/shipping": "ok ok ok ok denied login",
    "POST /api/orders/{int:order_id}/stock-check": "ok ok ok denied denied login",
    "GET /api/orders/conversation/{int:conversation_id}": "ok ok ok denied denied login",
    "GET /api/orders/tasks": "ok ok denied ok ok login",
    "POST /api/orders/tasks": "ok ok ok denied denied login",
    "POST /api/orders/tasks/{int:task_id}/answer": "denied denied denied ok denied login",
    "GET /api/orders/recovery": "ok ok denied denied denied login",
    "GET /api/orders/settings": "ok ok ok ok ok login",
    "PUT /api/orders/settings": "ok ok denied denied denied login",
    "GET /api/crm/levels": "ok ok ok denied denied login",
    "PUT /api/crm/levels": "ok ok denied denied denied login",
    "GET /api/crm/customers/{int:customer_id}/value": "ok ok ok denied denied login",
    "GET /api/crm/coupon-batches": "ok ok denied denied denied login",
    "POST /api/crm/coupon-batches": "ok ok denied denied denied login",
    "GET /api/crm/coupon-batches/{int:batch_id}": "ok ok denied denied denied login",
    "POST /api/crm/coupon-batches/{int:batch_id}/issue": "ok ok denied denied denied login",
    "POST /api/crm/coupons/redeem": "ok ok denied denied denied login",
    "GET /api/crm/customers/{int:customer_id}/coupons": "ok ok ok denied denied login",
    "GET /api/crm/customers/{int:customer_id}/care": "ok ok ok denied denied login",
    "GET /api/crm/questionnaires": "ok ok ok denied denied login",
    "POST /api/crm/questionnaires": "ok ok denied denied denied login",
    "GET /api/crm/questionnaires/{int:questionnaire_id}": "ok ok ok denied denied login",
    "PUT /api/crm/questionnaires/{int:questionnaire_id}": "ok ok denied denied denied login",
    "GET /api/crm/questionnaires/{int:questionnaire_id}/responses": "ok ok denied denied denied login",
    "POST /api/crm/questionnaires/{int:questionnaire_id}/send-chat": "ok ok ok denied denied login",
    "POST /api/crm/questionnaires/{int:questionnaire_id}/send-sms": "ok ok ok denied denied login",
    "GET /api/crm/care/birthday": "ok ok denied denied denied login",
    "PUT /api/crm/care/birthday": "ok ok denied denied denied login",
    "GET /desk/login": "ok ok ok ok ok ok",
    "POST /desk/login": "any any any any any any",
    "GET /s/<slug:slug>/chat": "ok ok ok ok ok ok",
    "POST /s/<slug:slug>/chat": "method method method method method method",
    "GET /s/<slug:slug>/chat/session": "method method method method method method",
    "POST /s/<slug:slug>/chat/session": "ok ok ok ok ok ok",
    "GET /s/<slug:slug>/chat/leave-message": "method method method method method method",
    "POST /s/<slug:slug>/chat/leave-message": "login login login login login login",
    "GET /s/<slug:slug>/chat/upload": "method method method method method method",
    "POST /s/<slug:slug>/chat/upload": "login login login login login login",
    "GET /s/<slug:slug>/widget.js": "ok ok ok ok ok ok",
    "POST /s/<slug:slug>/widget.js": "method method method method method method",
    "GET /files/<str:token>": "ok ok ok ok ok ok",
    "POST /files/<str:token>": "method method method method method method",
    "GET /desk": "ok ok ok away away login",
    "GET /favicon.ico": "ok ok ok ok ok ok",
    "POST /favicon.ico": "method method method method method method",
    "POST /desk": "ok ok ok away away login",
    "GET /desk/c/<int:conversation_id>": "ok ok ok denied denied login",
    "POST /desk/c/<int:conversation_id>": "ok ok ok denied denied login",
    "GET /desk/c/<int:conversation_id>/panels/": "ok ok ok denied denied login",
    "POST /desk/c/<int:conversation_id>/panels/": "method method method denied denied login",
    "GET /desk/c/<int:conversation_id>/panel/customer": "ok ok ok denied denied login",
    "POST /desk/c/<int:conversation_id>/panel/customer": "ok ok ok denied denied login",
    "GET /desk/upload": "method method method denied denied login",
    "POST /desk/upload": "ok ok ok denied denied login",
    "GET /desk/supervisor": "ok ok denied denied denied login",
    "POST /desk/supervisor": "ok ok denied denied denied login",
    "GET /desk/knowledge": "ok ok ok denied denied login",
    "POST /desk/knowledge": "ok ok ok denied denied login",
    "GET /desk/knowledge/answers/new": "ok ok ok denied denied login",
    "POST /desk/knowledge/answers/new": "ok ok denied denied denied login",
    "GET /desk/knowledge/answers/<int:answer_id>": "ok ok ok denied denied login",
    "POST /desk/knowledge/answers/<int:answer_id>": "ok ok denied denied denied login",
    "GET /desk/knowledge/answers/<int:answer_id>/must-read": "method method method method method login",
    "POST /desk/knowledge/answers/<int:answer_id>/must-read": "away away denied denied denied login",
    "GET /desk/knowledge/products": "ok ok ok denied denied login",
    "POST /desk/knowledge/products": "ok ok ok denied denied login",
    "GET /desk/knowledge/products/new": "ok ok ok denied denied login",
    "POST /desk/knowledge/products/new": "ok ok denied denied denied login",
    "GET /desk/knowledge/products/<int:product_id>": "ok ok ok denied denied login",
    "POST /desk/knowledge/products/<int:product_id>": "ok ok denied denied denied login",
    "GET /desk/knowledge/products/<int:product_id>/publish": "method method method method method login",
    "POST /desk/knowledge/products/<int:product_id>/publish": "away away denied denied denied login",
    "GET /desk/knowledge/products/<int:product_id>/must-read": "method method method method method login",
    "POST /desk/knowledge/products/<int:product_id>/must-read": "away away denied denied denied login",
    "GET /desk/knowledge/products/<int:product_id>/skus/new": "ok ok ok denied denied login",
    "POST /desk/knowledge/products/<int:product_id>/skus/new": "ok ok denied denied denied login",
    "GET /desk/knowledge/products/<int:product_id>/skus/<int:sku_id>": "ok ok ok denied denied login",
    "POST /desk/knowledge/products/<int:product_id>/skus/<int:sku_id>": "ok ok denied denied denied login",
    "GET /desk/knowledge/phrases": "ok ok ok denied denied login",
    "POST /desk/knowledge/phrases": "ok ok denied denied denied login",
    "GET /desk/knowledge/import": "ok ok denied denied denied login",
    "POST /desk/knowledge/import": "ok ok denied denied denied login",
    "GET /desk/knowledge/import/<int:job_id>": "ok ok denied denied denied login",
    "POST /desk/knowledge/import/<int:job_id>": "ok ok denied denied denied login",
    "GET /desk/knowledge/export": "ok ok denied denied denied login",
    "POST /desk/knowledge/export": "ok ok denied denied denied login",
    "GET /desk/knowledge/notices": "ok ok ok denied denied login",
    "POST /desk/knowledge/notices": "ok ok ok denied denied login",
    "GET /desk/knowledge/notices/<int:notice_id>/ack": "method method method method method login",
    "POST /desk/knowledge/notices/<int:notice_id>/ack": "away away away denied denied login",
    "GET /desk/c/<int:conversation_id>/assistant": "ok ok ok denied denied login",
    "POST /desk/c/<int:conversation_id>/assistant": "ok ok ok denied denied login",
    "GET /desk/robot": "ok ok denied denied denied login",
    "POST /desk/robot": "ok ok denied denied denied login",
    "GET /desk/c/<int:conversation_id>/draft": "method method method method method method",
    "POST /desk/c/<int:conversation_id>/draft": "ok ok ok denied denied login",
    "GET /desk/robot/llm": "ok ok denied denied denied login",
    "POST /desk/robot/llm": "away away denied denied denied login",
    "GET /desk/robot/learned": "ok ok denied denied denied login",
    "POST /desk/robot/learned": "ok ok denied denied denied login",
    "GET /desk/robot/learned/<int:pair_id>": "method method method method method login",
    "POST /desk/robot/learned/<int:pair_id>": "away away denied denied denied login",
    "GET /desk/c/<int:conversation_id>/orders": "ok ok ok denied denied login",
    "POST /desk/c/<int:conversation_id>/orders": "method method method method method login",
    "GET /desk/c/<int:conversation_id>/tasks": "ok ok ok denied denied login",
    "POST /desk/c/<int:conversation_id>/tasks": "ok ok ok denied denied login",
    "GET /desk/orders/<int:order_id>/<slug:action>": "method method method method method login",
    "POST /desk/orders/<int:order_id>/<slug:action>": "ok ok ok denied denied login",
    "GET /desk/tasks": "ok ok away ok ok login",
    "POST /desk/tasks": "method method method method method login",
    "GET /desk/tasks/<int:task_id>/answer": "method method method method method login",
    "POST /desk/tasks/<int:task_id>/answer": "denied denied denied away denied login",
    "GET /hooks/<slug:shop_slug>/orders": "method method method method method method",
    "POST /hooks/<slug:shop_slug>/orders": "login login login login login login",
    "GET /s/<slug:slug>/orders": "login login login login login login",
    "POST /s/<slug:slug>/orders": "method method method method method method",
    "GET /s/<slug:slug>/orders/<str:order_no>/card": "method method method method method method",
    "POST /s/<slug:slug>/orders/<str:order_no>/card": "login login login login login login",
    "GET /customers/": "ok ok ok denied denied login",
    "POST /customers/": "method method method method method login",
    "GET /customers/segments": "method method method method method login",
    "POST /customers/segments": "ok ok denied denied denied login",
    "GET /customers/segments/<int:segment_id>/export": "method method method method method login",
    "POST /customers/segments/<int:segment_id>/export": "ok ok denied denied denied login",
    "GET /customers/export": "method method method method method login",
    "POST /customers/export": "ok ok denied denied denied login",
    "GET /customers/tags": "ok ok denied denied denied login",
    "POST /customers/tags": "ok ok denied denied denied login",
    "GET /customers/tags/<int:tag_id>": "method method method method method login",
    "POST /customers/tags/<int:tag_id>": "ok ok denied denied denied login",
    "GET /customers/attributes": "ok ok denied denied denied login",
    "POST /customers/attributes": "ok ok denied denied denied login",
    "GET /customers/attributes/<int:customattribute_id>": "method method method method method login",
    "POST /customers/attributes/<int:customattribute_id>": "ok ok denied denied denied login",
    "GET /customers/levels": "ok ok denied denied denied login",
    "POST /customers/levels": "away away denied denied denied login",
    "GET /customers/<int:customer_id>/": "ok ok ok denied denied login",
    "POST /customers/<int:customer_id>/": "ok ok ok denied denied login",
    "GET /desk/c/<int:conversation_id>/profile": "ok ok ok denied denied login",
    "POST /desk/c/<int:conversation_id>/profile": "ok ok ok denied denied login",
    "GET /customers/coupons": "ok ok denied denied denied login",
    "POST /customers/coupons": "away away denied denied denied login",
    "GET /customers/coupons/<int:batch_id>": "ok ok denied denied denied login",
    "POST /customers/coupons/<int:batch_id>": "away away denied denied denied login",
    "GET /customers/questionnaires": "ok ok denied denied denied login",
    "POST /customers/questionnaires": "away away denied denied denied login",
    "GET /customers/questionnaires/<int:questionnaire_id>": "ok ok denied denied denied login",
    "POST /customers/questionnaires/<int:questionnaire_id>": "away away denied denied denied login",
    "GET /customers/care": "ok ok denied denied denied login",
    "POST /customers/care": "away away denied denied denied login",
    "GET /desk/c/<int:conversation_id>/care": "ok ok ok denied denied login",
    "POST /desk/c/<int:conversation_id>/care": "ok ok ok denied denied login",
    "GET /q/<slug:shop_slug>/<str:token>": "ok ok ok ok ok ok",
    "POST /q/<slug:shop_slug>/<str:token>": "ok ok ok ok ok ok",
    "POST /api/crm/customers/{int:customer_id}/merge": "ok ok denied denied denied login",
    "GET /desk/customers/import": "ok ok denied denied denied login",
    "POST /desk/customers/import": "ok ok denied denied denied login",
    "GET /desk/customers/<int:customer_id>/merge": "ok ok denied denied denied login",
    "POST /desk/customers/<int:customer_id>/merge": "ok ok denied denied denied login",
    "GET /desk/customers/<int:customer_id>/anonymise": "ok denied denied denied denied login",
    "POST /desk/customers/<int:customer_id>/anonymise": "ok denied denied denied denied login",
    "GET /kpi/": "ok ok ok denied denied login",
    "POST /kpi/": "method method method method method login",
    "GET /kpi/drill": "ok ok ok denied denied login",
    "POST /kpi/drill": "method method method method method login",
    "GET /kpi/export": "ok ok ok denied denied login",
    "POST /kpi/export": "method method method method method login",
    "DELETE /api/knowledge/answers/{answer_id}": "ok ok denied denied denied login",
    "GET /desk/knowledge/answers/<int:answer_id>/delete": "method method method method method login",
    "POST /desk/knowledge/answers/<int:answer_id>/delete": "ok ok denied denied denied login",
    "GET /desk/knowledge/products/<int:product_id>/skus/<int:sku_id>/delete": "method method method method method login",
    "POST /desk/knowledge/products/<int:product_id>/skus/<int:sku_id>/delete": "ok away denied denied denied login",
    "GET /api/crm/customers/{customer_id}/proposals": "ok ok ok denied denied login",
    "POST /api/crm/proposals/{proposal_id}/confirm": "ok ok ok denied denied login",
    "POST /api/crm/proposals/{proposal_id}/dismiss": "ok ok ok denied denied login",
    "GET /api/crm/customers/{customer_id}/shopper-type": "ok ok ok denied denied login",
    "PUT /api/crm/customers/{customer_id}/shopper-type": "ok ok ok denied denied login",
    "GET /api/crm/shopper-type-tips": "ok ok ok denied denied login",
    "PUT /api/crm/shopper-type-tips": "ok ok denied denied denied login",
    "GET /desk/c/<int:conversation_id>/profile-hints": "ok ok ok denied denied login",
    "POST /desk/c/<int:conversation_id>/profile-hints": "ok ok ok denied denied login",
    "GET /desk/crm/proposals/<int:proposal_id>/<slug:action>": "method method method method method login",
    "POST /desk/crm/proposals/<int:proposal_id>/<slug:action>": "ok ok ok denied denied login",
    "GET /desk/crm/shopper-type-tips": "ok ok ok denied denied login",
    "POST /desk/crm/shopper-type-tips": "ok ok denied denied denied login",
    "GET /desk/training/": "ok ok ok denied denied login",
    "POST /desk/training/": "method method method method method login",
    "GET /desk/training/from-conversation": "method method method method method login",
    "POST /desk/training/from-conversation": "ok ok denied denied denied login",
    "GET /desk/training/scenarios/<int:scenario_id>/start": "method method method method method login",
    "POST /desk/training/scenarios/<int:scenario_id>/start": "away away away denied denied login",
    "GET /desk/training/<int:trainingsession_id>": "ok ok ok denied denied login",
    "POST /desk/training/<int:trainingsession_id>": "ok denied ok denied denied login",
    "GET /desk/training/<int:trainingsession_id>/tick": "method method method method method login",
    "POST /desk/training/<int:trainingsession_id>/tick": "ok ok ok denied denied login",
    "GET /desk/training/<int:trainingsession_id>/end": "method method method method method login",
    "POST /desk/training/<int:trainingsession_id>/end": "ok denied ok denied denied login",
    "GET /desk/training/exams": "ok ok ok denied denied login",
    "POST /desk/training/exams": "ok ok denied denied denied login",
    "GET /desk/training/exams/<int:exam_id>": "ok ok ok denied denied login",
    "POST /desk/training/exams/<int:exam_id>": "method method method method method login",
    "GET /desk/training/exams/<int:exam_id>/scenarios/<int:scenario_id>/start": "method method method method method login",
    "POST /desk/training/exams/<int:exam_id>/scenarios/<int:scenario_id>/start": "ok ok away denied denied login",
    "GET /customers/segments/<int:segment_id>/delete": "method method method method method login",
    "POST /customers/segments/<int:segment_id>/delete": "ok away denied denied denied login",
    # aftersales: returns and CSAT (h9)
    "GET /api/aftersales/cases": "ok ok ok ok ok login",
    "POST /api/aftersales/cases": "ok ok ok denied denied login",  # after-sales: only without a conversation
    "GET /api/aftersales/cases/{int:returncase_id}": "ok ok ok ok ok login",
    "POST /api/aftersales/cases/{int:returncase_id}/steps": "ok ok ok ok ok login",
    "GET /api/aftersales/settings": "ok ok ok ok ok login",
    "PUT /api/aftersales/settings": "ok ok denied denied denied login",
    "POST /api/aftersales/csat/send": "ok ok ok denied denied login",
    "GET /api/aftersales/csat/stats": "ok ok ok denied denied login",
    "GET /aftersales/cases": "ok ok ok ok ok login",
    "POST /aftersales/cases": "method method method method method login",
    "GET /aftersales/cases/<int:returncase_id>": "ok ok ok ok ok login",
    "POST /aftersales/cases/<int:returncase_id>": "ok ok ok ok ok login",
    "GET /aftersales/overdue": "ok ok denied denied denied login",
    "POST /aftersales/overdue": "method method method method method login",
    "GET /desk/c/<int:conversation_id>/returns": "ok ok ok denied denied login",
    "POST /desk/c/<int:conversation_id>/returns": "ok ok ok denied denied login",
    "GET /rt/<slug:shop_slug>/<str:token>": "ok ok ok ok ok ok",
    "POST /rt/<slug:shop_slug>/<str:token>": "ok ok ok ok ok ok",
    "GET /rate/<slug:shop_slug>/<str:token>": "ok ok ok ok ok ok",
    "POST /rate/<slug:shop_slug>/<str:token>": "ok ok ok ok ok ok",
    "GET /desk/logout": "method method method method method method",
    "POST /desk/logout": "login login login login login login",
}
