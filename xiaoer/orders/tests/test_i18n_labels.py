"""Issue 10: the English UI shows no Chinese for roles, order statuses, task kinds and states; the
Chinese UI shows no codes in import errors, the CSV export or socket error texts."""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.utils import translation

from xiaoer.accounts.models import Role
from xiaoer.knowledge import services as knowledge_services
from xiaoer.orders import services as order_services
from xiaoer.orders.models import TaskKind
from xiaoer.testing import PASSWORD, make_staff

from .test_workflow import _paid

HAN = re.compile(r"[\u4e00-\u9fff]")


def _english(client) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def test_english_ui_shows_roles_statuses_and_tasks_in_english(world, client):
    order = _paid(world)
    order_services.do_raise_task(world.agent, kind=TaskKind.DAMAGED_PARCEL, question="box crushed",
                                 conversation=world.conversation)
    _english(client)
    client.login(username=world.aftersales.user.username, password=PASSWORD)
    queue = client.get("/desk/tasks").content.decode()
    assert "Damaged parcel" in queue and "Open" in queue and "After-sales" in queue
    assert not {"包裹破损", "待处理", "售后"} & set(re.findall(r"[\u4e00-\u9fff]+", queue))
    client.logout()  # (clears the test client's cookies)
    client.login(username=world.agent.user.username, password=PASSWORD)
    _english(client)
    panel = client.get(f"/desk/c/{world.conversation.pk}/orders").content.decode()
    assert "Paid" in panel and "Ask the shopper to confirm receiver and address" in panel
    assert "已付款" not in panel and "请顾客核对收货信息" not in panel
    boss = make_staff(world.shop, Role.SUPERVISOR)
    client.login(username=boss.user.username, password=PASSWORD)
    _english(client)
    assert "Supervisor" in client.get("/desk/supervisor").content.decode()
    # a card stored in the chat keeps the shop's language whoever built it
    with translation.override("en"):
        assert order_services.order_card(order)["status_label"] == "已付款"


def test_chinese_ui_shows_no_codes_in_import_errors_export_and_socket_errors(world, client):
    shop = world.shop
    bad = "id,category,question,similar,answer\nA1,size,尺码怎么选,,亲按身高选\n".encode()
    with translation.override("zh-hans"):
        result = knowledge_services.import_file(shop, "answers", bad, "a.csv")
        [error] = [str(e) for e in result.errors]
    assert "尺码规格" in error and "size_spec" not in error
    good = "id,category,question,similar,answer\nA1,size_spec,尺码怎么选,,亲按身高选\n".encode()
    knowledge_services.import_file(shop, "answers", good, "a.csv")
    header, rows = knowledge_services.export_rows(shop, "answers")
    assert rows[0][header.index("category")] == "尺码规格"
    again = knowledge_services.import_file(shop, "answers", knowledge_services.export_file(shop, "answers")[0], "b.csv")
    assert again.imported and not again.errors  # the export reads back
    client.login(username=world.agent.user.username, password=PASSWORD)
    page = client.get("/desk").content.decode()
    errors = json.loads(re.search(r'"errors": (\{[^}]*\})', page).group(1))
    assert all(HAN.search(text) for text in errors.values()) and "not served" not in str(errors)
