"""`xiaoer customers export` (docs/customers.md "Export"): the three formats parse back to the
same hand-computed records; tags are a list in jsonl and "a;b" in spreadsheets; texts a
spreadsheet would run as formulas are escaped."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from xiaoer.crm import services
from xiaoer.crm.export import FIELDS
from xiaoer.crm.tests.value_fixtures import AS_OF, build_shop
from xiaoer.customers.models import Customer, CustomerTag, Tag
from xiaoer.testing import owner_of

pytestmark = pytest.mark.django_db

B1 = {"buyer_id": "b1", "name": "=HYPERLINK(\"http://x\")", "paid_orders": 3, "total_paid": "600.00",
      "average_unit_price": "200.00", "first_purchase": "2026-05-02", "last_purchase": "2026-06-29",
      "purchase_cycle_days": 29.0, "recency_days": 1, "r": 4, "f": 4, "m": 4, "rfm_segment": "重要价值",
      "level": "VIP2", "tags": ["+老客", "爱砍价"]}
B3 = {"buyer_id": "b3", "name": "", "paid_orders": 1, "total_paid": "80.00", "average_unit_price": "80.00",
      "first_purchase": "2026-03-31", "last_purchase": "2026-03-31", "purchase_cycle_days": None,
      "recency_days": 91, "r": 1, "f": 1, "m": 2, "rfm_segment": "一般挽留", "level": "", "tags": []}
B5 = {"buyer_id": "b5", "name": "", "paid_orders": 0, "total_paid": "0.00", "average_unit_price": None,
      "first_purchase": None, "last_purchase": None, "purchase_cycle_days": None, "recency_days": None,
      "r": None, "f": None, "m": None, "rfm_segment": "", "level": "", "tags": []}
NEW = {**B5, "buyer_id": "new", "name": "新客"}


@pytest.fixture
def shop(db):
    shop = build_shop()
    services.do_set_levels(owner_of(shop), [{"name": "VIP1", "threshold": "100"},
                                            {"name": "VIP2", "threshold": "500"}])
    b1 = Customer.objects.get(shop=shop, buyer_id="b1")
    b1.name = B1["name"]
    b1.save()
    for name in ("爱砍价", "+老客"):
        CustomerTag.objects.create(shop=shop, customer=b1, tag=Tag.objects.create(shop=shop, name=name))
    Customer.objects.create(shop=shop, buyer_id="new", name="新客")  # no orders yet
    Customer.objects.create(shop=shop, buyer_id="gone", merged_into=b1)  # merged: not exported
    return shop


def export(shop, fmt: str, tmp_path=None) -> str | bytes:
    if fmt == "xlsx":
        path = tmp_path / "c.xlsx"
        call_command("customers", "export", "--shop", shop.slug, "--as-of", AS_OF.isoformat(), "--format", "xlsx",
                     "--output", str(path), "--quiet", stderr=io.StringIO())
        return path.read_bytes()
    out = io.StringIO()
    call_command("customers", "export", "--shop", shop.slug, "--as-of", AS_OF.isoformat(), "--format", fmt,
                 stdout=out)
    return out.getvalue()


def spreadsheet(record: dict) -> dict:
    """What a spreadsheet cell holds: tags joined, texts escaped, None empty."""
    cells = {k: ("" if v is None else v) for k, v in record.items()}
    cells["tags"] = ";".join(record["tags"])
    cells["name"] = "'" + record["name"] if record["name"].startswith("=") else record["name"]
    if cells["tags"].startswith("+"):
        cells["tags"] = "'" + cells["tags"]
    return cells


def test_jsonl_has_one_record_per_customer(shop):
    records = [json.loads(line) for line in export(shop, "jsonl").splitlines()]
    assert [r["buyer_id"] for r in records] == ["b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "b10", "new"]
    by_buyer = {r["buyer_id"]: r for r in records}
    assert by_buyer["b1"] == B1 and by_buyer["b3"] == B3 and by_buyer["b5"] == B5 and by_buyer["new"] == NEW
    assert list(records[0]) == list(FIELDS)


def test_csv_parses_back_with_escaped_formulas(shop):
    rows = list(csv.DictReader(io.StringIO(export(shop, "csv"))))
    by_buyer = {r["buyer_id"]: r for r in rows}
    assert len(rows) == 11
    assert by_buyer["b1"] == {k: str(v) for k, v in spreadsheet(B1).items()}
    assert by_buyer["b3"] == {k: str(v) for k, v in spreadsheet(B3).items()}


def test_xlsx_parses_back(shop, tmp_path):
    sheet = load_workbook(io.BytesIO(export(shop, "xlsx", tmp_path)), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == FIELDS
    by_buyer = {row[0]: dict(zip(FIELDS, row, strict=True)) for row in rows[1:]}
    as_cells = {k: (None if v == "" else v) for k, v in spreadsheet(B1).items()}
    assert by_buyer["b1"] == as_cells
    assert by_buyer["b1"]["name"].startswith("'=")  # shown as text, never run


def test_export_refuses_bad_input(shop):
    with pytest.raises(CommandError):
        call_command("customers", "export", "--shop", "nope", "--format", "csv", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("customers", "export", "--shop", shop.slug, "--as-of", "30/06/2026", "--format", "csv",
                     stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("customers", "export", "--shop", shop.slug, "--format", "xlsx", stdout=io.StringIO())
