"""KPI pages: who sees what (decision 163), drill-down, exports, shops apart."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from openpyxl import load_workbook

from xiaoer.accounts.models import Role
from xiaoer.kpi import report
from xiaoer.kpi.tests.scene import (
    D1,
    D3,
    LINES,
    ORDERS,
    add_orders,
    import_chat,
    make_world,
    settle,
    write_lines,
)
from xiaoer.testing import make_staff

pytestmark = pytest.mark.django_db
PERIOD = f"p=custom&from={D1.isoformat()}&to={D3.isoformat()}"


@pytest.fixture
def world(tmp_path, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    w = make_world()
    import_chat(w.shop, write_lines(tmp_path / "h.jsonl", LINES))
    add_orders(w.shop, ORDERS)
    settle()
    return w


def _client(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def test_supervisor_sees_seats_people_and_charts(world):
    boss = make_staff(world.shop, Role.SUPERVISOR)
    page = _client(boss).get(f"/kpi/?{PERIOD}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "按席位" in html and "小美" in html and "小王" in html and "wang" in html
    assert 'id="kpi-data"' in html and "kpi/vendor/plotly.min.js" in html
    assert page.context["charts"]["funnel"] == [3, 3, 2]
    assert sum(b["count"] for b in page.context["charts"]["distribution"]) == 5


def test_an_agent_sees_only_their_own_figures(world):
    page = _client(world.mei).get(f"/kpi/?{PERIOD}")
    assert page.status_code == 200
    assert [r["staff"] for r in page.context["staff_rows"]] == ["mei"]
    assert page.context["seat_rows"] == [] and page.context["shop"] is None
    with pytest.raises(PermissionDenied):
        report.report_for(world.mei, D1, D3, by="staff", person=world.wang.pk)
    assert _client(world.mei).get(f"/kpi/drill?{PERIOD}&figure=inquiries&staff={world.wang.pk}").status_code == 403
    assert _client(world.mei).get(f"/kpi/drill?{PERIOD}&figure=silent").status_code == 403
    own = _client(world.mei).get(f"/kpi/export?{PERIOD}&by=seat").content.decode("utf-8-sig")
    assert "小美" in own and "小王" not in own  # the seat export of an agent holds their own rows only


def test_other_roles_are_refused(world):
    for role in (Role.WAREHOUSE, Role.AFTERSALES):
        assert _client(make_staff(world.shop, role)).get(f"/kpi/?{PERIOD}").status_code == 403


def test_drill_down_lists_the_orders_and_conversations_behind_a_number(world):
    boss = _client(make_staff(world.shop, Role.OWNER))
    paid = boss.get(f"/kpi/drill?{PERIOD}&figure=attributed&seat={world.seat_mei.pk}")
    assert [o.order_no for o in paid.context["items"]] == ["O1"]
    silent = boss.get(f"/kpi/drill?{PERIOD}&figure=silent")
    assert sorted(o.order_no for o in silent.context["items"]) == ["O3", "O4"]
    convs = boss.get(f"/kpi/drill?{PERIOD}&figure=inquiries&seat={world.seat_wang.pk}")
    assert sorted(c.customer.buyer_id for c in convs.context["items"]) == ["alice", "carol"]


def test_exports_csv_and_xlsx(world):
    boss = _client(make_staff(world.shop, Role.OWNER))
    csv_text = boss.get(f"/kpi/export?{PERIOD}&by=seat").content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("席位,询单人数")
    assert "全店" in csv_text
    xlsx = boss.get(f"/kpi/export?{PERIOD}&by=staff&format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[1]][:2] == ["客服", "询单人数"]
    assert {sheet.cell(row=i, column=1).value for i in range(2, sheet.max_row + 1)} == {"mei", "wang", "全店"}


def test_another_shop_sees_nothing_of_this_one(world, tmp_path):
    other = make_world("kpiother")
    boss = _client(make_staff(other.shop, Role.OWNER))
    page = boss.get(f"/kpi/?{PERIOD}")
    assert page.context["shop"]["turns"] == 0 and page.context["seat_rows"] == []
    assert boss.get(f"/kpi/drill?{PERIOD}&figure=attributed&seat={world.seat_mei.pk}").status_code == 403
    orders = boss.get(f"/kpi/drill?{PERIOD}&figure=silent")
    assert list(orders.context["items"]) == []
