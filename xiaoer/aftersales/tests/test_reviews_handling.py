"""Follow-ups of medium and bad reviews, thank-you replies and figures, through the API."""

from __future__ import annotations

import pytest

from xiaoer.accounts.models import Role
from xiaoer.aftersales.models import Review
from xiaoer.testing import client_for, make_seat, make_shop, make_staff

REVIEWS = [
    {"order_no": "A1", "buyer_id": "甲", "rating": "差评", "text": "<b>起球</b>", "product": "大衣",
     "reviewed_at": "2026-03-05 10:00:00"},
    {"order_no": "A2", "buyer_id": "乙", "rating": "5", "text": "好", "product": "T恤", "reviewed_at": "2026-03-05 11:00"},
    {"order_no": "A3", "buyer_id": "丙", "rating": "4星", "text": "不错", "product": "T恤", "reviewed_at": "2026-03-06"},
    {"order_no": "A4", "buyer_id": "丁", "rating": "中评", "text": "一般", "product": "T恤", "reviewed_at": "2026-03-06"},
    {"order_no": "A5", "rating": "很棒棒"},
]


class World:
    def __init__(self) -> None:
        self.shop = make_shop()
        self.owner = self.shop.staff.get(role=Role.OWNER)
        self.agent = make_staff(self.shop, Role.AGENT)
        self.seat = make_seat(self.shop, operator=self.agent)
        self.aftersales = make_staff(self.shop, Role.AFTERSALES)
        self.boss = client_for(self.owner)


@pytest.fixture
def world(db) -> World:
    return World()


def _post(client, url, data):
    return client.post(url, data, content_type="application/json")


def _import(world):
    response = _post(world.boss, "/api/aftersales/reviews", {"reviews": REVIEWS})
    assert response.status_code == 200, response.content
    return response.json()


def test_api_import_reports_like_the_file_import_and_is_idempotent(world):
    first = _import(world)
    assert (first["imported"], first["skipped"], first["followups_opened"]) == (4, 1, 2)
    assert first["errors"][0]["row"] == 5
    again = _import(world)
    assert (again["imported"], again["updated"], again["followups_opened"]) == (0, 0, 0)


def test_agent_cannot_import(world):
    response = _post(client_for(world.agent), "/api/aftersales/reviews", {"reviews": REVIEWS})
    assert response.status_code == 403
    assert not Review.objects.exists()


def test_file_upload_through_the_api(world, tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("订单编号,评价,宝贝标题\nF1,差评,大衣\nF2,好评,大衣\n".encode("gbk"))
    with path.open("rb") as fh:
        response = world.boss.post("/api/aftersales/reviews/import", {"file": fh})
    assert response.status_code == 200, response.content.decode()
    assert response.json() == {"imported": 2, "updated": 0, "skipped": 0, "errors": [], "followups_opened": 1}
    response = world.boss.post("/api/aftersales/reviews/import", {"file": io_of(b"\x00\x01PK garbage")})
    assert response.status_code == 400


def io_of(data: bytes):
    import io

    buffer = io.BytesIO(data)
    buffer.name = "x.xlsx"
    return buffer


def test_followup_goes_to_the_aftersales_role_and_records_cause_reply_outcome(world):
    _import(world)
    mine = client_for(world.aftersales).get("/api/aftersales/reviews/followups").json()["followups"]
    assert {f["review"]["order_no"] for f in mine} == {"A1", "A4"}  # no seat served these buyers
    assert client_for(world.agent).get("/api/aftersales/reviews/followups").json()["followups"] == []
    template = _post(world.boss, "/api/aftersales/reviews/templates",
                     {"kind": "explain", "title": "起球", "text": "{buyer}您好，{product}起球可以用剃毛器处理"}).json()
    followup = mine[0]
    response = _post(client_for(world.aftersales), f"/api/aftersales/reviews/followups/{followup['id']}",
                     {"cause": "quality", "template_id": template["id"]})
    body = response.json()
    assert body["cause"] == "quality" and body["outcome"] == "explained" and body["state"] == "closed"
    assert body["reply_text"].endswith("起球可以用剃毛器处理")
    response = _post(client_for(world.aftersales), f"/api/aftersales/reviews/followups/{followup['id']}",
                     {"cause": "astrology"})
    assert response.status_code == 400


def test_thank_you_one_and_in_bulk_recorded_ready_to_paste(world):
    _import(world)
    template = _post(world.boss, "/api/aftersales/reviews/templates",
                     {"kind": "thanks", "title": "谢谢", "text": "谢谢{buyer}喜欢{product}！"}).json()
    good = Review.objects.filter(shop=world.shop, rating="good").order_by("order_no")
    bad = Review.objects.get(shop=world.shop, order_no="A1")
    agent = client_for(world.agent)
    one = _post(agent, "/api/aftersales/reviews/thank", {"template_id": template["id"], "review_ids": [good[0].id]})
    assert one.json()["replied"][0]["reply_text"] == "谢谢乙喜欢T恤！"
    refused = _post(agent, "/api/aftersales/reviews/thank", {"template_id": template["id"], "review_ids": [bad.id]})
    assert refused.status_code == 400
    bulk = _post(agent, "/api/aftersales/reviews/thank",
                 {"template_id": template["id"], "review_ids": [r.id for r in good] + [bad.id]}).json()
    assert [r["order_no"] for r in bulk["replied"]] == ["A3"]  # A2 already replied, A1 is not good
    assert Review.objects.get(pk=good[1].id).reply_text == "谢谢丙喜欢T恤！"


def test_figures_per_seat_and_product(world):
    _import(world)
    _post(world.boss, "/api/aftersales/reviews", {"reviews": [{**REVIEWS[0], "rating": "好评"}]})  # revised
    figures = world.boss.get("/api/aftersales/reviews/figures?start=2026-03-01&end=2026-03-31").json()
    assert figures["shop"]["total"] == 4 and figures["shop"]["good"] == 3 and figures["shop"]["medium"] == 1
    assert figures["shop"]["revised_share"] == 0.5  # A1 of (A1, A4)
    assert figures["products"]["T恤"]["good_rate"] == round(2 / 3, 4)
    assert figures["causes"] == {}


def test_nothing_readable_from_another_shop(world):
    _import(world)
    stranger = client_for(make_shop().staff.get(role=Role.OWNER))
    assert stranger.get("/api/aftersales/reviews").json()["reviews"] == []
    followup = world.boss.get("/api/aftersales/reviews/followups").json()["followups"][0]
    response = _post(stranger, f"/api/aftersales/reviews/followups/{followup['id']}", {"cause": "quality"})
    assert response.status_code == 404


def test_reviews_page_lists_followups_and_thanks_in_bulk_ready_to_paste(world):
    _import(world)
    template = _post(world.boss, "/api/aftersales/reviews/templates",
                     {"kind": "thanks", "title": "谢谢", "text": "谢谢{buyer}！"}).json()
    page = client_for(world.aftersales).get("/desk/reviews")
    assert page.status_code == 200
    text = page.content.decode()
    assert "&lt;b&gt;起球&lt;/b&gt;" in text and "<b>起球</b>" not in text  # the buyer's text escaped
    good = list(Review.objects.filter(shop=world.shop, rating="good").values_list("pk", flat=True))
    done = client_for(world.aftersales).post("/desk/reviews", {"template": template["id"], "review": good})
    assert done.status_code == 200 and "谢谢乙！" in done.content.decode()
    assert Review.objects.filter(shop=world.shop, rating="good", reply_text="").count() == 0
    assert client_for(make_staff(world.shop, Role.WAREHOUSE)).get("/desk/reviews").status_code == 403


def test_revisits_page_shows_campaign_results_to_supervisors(world):
    page = world.boss.get("/desk/revisits")
    assert page.status_code == 200 and "还没有回访活动" in page.content.decode()
    assert client_for(world.agent).get("/desk/revisits").status_code == 403
