"""Staff of one shop never read or change another shop's data.

Walks EVERY route of the JSON API (from the ninja routers, so routes other apps add are covered
too) and every page URL, as the owner of shop A with shop B's ids, and checks: not found or
forbidden, never B's content, and B's data unchanged afterwards.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import re

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from PIL import Image

from xiaoer.accounts.models import Shop
from xiaoer.assistant.models import LearnedPair
from xiaoer.chat import services, writer
from xiaoer.chat.models import Conversation
from xiaoer.customers import services as customer_services
from xiaoer.knowledge import services as knowledge_services
from xiaoer.knowledge.models import ImportJob, Product
from xiaoer.testing import PASSWORD, make_seat, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db
log = logging.getLogger(__name__)
SECRET = "乙店机密"


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    shop_a, shop_b = make_shop(name="甲店"), make_shop(name=f"{SECRET}店")
    agent_a = make_staff(shop_a)
    make_seat(shop_a, "甲座席", operator=agent_a)
    agent_b = make_staff(shop_b, display_name=f"{SECRET}员工")
    seat_b = make_seat(shop_b, f"{SECRET}座席", operator=agent_b)
    own = services.start_shopper_session(shop_a).conversation
    Conversation.objects.filter(pk=own.pk).update(status="queued")  # a visitor who wrote is listed
    session = services.start_shopper_session(shop_b, buyer_signature=services.make_buyer_signature(
        shop_b, f"{SECRET}买家", name=f"{SECRET}顾客"))
    conv_b = session.conversation
    writer.post_message_sync(conv_b.pk, sender_kind="shopper", body=f"{SECRET}消息")
    writer.post_message_sync(conv_b.pk, sender_kind="agent", kind="note", body=f"{SECRET}内部备注",
                             seat_id=seat_b.pk, staff_id=agent_b.pk)
    note = customer_services.do_add_note(agent_b, session.customer, f"{SECRET}顾客备注", seat=seat_b)
    from django.core.files.uploadedfile import SimpleUploadedFile

    attachment = services.do_store_image(shop_b, SimpleUploadedFile("b.png", png(), content_type="image/png"))
    _seed_other_apps(shop_b)
    product = Product.objects.filter(shop=shop_b).order_by("pk").first()
    knowledge_services.do_save_sku(owner_of(shop_b), product, code=f"{SECRET}-sku", attrs={"颜色": "黑"},
                                   price="10", stock=3)
    ImportJob.objects.create(shop=shop_b, kind="answers", filename=f"{SECRET}.csv", content=b"",
                             status="done", result={"note": SECRET})  # as the upload page makes one
    LearnedPair.objects.create(shop=shop_b, conversation=conv_b, question=f"{SECRET}问", reply=f"{SECRET}答",
                               staff=agent_b)  # as the robot keeps an agent's different reply
    ids = {
        "conversation_id": conv_b.pk, "seat_id": seat_b.pk, "customer_id": session.customer.pk,
        "staff_id": agent_b.pk, "note_id": note.pk, "message_id": conv_b.messages.first().pk,
        "token": attachment.token, "slug": shop_b.slug, "shop_id": shop_b.pk,
    }
    ids.update(_other_app_ids(shop_b))
    client = Client()
    assert client.login(username=owner_of(shop_a).user.username, password=PASSWORD)
    return {"a": shop_a, "b": shop_b, "client": client, "ids": ids, "own_conv": own, "conv_b": conv_b,
            "seat_b": seat_b}


def _seed_other_apps(shop) -> None:
    """Let every app that ships demo data put some into shop B, so their routes have B objects."""
    for config in apps.get_app_configs():
        if not config.name.startswith("xiaoer."):
            continue
        try:
            module = importlib.import_module(f"{config.name}.demo")
        except ModuleNotFoundError:
            continue
        seed = getattr(module, "seed", None)
        if callable(seed):
            seed(shop)  # a seed that fails fails the walk: half-seeded, routes would be walked empty


# Route parameters named after something other than their model.
ALIASES = {"answer_id": "standardanswer_id", "notice_id": "knowledgenotice_id", "job_id": "importjob_id",
           "pair_id": "learnedpair_id", "proposal_id": "attributeproposal_id", "batch_id": "couponbatch_id",
           "followup_id": "reviewfollowup_id"}


def _other_app_ids(shop) -> dict[str, int]:
    """For a route parameter ``<model>_id``, an object of shop B of the model with that name."""
    found: dict[str, int] = {}
    for model in apps.get_models():
        if not model.__module__.startswith("xiaoer."):
            continue
        field_names = {f.name for f in model._meta.get_fields()}
        key = f"{model._meta.model_name}_id"
        if key in found:
            continue
        if "shop" in field_names:
            obj = model.objects.filter(shop=shop).order_by("pk").first()
        else:
            obj = None
            for rel in ("conversation", "order", "customer", "seat", "product", "answer"):
                if rel in field_names:
                    obj = model.objects.filter(**{f"{rel}__shop": shop}).order_by("pk").first()
                    break
        if obj is not None:
            found[key] = obj.pk
    for alias, key in ALIASES.items():
        if key in found:
            found[alias] = found[key]
    return found


OWNER_LINKS = ("case", "conversation", "order", "customer", "seat", "product", "answer", "notice", "task")
MUST_HAVE_ROWS = ("chat.Message", "customers.CustomerNote", "orders.Order", "orders.Task", "orders.OrderChange",
                  "knowledge.StandardAnswer", "knowledge.Product", "knowledge.Sku", "knowledge.KnowledgeNotice",
                  "crm.CouponBatch", "crm.Coupon", "crm.Questionnaire", "crm.QuestionnaireResponse",
                  "crm.BirthdayGreeting", "training.Scenario", "training.TrainingSession", "training.TrainingMessage",
                  "training.Exam", "aftersales.ReturnCase", "aftersales.CaseStep",
                  "aftersales.CsatSurvey", "aftersales.ReturnSettings")


def snapshot(world) -> dict[str, list[dict]]:
    """Every row of shop B, in every app (chat, customers, orders and their tasks, knowledge, the
    robot, ...): a model with a ``shop`` field, or one reached through one of OWNER_LINKS."""
    shop = world["b"]
    state: dict[str, list[dict]] = {"accounts.Shop": list(Shop.objects.filter(pk=shop.pk).values())}
    for model in apps.get_models():
        if not model.__module__.startswith("xiaoer."):
            continue
        names = {f.name for f in model._meta.get_fields()}
        if "shop" in names:
            qs = model.objects.filter(shop=shop)
        else:
            link = next((n for n in OWNER_LINKS if n in names), None)
            if link is None:
                continue
            qs = model.objects.filter(**{f"{link}__shop": shop})
        state[model._meta.label] = list(qs.order_by("pk").values())
    empty = [label for label in MUST_HAVE_ROWS if not state.get(label)]
    assert not empty, f"shop B has no rows of {empty}: the walk would not see them change"
    return state


def assert_unchanged(before: dict, after: dict) -> None:
    changed = [label for label in before if before[label] != after.get(label)]
    assert not changed, f"shop B's data changed: {changed}"


def value_for(name: str, ids: dict) -> str:
    if name in ids:
        return str(ids[name])
    # An id nobody of B owns would prove nothing (it is not found for everyone): a route whose
    # parameter names no B object must get one (seed it, or add an ALIASES entry).
    assert not (name.endswith("_id") or name in {"pk", "id"}), f"no object of shop B for <{name}>"
    return "x"


# --- the API --------------------------------------------------------------------------------------

def api_operations():
    from xiaoer.api import api

    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for op in path_view.operations:
                for method in op.methods:
                    yield f"/api{prefix.rstrip('/')}{path}", method, op


def body_for(op, ids: dict) -> tuple[str, dict]:
    """A plausible body from the operation's schema, pointing at B's objects where it names ids."""
    for model in op.models:
        if model.__name__.startswith("FileParams"):
            return "file", {}
        if not model.__name__.startswith("BodyParams"):
            continue
        schema = model.model_json_schema()
        defs = schema.get("$defs", {})
        props = schema.get("properties", {})
        if len(props) == 1:  # one body parameter: its fields are the body
            (only,) = props.values()
            return "json", _sample(only, defs, ids, "")
        return "json", {k: _sample(v, defs, ids, k) for k, v in props.items()}
    return "none", {}


def _sample(schema: dict, defs: dict, ids: dict, name: str):
    if "$ref" in schema:
        schema = defs[schema["$ref"].split("/")[-1]]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return _sample(options[0], defs, ids, name) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: _sample(v, defs, ids, k) for k, v in schema.get("properties", {}).items()}
    if kind == "integer":
        for key in (name, f"{name}_id"):
            if key in ids:
                return ids[key]
        return 1
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if schema.get("format") == "date":
        return "2026-01-01"
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    return f"x{name}"


PARAM = re.compile(r"{(?:\w+:)?(\w+)}")


def test_every_api_route_with_another_shops_ids(world):
    client, ids = world["client"], world["ids"]
    before = snapshot(world)
    walked = 0
    for path, method, op in api_operations():
        names = PARAM.findall(path)
        url = PARAM.sub(lambda m: value_for(m.group(1), ids), path)
        kind, body = body_for(op, ids)
        if kind == "file":
            res = client.generic(method, url, data=_multipart(), content_type="multipart/form-data; boundary=BoUnDaRy")
        elif kind == "json":
            res = client.generic(method, url, json.dumps(body), content_type="application/json")
        else:
            res = client.generic(method, url)
        text = res.content.decode("utf-8", "replace")
        label = f"{method} {url} -> {res.status_code}"
        assert res.status_code < 500, label
        assert SECRET not in text and SECRET not in json.dumps(text, ensure_ascii=True), label
        if names:
            # B's ids in the path: never served, never done
            allowed = {403, 404} if method == "GET" else {400, 403, 404, 422}
            assert res.status_code in allowed, label
        walked += 1
    assert walked >= 20
    assert_unchanged(before, snapshot(world))


def _multipart() -> bytes:
    return (b"--BoUnDaRy\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + png() + b"\r\n--BoUnDaRy--\r\n")


def test_lists_and_queries_never_include_another_shops_rows(world):
    client = world["client"]
    for tab in ("mine", "waiting", "all", "resolved"):
        rows = client.get(f"/api/chat/conversations?tab={tab}").json()
        assert all(r["id"] != world["conv_b"].pk for r in rows)
    assert world["own_conv"].pk in [r["id"] for r in client.get("/api/chat/conversations?tab=all").json()]
    # the workbench search: B's buyer, messages and notes are never found
    for query in (f"{SECRET}消息", f"{SECRET}顾客", f"{SECRET}内部备注", f"{SECRET}买家"):
        res = client.get("/api/chat/search", {"q": query})
        assert res.status_code == 200 and res.json() == [], query


# --- pages ----------------------------------------------------------------------------------------

PUBLIC_PREFIXES = ("s/",)  # the shopper chat of a shop is public by design (shop name only)
SKIP_PREFIXES = ("api/", "admin/", "static/", "i18n/", "healthz", "media/", "__")


def page_patterns(resolver=None, prefix: str = ""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from page_patterns(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route


def fill_route(route: str, ids: dict) -> str | None:
    route = route.lstrip("^").rstrip("$")
    if "(?P<" in route or "\\" in route:
        return None  # regex routes (static files) are not per-shop
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: value_for(m.group(1), ids), route)


def test_every_page_with_another_shops_ids(world):
    client, ids = world["client"], world["ids"]
    before = snapshot(world)
    walked = 0
    for route in page_patterns():
        if route.startswith(SKIP_PREFIXES) or "<" not in route:
            continue
        url = fill_route(route, ids)
        if url is None:
            continue
        for method in ("GET", "POST"):
            res = client.generic(method, url, "text=x&action=x", content_type="application/x-www-form-urlencoded")
            body = b"".join(res.streaming_content) if res.streaming else res.content
            label = f"{method} {url} -> {res.status_code}"
            assert SECRET.encode() not in body or route.startswith(PUBLIC_PREFIXES) and method == "GET" \
                and _only_public(body), label
            if not route.startswith(PUBLIC_PREFIXES):
                assert res.status_code in {401, 403, 404, 405}, label
        walked += 1
    assert walked >= 5
    assert_unchanged(before, snapshot(world))


def _only_public(body: bytes) -> bool:
    """B's public chat page may show B's shop name, nothing else of B."""
    text = body.decode("utf-8", "replace").replace(f"{SECRET}店", "")
    return SECRET not in text


def test_attachment_of_another_shop_is_not_found(world):
    assert world["client"].get(f"/files/{world['ids']['token']}").status_code == 404


def test_drafting_settings_and_usage_are_the_callers_shop_only(world):
    from xiaoer.drafting.models import DraftingSettings, LlmCall

    DraftingSettings.objects.create(shop=world["b"], model=f"{SECRET}-model", monthly_cap=7)
    LlmCall.objects.create(shop=world["b"], conversation=world["conv_b"], purpose="draft", model=f"{SECRET}-model",
                           outcome="ok", prompt_tokens=999_999)
    page = world["client"].get("/desk/robot/llm").content.decode()
    assert SECRET not in page and "999999" not in page
    assert world["client"].post("/desk/robot/llm", {"enabled": "on", "monthly_cap": "1"}).status_code == 302
    assert DraftingSettings.objects.get(shop=world["b"]).monthly_cap == 7
    res = world["client"].post(f"/api/drafting/conversations/{world['conv_b'].pk}/draft")
    assert res.status_code == 404 and LlmCall.objects.filter(shop=world["a"]).count() == 0


def test_customers_list_segments_and_exports_never_show_another_shops_customers(world):
    """The customers page, its filters and exports (issue 11): shop B's buyers, tags and segments
    are never listed, never usable as a filter, never exported."""
    from xiaoer.crm.models import Segment
    from xiaoer.customers.models import Tag

    client, shop_b = world["client"], world["b"]
    listed = client.get("/customers/", {"q": SECRET})  # the search box echoes the term: look at the rows
    assert listed.status_code == 200 and listed.context["page"]["rows"] == []
    everyone = client.get("/customers/")
    assert everyone.context["page"]["rows"] and SECRET not in everyone.content.decode()
    b_tag = Tag.objects.filter(shop=shop_b).first()
    assert client.get("/customers/", {"tag": b_tag.pk}).status_code == 400  # B's tag is no filter of A's
    b_segment = Segment.objects.filter(shop=shop_b).first()
    assert client.get("/customers/", {"segment": b_segment.pk}).status_code == 404
    exported = client.post("/customers/export", {"format": "csv"})
    assert exported.status_code == 200 and SECRET not in exported.content.decode("utf-8-sig")
    assert client.post("/customers/export", {"tag": b_tag.pk}).status_code == 400


def test_crm_levels_and_values_of_another_shop_are_never_read(world):
    """Issue 11 (value, RFM, levels): B's levels and customer values stay B's."""
    from xiaoer.crm import services as crm_services
    from xiaoer.crm.models import CustomerValue

    client, shop_b = world["client"], world["b"]
    crm_services.do_set_levels(owner_of(shop_b), [{"name": f"{SECRET}级", "threshold": "1"}])
    customer_b = world["conv_b"].customer
    CustomerValue.objects.create(customer=customer_b, shop=shop_b, paid_orders=1, total_paid=1, rfm_segment="重要价值")
    levels = client.get("/api/crm/levels")
    assert levels.status_code == 200 and SECRET not in levels.content.decode()
    assert client.get(f"/api/crm/customers/{customer_b.pk}/value").status_code == 404
    client.put("/api/crm/levels", json.dumps({"levels": []}), content_type="application/json")
    assert crm_services.levels_of(owner_of(shop_b))[0].name == f"{SECRET}级"


def test_coupon_codes_and_questionnaire_links_stay_in_their_shop(world):
    from django.utils import timezone

    from xiaoer.crm import questionnaires
    from xiaoer.crm.models import Coupon, Questionnaire
    from xiaoer.orders.models import Order

    client, shop_a, shop_b = world["client"], world["a"], world["b"]
    before = snapshot(world)
    their_code = Coupon.objects.filter(shop=shop_b).values_list("code", flat=True).first()
    own_order = Order.objects.create(shop=shop_a, order_no="A-1", created_at=timezone.now())
    res = client.post("/api/crm/coupons/redeem", {"code": their_code, "order_id": own_order.pk},
                      content_type="application/json")
    assert res.status_code == 400 and their_code not in res.content.decode()
    their_questionnaire = Questionnaire.objects.get(shop=shop_b)
    their_link = questionnaires.link_path(their_questionnaire, their_questionnaire.responses.first().customer)
    moved = their_link.replace(f"/q/{shop_b.slug}/", f"/q/{shop_a.slug}/")
    assert client.get(moved).status_code == 404  # a B link under A's address: another key, not found
    assert_unchanged(before, snapshot(world))


def test_merging_or_importing_never_reaches_another_shops_customers(world):
    """Shop A's own customer merge form and API, given B's customer id or buyer id, find nothing;
    A's customer import with B's buyer id makes a customer of A, never touches B's."""
    client, ids = world["client"], world["ids"]
    before = snapshot(world)
    own = world["own_conv"].customer_id
    for other in (str(ids["customer_id"]), f"{SECRET}买家"):
        page = client.post(f"/desk/customers/{own}/merge", {"other": other, "confirm": "1"})
        assert page.status_code == 200 and SECRET.encode() not in page.content.replace(other.encode(), b"")
        res = client.post(f"/api/crm/customers/{own}/merge", {"other": other}, content_type="application/json")
        assert res.status_code == 400 and "已合并" not in res.content.decode()
    upload = io.BytesIO(f"会员名,姓名\n{SECRET}买家,甲店的同名顾客\n".encode())
    upload.name = "members.csv"
    assert "新增 1" in client.post("/desk/customers/import", {"file": upload}).content.decode()
    assert_unchanged(before, snapshot(world))


def test_kpi_pages_show_nothing_of_another_shop(world):
    """Shop B's KPIs (an agent of B answered a buyer of B today) never reach shop A's owner."""
    from xiaoer.kpi.tests.scene import settle

    conv_b, seat_b = world["conv_b"], world["seat_b"]
    writer.post_message_sync(conv_b.pk, sender_kind="agent", body="好的", seat_id=seat_b.pk,
                             staff_id=seat_b.operator_id)
    settle()
    client = world["client"]
    query = "p=30d"
    page = client.get(f"/kpi/?{query}")
    assert page.status_code == 200 and SECRET.encode() not in page.content
    assert page.context["shop"]["turns"] == 0 and page.context["shop"]["inquiries"] == 0
    for by in ("seat", "staff", "day"):
        export = client.get(f"/kpi/export?{query}&by={by}")
        assert SECRET.encode() not in export.content
    assert client.get(f"/kpi/drill?{query}&figure=inquiries&seat={seat_b.pk}").status_code == 403
    drill = client.get(f"/kpi/drill?{query}&figure=inquiries&staff={seat_b.operator_id}")
    assert drill.status_code in (200, 403) and SECRET.encode() not in drill.content


def test_reviews_and_revisit_campaigns_of_another_shop_are_never_read(world):
    """Issue 12 part B: shop B's reviews, follow-ups, templates, figures and campaigns (its demo
    data) never show in A's lists; A's import never links B's orders or buyers."""
    from xiaoer.aftersales.models import Campaign, Review, ReviewFollowUp
    from xiaoer.testing import client_for

    shop_a, shop_b = world["a"], world["b"]
    client = client_for(owner_of(shop_a))
    for url in ("/api/aftersales/reviews", "/api/aftersales/reviews/followups?include_closed=true",
                "/api/aftersales/reviews/templates", "/api/aftersales/campaigns", "/api/aftersales/reviews/figures"):
        res = client.get(url)
        assert res.status_code == 200 and SECRET not in res.content.decode(), url
    assert client.get("/api/aftersales/reviews").json()["reviews"] == []
    assert client.get("/api/aftersales/campaigns").json()["campaigns"] == []
    b_review = Review.objects.filter(shop=shop_b).first()
    res = client.post("/api/aftersales/reviews", {"reviews": [{"order_no": b_review.order_no, "rating": "差评",
                                                               "buyer_id": b_review.buyer_id}]},
                      content_type="application/json")
    assert res.json()["imported"] == 1
    mine = Review.objects.get(shop=shop_a, order_no=b_review.order_no)
    assert mine.customer is None and mine.seat is None and mine.order_id_ref is None
    assert ReviewFollowUp.objects.get(review=mine).shop_id == shop_a.pk
    b_campaign = Campaign.objects.filter(shop=shop_b).first()
    assert client.get(f"/api/aftersales/campaigns/{b_campaign.pk}").status_code == 404


def test_return_cases_csat_and_their_links_stay_in_their_shop(world):
    """Shop A's lists and figures never count B's cases or ratings; B's signed links do not open
    under A's address, nor A's under B's."""
    from xiaoer.aftersales import csat, returns
    from xiaoer.aftersales.models import CsatSurvey, ReturnCase

    client, shop_a = world["client"], world["a"]
    their_case = ReturnCase.objects.filter(shop=world["b"]).first()
    their_survey = CsatSurvey.objects.filter(shop=world["b"]).first()
    assert their_case is not None and their_survey is not None
    listed = client.get("/api/aftersales/cases").json()["cases"]
    assert their_case.pk not in {c["id"] for c in listed}
    assert client.get(f"/api/aftersales/cases?order_id={their_case.order_id}").json()["cases"] == []
    assert client.get("/api/aftersales/csat/stats").json()["sent"] == CsatSurvey.objects.filter(shop=shop_a).count()
    assert SECRET not in client.get("/aftersales/cases").content.decode()
    case_token = returns.make_token(their_case, world["b"])
    assert client.get(f"/rt/{shop_a.slug}/{case_token}").status_code == 404
    assert client.get(f"/rate/{shop_a.slug}/{csat.make_token(their_survey)}").status_code == 404
    assert client.get(f"/rt/{world['b'].slug}/{case_token}").status_code == 200
