"""Quick phrases, broadcasts and the knowledge pages, through services, API and pages."""

from __future__ import annotations

import pytest

from xiaoer.accounts.models import Role
from xiaoer.knowledge import services
from xiaoer.knowledge.models import KnowledgeNotice, StandardAnswer
from xiaoer.testing import client_for, make_seat, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushed(monkeypatch):
    calls = []
    from xiaoer.chat import hub

    monkeypatch.setattr(hub, "publish_event", lambda *a, **kw: calls.append((a, kw)))
    return calls


def test_phrase_lookup_by_pinyin_initials_and_seat_scope():
    shop = make_shop()
    agent = make_staff(shop)
    seat, other_seat = make_seat(shop, operator=agent), make_seat(shop)  # a seat's phrases: its operator's
    services.do_save_phrase(owner_of(shop), shortcut="发货", text="亲，下午四点前付款当天发货")
    services.do_save_phrase(owner_of(shop), shortcut="thdz", text="退货地址：示例路1号", seat=seat)
    services.do_save_phrase(owner_of(shop), shortcut="hp", text="谢谢好评", seat=other_seat)
    assert [p.shortcut for p in services.search_phrases(agent, "/fh")] == ["发货"]
    assert [p.shortcut for p in services.search_phrases(agent, "th", seat_id=seat.id)] == ["thdz"]
    assert services.search_phrases(agent, "hp", seat_id=seat.id) == []  # another seat's own phrase
    assert services.search_phrases(make_staff(make_shop()), "fh") == []  # another shop


def test_phrase_api_for_the_workbench_input():
    shop = make_shop()
    services.do_save_phrase(owner_of(shop), shortcut="kd", text="默认发中通快递")
    client = client_for(make_staff(shop))
    res = client.get("/api/knowledge/phrases", {"q": "kd"})
    assert res.status_code == 200
    assert res.json()[0]["text"] == "默认发中通快递"
    assert client.get("/api/knowledge/phrases", {"q": "mrfz"}).json()[0]["shortcut"] == "kd"


def test_publishing_a_product_broadcasts_and_tracks_reads(pushed, django_capture_on_commit_callbacks):
    shop = make_shop()
    agent1, agent2 = make_staff(shop), make_staff(shop)
    make_staff(shop, role=Role.WAREHOUSE)
    product = services.do_save_product(owner_of(shop), code="P1", title="新款风衣", material="棉")
    with django_capture_on_commit_callbacks(execute=True):
        notice = services.do_publish_product(owner_of(shop), product)
    events = [a for a, _kw in pushed if a[1] == "knowledge"]
    assert events and events[0][0] == shop.id and "新款风衣" in events[0][2]["title"]
    unread = {s.id for s in services.unread_staff(notice)}
    assert {agent1.id, agent2.id} <= unread
    services.do_ack_notice(agent1, notice.id)
    services.do_ack_notice(agent1, notice.id)  # twice is fine
    unread = {s.id for s in services.unread_staff(notice)}
    assert agent1.id not in unread and agent2.id in unread
    assert services.pending_notices(agent1) == [] and services.pending_notices(agent2) == [notice]


def test_must_read_answer_broadcasts(pushed, django_capture_on_commit_callbacks):
    shop = make_shop()
    answer = services.do_save_answer(owner_of(shop), code="A1", category="shipping", question="发货", similar=[], answer="好")
    with django_capture_on_commit_callbacks(execute=True):
        services.do_set_must_read(owner_of(shop), answer)
    assert KnowledgeNotice.objects.filter(answer=answer).exists()
    assert any(a[1] == "knowledge" for a, _kw in pushed)


def test_supervisor_notice_page_lists_who_has_not_read(pushed):
    shop = make_shop()
    agent = make_staff(shop, display_name="阿珍")
    product = services.do_save_product(owner_of(shop), code="P1", title="围巾")
    notice = services.do_publish_product(owner_of(shop), product)
    page = client_for(owner_of(shop)).get("/desk/knowledge/notices")
    assert page.status_code == 200 and "阿珍" in page.content.decode()
    res = client_for(agent).post(f"/desk/knowledge/notices/{notice.id}/ack")
    assert res.status_code == 302
    assert agent not in services.unread_staff(notice)


def test_agents_read_but_cannot_write_knowledge():
    shop = make_shop()
    services.do_save_answer(owner_of(shop), code="A1", category="shipping", question="发货<script>", similar=[], answer="好")
    agent = client_for(make_staff(shop))
    page = agent.get("/desk/knowledge")
    assert page.status_code == 200
    assert "发货&lt;script&gt;" in page.content.decode()
    assert agent.post("/desk/knowledge/answers/new", {"code": "A2", "category": "other", "question": "q",
                                                      "answer": "a"}).status_code == 403
    assert agent.get("/desk/knowledge/import").status_code == 403
    assert agent.post("/api/knowledge/answers", {"code": "A3", "category": "other", "question": "q", "answer": "a"},
                      content_type="application/json").status_code == 403


def test_supervisor_edits_answer_on_page_and_sees_errors():
    shop = make_shop()
    owner = client_for(owner_of(shop))
    res = owner.post("/desk/knowledge/answers/new", {"code": "A1", "category": "shipping", "question": "几天发货",
                                                     "similar": "多久发\n啥时候发", "answer": "{顾客}您好",
                                                     "enabled": "on"})
    assert res.status_code == 302
    assert StandardAnswer.objects.get(shop=shop, code="A1").similar == ["多久发", "啥时候发"]
    res = owner.post("/desk/knowledge/answers/new", {"code": "A2", "category": "shipping", "question": "q",
                                                     "answer": "{坏变量}"})
    assert res.status_code == 200 and "{坏变量}" in res.content.decode()


def test_web_import_runs_as_a_job_with_progress(django_capture_on_commit_callbacks):
    from huey.contrib.djhuey import HUEY

    shop = make_shop()
    owner = client_for(owner_of(shop))
    data = "id,category,question,similar,answer,product\nQ1,shipping,发货,,好,\nQ2,bad,x,,y,\n".encode("gbk")
    from django.core.files.uploadedfile import SimpleUploadedFile

    old = HUEY.immediate
    HUEY.immediate = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            res = owner.post("/desk/knowledge/import", {"kind": "answers",
                                                        "file": SimpleUploadedFile("kb.csv", data, "text/csv")})
    finally:
        HUEY.immediate = old
    assert res.status_code == 302
    page = owner.get(res["Location"]).content.decode()
    assert "第 3 行" in page and "bad" in page
    assert not StandardAnswer.objects.filter(shop=shop).exists()


def test_export_download_is_scoped_to_shop():
    shop, other = make_shop(), make_shop()
    services.do_save_answer(owner_of(other), code="SECRET", category="other", question="别家的", similar=[], answer="x")
    services.do_save_answer(owner_of(shop), code="MINE", category="other", question="自家的", similar=[], answer="x")
    res = client_for(owner_of(shop)).get("/desk/knowledge/export", {"kind": "answers", "format": "csv"})
    body = res.content.decode("utf-8-sig")
    assert "MINE" in body and "SECRET" not in body


def test_every_knowledge_page_renders_for_a_supervisor():
    shop = make_shop()
    product = services.do_save_product(owner_of(shop), code="P1", title="风衣", size_chart="S: 身高150-160 体重40-50")
    answer = services.do_save_answer(owner_of(shop), code="A1", category="other", question="q", similar=["x"], answer="a")
    services.do_save_phrase(owner_of(shop), shortcut="fh", text="发货")
    owner = client_for(owner_of(shop))
    for url in ["/desk/knowledge", f"/desk/knowledge/answers/{answer.id}", "/desk/knowledge/answers/new",
                "/desk/knowledge/products", f"/desk/knowledge/products/{product.id}", "/desk/knowledge/products/new",
                "/desk/knowledge/phrases", "/desk/knowledge/import", "/desk/knowledge/notices", "/desk/robot",
                "/desk/robot/learned"]:
        assert owner.get(url).status_code == 200, url
    res = owner.post(f"/desk/knowledge/products/{product.id}", {"code": "P1", "title": "风衣",
                                                               "size_chart": "S: 身高150-160 体重40-50; M 坏",
                                                               "price": "", "stock": "0"})
    assert res.status_code == 200 and "冒号" in res.content.decode()


def test_an_agent_may_not_write_knowledge_on_any_path():
    """The permission rule: do_save_answer checks the role itself (it checked none before)."""
    from django.core.exceptions import PermissionDenied

    shop = make_shop()
    agent = make_staff(shop, Role.AGENT)
    with pytest.raises(PermissionDenied):
        services.do_save_answer(agent, code="A1", category="other", question="q", similar=[], answer="a")
    res = client_for(agent).post("/api/knowledge/answers", {"code": "A2", "category": "other", "question": "q",
                                                            "answer": "a"}, content_type="application/json")
    assert res.status_code == 403
    assert not StandardAnswer.objects.filter(shop=shop).exists()


def test_an_empty_answer_form_is_an_error_on_the_page_not_a_crash():
    """Found by the role × route walk: an all-blank form made check_answer index an empty list (500)."""
    shop = make_shop()
    res = client_for(owner_of(shop)).post("/desk/knowledge/answers/new", {})
    assert res.status_code == 200
    assert "标准问题（question）为空" in res.content.decode()
    assert not StandardAnswer.objects.filter(shop=shop).exists()


@pytest.mark.parametrize("kind, name, content", [
    ("answers", "a.csv", "编号\n".encode()),  # a file the importer refuses (missing columns)
    ("nonsense", "a.csv", b"x"),  # an unknown kind
])
def test_import_api_answers_a_bad_file_with_400_and_the_reason(kind, name, content):
    """Found by the role × route walk: these answers crashed (500, `router.api` does not exist)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    res = client_for(owner_of(make_shop())).post("/api/knowledge/import", {
        "kind": kind, "file": SimpleUploadedFile(name, content, content_type="text/csv")})
    assert res.status_code == 400
    assert res.json()["detail"]
