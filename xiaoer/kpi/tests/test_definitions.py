"""Every definition of docs/kpis.md against figures worked out by hand (scene.py)."""

from __future__ import annotations

import pytest

from xiaoer.kpi.tests.scene import (
    D1,
    D2,
    D3,
    LINES,
    ORDERS,
    add_orders,
    import_chat,
    kpi_report,
    make_world,
    settle,
    write_lines,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path):
    w = make_world()
    assert import_chat(w.shop, write_lines(tmp_path / "h.jsonl", LINES))["imported"] == len(LINES)
    add_orders(w.shop, ORDERS)
    settle()
    return w


def _by(rows: list[dict], key: str) -> dict[str, dict]:
    return {r[key]: r for r in rows}


def test_per_seat_figures(world):
    rows = _by(kpi_report(world.shop, D1, D3)["rows"], "seat")
    assert set(rows) == {"小美", "小王"}
    mei = rows["小美"]
    # turns T1 (2 shopper messages; the robot between breaks the run but answers nothing), T2, T3
    assert (mei["turns"], mei["answered"]) == (3, 3)
    assert (mei["response_mean_s"], mei["response_median_s"], mei["response_p90_s"]) == (160.0, 120.0, 300.0)
    assert mei["three_minute_rate"] == round(2 / 3, 4)
    assert mei["reply_ratio"] == 0.75  # 3 of mei's messages ÷ 4 shopper messages of her turns
    assert (mei["inquiries"], mei["ordered"], mei["paid"]) == (1, 1, 1)
    assert (mei["first_response_median_s"], mei["first_response_p90_s"]) == (120.0, 120.0)
    assert (mei["attributed_sales"], mei["attributed_orders"], mei["average_order_value"]) == ("150.00", 1, "150.00")
    assert (mei["main_sales"], mei["related_sales"]) == ("100.00", "50.00")
    assert (mei["main_quantity"], mei["related_quantity"]) == (1, 2)

    wang = rows["小王"]
    # T4 (50 s) and T7 (10 s) answered; bob's T6 is unanswered but 小王's robot wrote before it
    assert (wang["turns"], wang["answered"]) == (3, 2)
    assert (wang["response_mean_s"], wang["response_median_s"], wang["response_p90_s"]) == (30.0, 30.0, 50.0)
    assert wang["three_minute_rate"] == round(2 / 3, 4)
    assert wang["reply_ratio"] == round(2 / 3, 4)
    # alice on D2 and carol on D1; carol's only order in her window (O5) was never paid
    assert (wang["inquiries"], wang["ordered"], wang["paid"]) == (2, 2, 1)
    assert (wang["inquiry_conversion"], wang["payment_conversion"]) == (1.0, 0.5)
    assert (wang["first_response_median_s"], wang["first_response_p90_s"]) == (30.0, 50.0)
    assert (wang["attributed_sales"], wang["attributed_orders"], wang["main_sales"], wang["related_sales"]) == \
        ("80.00", 1, "0.00", "80.00")


def test_shop_totals_silent_orders_and_unserved_turns(world):
    shop = kpi_report(world.shop, D1, D3)["shop"]
    assert (shop["turns"], shop["answered"]) == (7, 5)  # bob's T5 has no seat: only in the totals
    assert (shop["response_mean_s"], shop["response_median_s"], shop["response_p90_s"]) == (108.0, 60.0, 300.0)
    assert shop["three_minute_rate"] == round(4 / 7, 4)
    assert shop["reply_ratio"] == 0.625
    assert (shop["first_response_median_s"], shop["first_response_p90_s"], shop["first_response_mean_s"]) == \
        (50.0, 120.0, 60.0)
    assert (shop["inquiries"], shop["ordered"], shop["paid"]) == (3, 3, 2)
    assert shop["payment_conversion"] == round(2 / 3, 4)
    assert (shop["attributed_sales"], shop["attributed_orders"], shop["average_order_value"]) == \
        ("230.00", 2, "115.00")
    assert shop["silent_orders"] == 2  # O3 (outside carol's window) and O4 (dave never chatted)


def test_by_staff_leaves_unanswered_turns_to_the_seat(world):
    rows = _by(kpi_report(world.shop, D1, D3, by="staff")["rows"], "staff")
    assert set(rows) == {"mei", "wang"}
    assert (rows["wang"]["turns"], rows["wang"]["three_minute_rate"]) == (2, 1.0)


def test_a_buyer_on_two_days_is_two_inquiries(world):
    rows = _by(kpi_report(world.shop, D1, D3, by="day")["rows"], "day")
    assert (rows[D1.isoformat()]["inquiries"], rows[D2.isoformat()]["inquiries"]) == (2, 1)
    assert (rows[D1.isoformat()]["turns"], rows[D2.isoformat()]["turns"]) == (6, 1)
    only_d2 = kpi_report(world.shop, D2, D2)["shop"]
    assert (only_d2["inquiries"], only_d2["attributed_sales"]) == (1, "80.00")


def test_json_shape(world):
    data = kpi_report(world.shop, D1, D1)
    required = {"inquiries", "ordered", "paid", "inquiry_conversion", "payment_conversion", "attributed_sales",
                "attributed_orders", "average_order_value", "main_sales", "related_sales",
                "first_response_median_s", "first_response_p90_s", "response_mean_s", "response_median_s",
                "response_p90_s", "three_minute_rate", "reply_ratio", "turns"}
    assert all(required <= set(row) and "seat" in row for row in data["rows"])
    assert required | {"silent_orders", "reminder_recovery"} <= set(data["shop"])
    assert data["shop"]["reminder_recovery"] is None  # nothing reminded


def test_service_hours_measure_from_the_next_opening(tmp_path, settings):
    settings.KPI_SERVICE_HOURS = "09:00-18:00"
    from xiaoer.kpi.tests.scene import at, line

    w = make_world()
    import_chat(w.shop, write_lines(tmp_path / "h.jsonl", [
        line("e", "erin", "shopper", at(D1, "20:00:00")),            # after hours: from D2 09:00
        line("e", "erin", "agent", at(D2, "09:05:00"), seat="小美"),   # 300 s
        line("f", "finn", "shopper", at(D2, "07:00:00")),            # before hours
        line("f", "finn", "agent", at(D2, "08:30:00"), seat="小美"),   # answered before opening: 0 s
        line("g", "gina", "shopper", at(D2, "10:00:00")),            # inside: as is
        line("g", "gina", "agent", at(D2, "10:00:20"), seat="小美"),
    ]))
    settle()
    d1 = kpi_report(w.shop, D1, D1)["shop"]
    assert (d1["turns"], d1["response_median_s"]) == (1, 300.0)  # the turn counts on the day it started
    d2 = kpi_report(w.shop, D2, D2)["shop"]
    assert (d2["response_median_s"], d2["response_p90_s"], d2["response_mean_s"]) == (10.0, 20.0, 10.0)


def test_report_as_a_table_and_bad_periods(world):
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("kpi", "report", "--shop", world.shop.slug, "--from", D1.isoformat(), "--to", D3.isoformat(),
                 stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("席位\t询单") and lines[-2].startswith("全店\t3\t3\t2")
    assert "静默下单 2" in lines[-1]
    with pytest.raises(CommandError, match="结束日期早于开始日期"):
        call_command("kpi", "report", "--shop", world.shop.slug, "--from", D3.isoformat(), "--to", D1.isoformat())
