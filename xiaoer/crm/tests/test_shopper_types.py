"""Shopper types: the agent sets one, the system only suggests (with its reason), tips per shop."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from xiaoer.accounts.models import Role
from xiaoer.chat import writer
from xiaoer.chat.tests.chatkit import make_scene
from xiaoer.crm import hints, shopper_types
from xiaoer.crm.models import ShopperTypeTip
from xiaoer.customers.models import Customer, ShopperType
from xiaoer.testing import client_for, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 5, 1, 10, 0, tzinfo=dt.UTC)


def chat(*lines: tuple[str, str, int]) -> list[tuple[str, str, dt.datetime]]:
    return [(who, text, T0 + dt.timedelta(seconds=at)) for who, text, at in lines]


def test_bargaining_suggests_the_thrifty_type_with_its_reason():
    found = shopper_types.suggest(chat(("shopper", "能便宜点吗", 0), ("agent", "亲已经是最低价了", 10),
                                       ("shopper", "别家才卖99，包邮吗", 20), ("shopper", "有优惠券吗", 30)))
    assert found.shopper_type == ShopperType.THRIFTY
    assert "讲价" in found.reason


def test_slow_replies_suggest_the_slow_paced_type():
    found = shopper_types.suggest(chat(("shopper", "这件有红色吗", 0), ("agent", "有的亲", 5),
                                       ("shopper", "那红色M码有货吗", 600), ("agent", "有货", 610),
                                       ("shopper", "发什么快递", 1300)))
    assert found.shopper_type == ShopperType.SLOW and "秒" in found.reason


def test_hesitation_suggests_the_indecisive_type():
    found = shopper_types.suggest(chat(("shopper", "黑色和白色哪个好", 0), ("shopper", "我再想想", 20),
                                       ("shopper", "还是有点纠结，要不要买", 40)))
    assert found.shopper_type == ShopperType.INDECISIVE


def test_too_little_to_go_on_suggests_nothing():
    assert shopper_types.suggest(chat(("shopper", "你好", 0), ("shopper", "在吗", 5))) is None


def test_the_suggestion_never_sets_the_type_the_agent_does():
    scene = make_scene()
    for text in ("能便宜点吗", "别家才卖99", "包邮吗有优惠券吗"):
        writer.post_message_sync(scene.conversation.pk, sender_kind="shopper", body=text)
    view = hints.panel_view(scene.agent, scene.conversation.pk)
    assert view.suggestion.shopper_type == ShopperType.THRIFTY
    assert Customer.objects.get(pk=scene.customer.pk).shopper_type == ""
    page = client_for(scene.agent).post(f"/desk/c/{scene.conversation.pk}/profile-hints",
                                        {"shopper_type": "thrifty"}).content.decode()
    assert Customer.objects.get(pk=scene.customer.pk).shopper_type == "thrifty"
    assert str(shopper_types.DEFAULT_TIPS["thrifty"]) in page


def test_an_unknown_type_is_refused():
    scene = make_scene()
    with pytest.raises(ValidationError):
        hints.do_set_shopper_type(scene.agent, scene.customer, "grumpy")
    res = client_for(scene.agent).put(f"/api/crm/customers/{scene.customer.pk}/shopper-type",
                                      {"shopper_type": "grumpy"}, content_type="application/json")
    assert res.status_code == 400


def test_the_api_sets_and_reads_the_type_with_the_shops_tips():
    scene = make_scene()
    owner = owner_of(scene.shop)
    hints.do_save_tip(owner, "blunt", "直接报价")
    client = client_for(scene.agent)
    url = f"/api/crm/customers/{scene.customer.pk}/shopper-type"
    assert client.put(url, {"shopper_type": "blunt"}, content_type="application/json").status_code == 200
    assert client.get(url).json()["tips"] == "直接报价"
    other = client_for(owner_of(make_shop()))
    assert other.get(url).status_code == 404
    assert other.put(url, {"shopper_type": ""}, content_type="application/json").status_code == 404
    assert Customer.objects.get(pk=scene.customer.pk).shopper_type == "blunt"


def test_tips_are_per_shop_and_empty_goes_back_to_the_default():
    shop, other = make_shop(), make_shop()
    hints.do_save_tip(owner_of(shop), "picky", "先认同")
    assert hints.tips_for(shop.pk)["picky"] == "先认同"
    assert hints.tips_for(other.pk)["picky"] == str(shopper_types.DEFAULT_TIPS["picky"])
    hints.do_save_tip(make_staff(shop, Role.SUPERVISOR), "picky", "")
    assert not ShopperTypeTip.objects.filter(shop=shop).exists()
    with pytest.raises(ValidationError):
        hints.do_save_tip(owner_of(shop), "picky", "长" * 1001)


@pytest.mark.parametrize("role", [Role.AGENT, Role.WAREHOUSE, Role.AFTERSALES])
def test_only_supervisors_and_owners_edit_tips(role):
    shop = make_shop()
    staff = make_staff(shop, role)
    with pytest.raises(PermissionDenied):
        hints.do_save_tip(staff, "picky", "x")
    res = client_for(staff).post("/desk/crm/shopper-type-tips", {"tips_picky": "x"})
    assert res.status_code == 403
    assert not ShopperTypeTip.objects.filter(shop=shop).exists()


def test_the_tips_page_saves_for_a_supervisor():
    shop = make_shop()
    client = client_for(make_staff(shop, Role.SUPERVISOR))
    page = client.get("/desk/crm/shopper-type-tips").content.decode()
    assert "挑剔型" in page and str(shopper_types.DEFAULT_TIPS["picky"]) in page
    res = client.post("/desk/crm/shopper-type-tips", {"tips_picky": "<script>x</script>先认同再解释"})
    assert res.status_code == 200 and "<script>x" not in res.content.decode()
    assert hints.tips_for(shop.pk)["picky"] == "<script>x</script>先认同再解释"


def test_the_tips_api_for_a_supervisor_and_not_for_an_agent():
    shop = make_shop()
    body = {"shopper_type": "slow", "tips": "耐心等"}
    agent = client_for(make_staff(shop, Role.AGENT))
    assert agent.put("/api/crm/shopper-type-tips", body, content_type="application/json").status_code == 403
    boss = client_for(make_staff(shop, Role.SUPERVISOR))
    assert boss.put("/api/crm/shopper-type-tips", body, content_type="application/json").json()["tips"] == "耐心等"
    rows = {r["shopper_type"]: r for r in agent.get("/api/crm/shopper-type-tips").json()}
    assert rows["slow"] == {"shopper_type": "slow", "tips": "耐心等", "customised": True}
    assert rows["picky"]["customised"] is False and len(rows) == 8
