"""Profile services (issue 11): basic/advanced fields, contacts with one default per kind, custom
attributes the shop defines, tags — with their role and shop rules and size limits."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404

from xiaoer.accounts.models import Role
from xiaoer.customers import services
from xiaoer.customers.models import CustomerContact, CustomerTag
from xiaoer.testing import make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop_people():
    shop = make_shop()
    return {"shop": shop, "owner": owner_of(shop), "agent": make_staff(shop, Role.AGENT),
            "warehouse": make_staff(shop, Role.WAREHOUSE),
            "customer": services.get_or_create_buyer(shop, "tb_wang", name="王五")}


def test_profile_fields_are_cleaned_and_saved(shop_people):
    agent, customer = shop_people["agent"], shop_people["customer"]
    services.do_edit_profile(agent, customer, {"name": " 王小五 ", "city": "杭州", "qq": "12345", "gender": "female",
                                               "birth_date": "1990-02-28", "age_band": "30-34",
                                               "birthday_lunar": True})
    customer.refresh_from_db()
    assert (customer.name, customer.city, customer.qq, customer.gender) == ("王小五", "杭州", "12345", "female")
    assert customer.birth_date == dt.date(1990, 2, 28)
    assert (customer.birthday_month, customer.birthday_day, customer.birthday_lunar) == (2, 28, True)
    services.do_edit_profile(agent, customer, {"birthday_month": "2", "birthday_day": "29"})  # a leap-day birthday
    customer.refresh_from_db()
    assert (customer.birthday_month, customer.birthday_day) == (2, 29)


@pytest.mark.parametrize("data", [{"qq": "abc"}, {"gender": "x"}, {"name": "长" * 101}, {"age_band": "3-4"},
                                  {"birth_date": "1990-13-01"}, {"birthday_month": "2", "birthday_day": "30"},
                                  {"birth_date": (dt.date.today() + dt.timedelta(days=2)).isoformat()}])
def test_bad_profile_input_is_refused(shop_people, data):
    with pytest.raises(ValidationError), transaction.atomic():  # as at the edge: a refused call rolls back its savepoint
        services.do_edit_profile(shop_people["agent"], shop_people["customer"], data)


def test_profile_roles_and_shops(shop_people):
    with pytest.raises(PermissionDenied), transaction.atomic():
        services.do_edit_profile(shop_people["warehouse"], shop_people["customer"], {"name": "x"})
    stranger = make_staff(make_shop(), Role.AGENT)
    with pytest.raises(Http404), transaction.atomic():
        services.do_edit_profile(stranger, shop_people["customer"], {"name": "x"})


def test_several_phones_one_default_kept_on_the_customer(shop_people):
    agent, customer = shop_people["agent"], shop_people["customer"]
    first = services.do_add_contact(agent, customer, "phone", "138-0013-8000")
    second = services.do_add_contact(agent, customer, "phone", "13900139000")
    customer.refresh_from_db()
    assert first.is_default and not second.is_default and customer.phone == "13800138000"
    services.do_set_default_contact(agent, second)
    customer.refresh_from_db()
    assert customer.phone == "13900139000"
    assert list(CustomerContact.objects.filter(customer=customer, is_default=True).values_list("pk", flat=True)) == [second.pk]
    services.do_remove_contact(agent, CustomerContact.objects.get(pk=second.pk))
    customer.refresh_from_db()
    assert customer.phone == "13800138000" and CustomerContact.objects.get(pk=first.pk).is_default
    services.do_remove_contact(agent, CustomerContact.objects.get(pk=first.pk))
    customer.refresh_from_db()
    assert customer.phone == ""


def test_address_default_sets_the_city_and_email_is_checked(shop_people):
    agent, customer = shop_people["agent"], shop_people["customer"]
    services.do_add_contact(agent, customer, "address", "文三路 1 号", province="浙江", city="杭州", district="西湖")
    services.do_add_contact(agent, customer, "email", "Wang@Example.com")
    customer.refresh_from_db()
    assert (customer.address, customer.city, customer.email) == ("文三路 1 号", "杭州", "wang@example.com")
    for kind, value in (("email", "not-mail"), ("phone", "12"), ("phone", "<script>"), ("address", "长" * 301),
                        ("fax", "1"), ("email", "wang@example.com")):
        with pytest.raises(ValidationError), transaction.atomic():
            services.do_add_contact(agent, customer, kind, value)


def test_contacts_are_limited_per_kind(shop_people):
    agent, customer = shop_people["agent"], shop_people["customer"]
    for n in range(services.CONTACTS_PER_KIND):
        services.do_add_contact(agent, customer, "phone", f"1380000{n:04d}")
    with pytest.raises(ValidationError), transaction.atomic():
        services.do_add_contact(agent, customer, "phone", "13999999999")


def test_custom_attributes_are_defined_by_supervisors_and_values_validated(shop_people):
    owner, agent, customer = shop_people["owner"], shop_people["agent"], shop_people["customer"]
    with pytest.raises(PermissionDenied), transaction.atomic():
        services.do_save_attribute(agent, key="size", label="尺码", kind="choice", choices="S,M,L")
    size = services.do_save_attribute(owner, key="size", label="尺码", kind="choice", choices="S, M，L,M")
    assert size.choices == ["S", "M", "L"]
    height = services.do_save_attribute(owner, key="height", label="身高", kind="number")
    first = services.do_save_attribute(owner, key="first_visit", label="首次到店", kind="date")
    services.do_set_attribute_value(agent, customer, size, "M")
    services.do_set_attribute_value(agent, customer, height, "172.50")
    services.do_set_attribute_value(agent, customer, first, "2024-05-01")
    assert services.attribute_values_of(customer) == {size.pk: "M", height.pk: "172.5", first.pk: "2024-05-01"}
    for attribute, bad in ((size, "XXL"), (height, "高"), (height, "NaN"), (first, "5月1日")):
        with pytest.raises(ValidationError), transaction.atomic():
            services.do_set_attribute_value(agent, customer, attribute, bad)
    services.do_set_attribute_value(agent, customer, size, "")
    assert size.pk not in services.attribute_values_of(customer)
    for key, kind, choices in (("Bad Key", "text", ""), ("size", "text", ""), ("colour", "choice", ""),
                               ("x", "list", "")):
        with pytest.raises(ValidationError), transaction.atomic():
            services.do_save_attribute(owner, key=key, label="标签", kind=kind, choices=choices)


def test_tags_created_by_supervisors_put_on_by_agents(shop_people):
    owner, agent, customer = shop_people["owner"], shop_people["agent"], shop_people["customer"]
    with pytest.raises(PermissionDenied), transaction.atomic():
        services.do_save_tag(agent, name="老顾客")
    tag = services.do_save_tag(owner, name="老顾客", colour="#FF0000")
    assert tag.colour == "#ff0000"
    assert services.do_tag(agent, customer, tag) is True
    assert services.do_tag(agent, customer, tag) is False  # once
    assert [t.name for t in services.tags_of(customer)] == ["老顾客"]
    services.do_save_tag(owner, name="回头客", colour="#00ff00", tag=tag)
    assert [t.name for t in services.tags_of(customer)] == ["回头客"]
    for name, colour in (("", "#000000"), ("长" * 21, "#000000"), ("红", "red"), ("回头客", "#000000")):
        with pytest.raises(ValidationError), transaction.atomic():
            services.do_save_tag(owner, name=name, colour=colour)
    services.do_untag(agent, customer, tag)
    assert services.tags_of(customer) == []
    services.do_tag(agent, customer, tag)
    services.do_delete_tag(owner, tag)
    assert not CustomerTag.objects.filter(customer=customer).exists()


def test_tags_and_attributes_of_another_shop_are_not_found(shop_people):
    other_owner = owner_of(make_shop())
    foreign_tag = services.do_save_tag(other_owner, name="别店")
    foreign_attr = services.do_save_attribute(other_owner, key="k", label="别店字段")
    agent, customer = shop_people["agent"], shop_people["customer"]
    with pytest.raises(Http404), transaction.atomic():
        services.do_tag(agent, customer, foreign_tag)
    with pytest.raises(Http404), transaction.atomic():
        services.do_set_attribute_value(agent, customer, foreign_attr, "x")
    with pytest.raises(Http404), transaction.atomic():
        services.access_tag(agent, foreign_tag.pk)
    with pytest.raises(Http404), transaction.atomic():
        services.do_save_tag(shop_people["owner"], name="改名", tag=foreign_tag)
