"""Quick-phrase groups: saved, size-limited, shop-scoped; import/export column 分组; the
knowledge page lists phrases by group (issue 10, docs/decisions/120-seat-greeting-and-phrase-groups.md)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from xiaoer.knowledge import services
from xiaoer.knowledge.models import QuickPhrase
from xiaoer.testing import client_for, make_seat, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db


def test_a_phrase_keeps_its_group_trimmed_and_limited():
    shop = make_shop()
    phrase = services.do_save_phrase(owner_of(shop), shortcut="fh", text="今天发货", group="  售后\n 物流 ")
    phrase.refresh_from_db()
    assert phrase.group == "售后 物流"
    with pytest.raises(ValidationError):
        services.do_save_phrase(owner_of(shop), shortcut="x", text="y", group="组" * 31)
    assert services.do_save_phrase(owner_of(shop), shortcut="z", text="y").group == ""


def test_the_phrase_api_gives_the_group_and_only_the_shops_phrases():
    shop, other = make_shop(), make_shop()
    services.do_save_phrase(owner_of(shop), shortcut="kd", text="默认发中通快递", group="物流")
    services.do_save_phrase(owner_of(other), shortcut="kd2", text="别家的", group="物流")
    res = client_for(make_staff(shop)).get("/api/knowledge/phrases", {"q": "kd"})
    assert res.status_code == 200
    assert [(p["shortcut"], p["group"]) for p in res.json()] == [("kd", "物流")]


def test_listing_all_phrases_comes_by_group():
    shop = make_shop()
    for shortcut, group in (("a", "物流"), ("b", ""), ("c", "售后"), ("d", "物流")):
        services.do_save_phrase(owner_of(shop), shortcut=shortcut, text=f"内容{shortcut}", group=group)
    rows = services.search_phrases(make_staff(shop), "/", limit=10)
    assert [p.shortcut for p in rows] == ["c", "a", "d", "b"]  # 未分组 last


def test_import_reads_the_group_column_and_export_writes_it():
    shop = make_shop()
    seat = make_seat(shop)
    data = (f"快捷键,内容,客服账号,分组\nfh,下午四点前发货,,物流\nthdz,退货地址是……,{seat.name},售后\n"
            f"hp,谢谢好评,,\nbad,太长的分组,,{'组' * 31}\n").encode()
    result = services.import_file(shop, "phrases", data, "p.csv")
    assert not result.imported and [e.row for e in result.errors] == [5]
    assert "分组名最长 30 字" in str(result.errors[0])
    result = services.import_file(shop, "phrases", data, "p.csv", skip_bad_rows=True)
    assert result.created == 3
    assert dict(QuickPhrase.objects.filter(shop=shop).values_list("shortcut", "group")) == {
        "fh": "物流", "thdz": "售后", "hp": ""}
    # a second import moves a phrase to another group
    services.import_file(shop, "phrases", "快捷键,内容,分组\nfh,下午四点前发货,发货\n".encode(), "p.csv")
    assert QuickPhrase.objects.get(shop=shop, shortcut="fh").group == "发货"
    content, _ctype, _name = services.export_file(shop, "phrases", "csv")
    text = content.decode("utf-8-sig")
    assert text.splitlines()[0] == "shortcut,text,seat,group" and "fh,下午四点前发货,,发货" in text
    other = make_shop()
    # the seat's own phrase needs that seat in the other shop; the shared ones come with their group
    assert services.import_file(other, "phrases", content, "phrases.csv", skip_bad_rows=True).created == 2
    assert QuickPhrase.objects.get(shop=other, shortcut="fh").group == "发货"


def test_the_knowledge_page_lists_phrases_by_group_and_saves_one_escaped():
    shop = make_shop()
    client = client_for(owner_of(shop))
    services.do_save_phrase(owner_of(shop), shortcut="hp", text="谢谢好评")
    response = client.post("/desk/knowledge/phrases", {"shortcut": "th", "text": "退货请寄回", "seat": "",
                                                       "group": "<b>售后</b>"})
    assert response.status_code == 302
    assert QuickPhrase.objects.get(shop=shop, shortcut="th").group == "<b>售后</b>"
    page = client.get("/desk/knowledge/phrases").content.decode()
    assert "<b>售后</b>" not in page and "&lt;b&gt;售后&lt;/b&gt;" in page
    assert page.index("&lt;b&gt;售后&lt;/b&gt;") < page.index("未分组")  # named groups first
    too_long = client.post("/desk/knowledge/phrases", {"shortcut": "x", "text": "y", "group": "组" * 31})
    assert too_long.status_code == 200 and "分组名最长 30 字" in too_long.content.decode()


def test_the_phrase_page_groups_in_english(settings):
    shop = make_shop()
    services.do_save_phrase(owner_of(shop), shortcut="hp", text="谢谢好评")
    client = client_for(owner_of(shop))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get("/desk/knowledge/phrases").content.decode()
    assert "Ungrouped" in page and "Group (optional)" in page and "未分组" not in page
