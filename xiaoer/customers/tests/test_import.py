"""Import of customer lists: CSV UTF-8 (BOM) / GBK, xlsx, bad rows, idempotent re-import, mapping,
the CLI report and the upload page (docs/customers-import.md)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from openpyxl import Workbook

from xiaoer.accounts.models import Role
from xiaoer.customers import importer
from xiaoer.customers.models import (
    CustomAttribute,
    Customer,
    CustomerAttributeValue,
    CustomerContact,
    CustomerNote,
    CustomerTag,
    Tag,
)
from xiaoer.testing import client_for, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db

HEADER = ["会员名", "姓名", "手机", "邮箱", "省", "市", "区", "详细地址", "性别", "生日", "QQ", "微信",
          "会员等级", "标签", "备注", "累计消费"]
GOOD = [
    ["tb_zhang", "张三", "13800000001;13900000002", "Zhang@Example.com", "浙江省", "杭州市", "西湖区", "文三路1号",
     "男", "1990-05-06", "12345678", "wx_zhang1", "VIP2", "老客、高价值", "喜欢黑色", "1,234.50"],
    ["tb_li", "李四", "'13700000003", "", "", "上海市", "", "", "女", "5月6日", "", "", "", "", "", ""],
]
BAD = [
    ["", "无名", "", "", "", "", "", "", "", "", "", "", "", "", "", ""],  # row 4
    ["tb_sci", "科学", "1.38E+10", "", "", "", "", "", "", "", "", "", "", "", "", ""],  # row 5
    ["tb_mail", "邮", "", "not-an-email", "", "", "", "", "", "", "", "", "", "", "", ""],  # row 6
    ["tb_long", "长" * 101, "", "", "", "", "", "", "", "", "", "", "", "", "", ""],  # row 7
    ["tb_day", "日", "", "", "", "", "", "", "", "13-40", "", "", "", "", "", ""],  # row 8
    ["tb_sex", "性", "", "", "", "", "", "", "中", "", "", "", "", "", "", ""],  # row 9
]


def csv_bytes(rows: list[list[str]], encoding: str) -> bytes:
    buf = io.StringIO()
    import csv

    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
def test_csv_in_each_encoding_imports_profiles_contacts_tags_notes(encoding):
    shop = make_shop()
    report = importer.import_file(shop, csv_bytes([HEADER, *GOOD], encoding))
    assert report.as_dict() == {"imported": 2, "updated": 0, "skipped": 0, "errors": []}
    zhang = Customer.objects.get(shop=shop, buyer_id="tb_zhang")
    assert (zhang.name, zhang.phone, zhang.email, zhang.city, zhang.gender, zhang.qq, zhang.wechat) == (
        "张三", "13800000001", "zhang@example.com", "杭州市", "male", "12345678", "wx_zhang1")
    assert str(zhang.birth_date) == "1990-05-06" and (zhang.birthday_month, zhang.birthday_day) == (5, 6)
    contacts = set(CustomerContact.objects.filter(customer=zhang).values_list("kind", "value", "is_default"))
    assert contacts == {("phone", "13800000001", True), ("phone", "13900000002", False),
                        ("email", "zhang@example.com", True), ("address", "浙江省杭州市西湖区 文三路1号", True)}
    assert set(CustomerTag.objects.filter(customer=zhang).values_list("tag__name", flat=True)) == {"老客", "高价值"}
    assert list(CustomerNote.objects.filter(customer=zhang).values_list("text", flat=True)) == ["喜欢黑色"]
    values = dict(CustomerAttributeValue.objects.filter(customer=zhang).values_list("attribute__key", "value"))
    assert values == {"platform_level": "VIP2", "platform_total_paid": "1234.50"}
    li = Customer.objects.get(shop=shop, buyer_id="tb_li")
    assert (li.phone, li.birth_date, li.birthday_month, li.birthday_day) == ("13700000003", None, 5, 6)


def test_every_bad_row_is_reported_with_its_number_and_nothing_of_it_is_stored():
    shop = make_shop()
    report = importer.import_file(shop, csv_bytes([HEADER, *GOOD, *BAD], "utf-8"))
    assert (report.imported, report.skipped) == (2, len(BAD))
    assert [e["row"] for e in report.errors] == [4, 5, 6, 7, 8, 9]
    reasons = " ".join(e["reason"] for e in report.errors)
    for word in ("会员名是空的", "科学计数法", "not-an-email", "姓名太长", "13-40", "性别"):
        assert word in reasons
    assert set(Customer.objects.filter(shop=shop).values_list("buyer_id", flat=True)) == {"tb_zhang", "tb_li"}


def test_reimport_adds_nothing_and_a_changed_row_updates_without_blanking():
    shop = make_shop()
    data = csv_bytes([HEADER, *GOOD], "utf-8")
    importer.import_file(shop, data)
    counts = [m.objects.count() for m in (Customer, CustomerContact, CustomerTag, Tag, CustomerNote,
                                          CustomerAttributeValue)]
    assert importer.import_file(shop, data).as_dict() == {"imported": 0, "updated": 0, "skipped": 2, "errors": []}
    assert [m.objects.count() for m in (Customer, CustomerContact, CustomerTag, Tag, CustomerNote,
                                        CustomerAttributeValue)] == counts
    changed = [["会员名", "姓名", "手机", "QQ", "会员等级"], ["tb_zhang", "张三丰", "13800000001", "", "VIP3"],
               ["tb_li", "", "", "", "VIP1"]]
    report = importer.import_file(shop, csv_bytes(changed, "utf-8"))
    assert (report.imported, report.updated) == (0, 2)
    zhang = Customer.objects.get(shop=shop, buyer_id="tb_zhang")
    assert (zhang.name, zhang.qq) == ("张三丰", "12345678")  # an empty cell keeps what was there
    levels = dict(CustomerAttributeValue.objects.filter(attribute__key="platform_level")
                  .values_list("customer__buyer_id", "value"))
    assert levels == {"tb_zhang": "VIP3", "tb_li": "VIP1"}


def test_the_same_buyer_twice_in_one_file_is_one_customer():
    shop = make_shop()
    rows = [["会员名", "手机"], ["tb_a", "13800000001"], ["tb_a", "13800000002"]]
    report = importer.import_file(shop, csv_bytes(rows, "utf-8"))
    assert (report.imported, report.updated) == (1, 1)
    customer = Customer.objects.get(shop=shop, buyer_id="tb_a")
    assert customer.contacts.filter(kind="phone").count() == 2
    assert customer.contacts.filter(kind="phone", is_default=True).count() == 1


def test_xlsx_with_numbers_and_dates_as_excel_stores_them():
    import datetime as dt

    shop = make_shop()
    rows = [["买家会员名", "手机号", "生日", "累计消费"], ["tb_x", 13800000009.0, dt.datetime(1988, 2, 29), 99.5]]
    report = importer.import_file(shop, xlsx_bytes(rows))
    assert report.as_dict()["imported"] == 1
    customer = Customer.objects.get(shop=shop, buyer_id="tb_x")
    assert (customer.phone, str(customer.birth_date)) == ("13800000009", "1988-02-29")
    assert customer.attribute_values.get(attribute__key="platform_total_paid").value == "99.50"


def test_mapping_names_other_headers_and_fills_custom_attributes(tmp_path):
    shop = make_shop()
    CustomAttribute.objects.create(shop=shop, key="height", label="身高", kind="number")
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"columns": {"buyer_id": "用户名", "phones": "联络电话", "attr:height": "身高cm"}}),
                       "utf-8")
    rows = [["用户名", "联络电话", "身高cm"], ["u1", "13800000001", "172"], ["u2", "", "很高"]]
    report = importer.import_file(shop, csv_bytes(rows, "utf-8"), mapping=importer.load_mapping(mapping))
    assert report.imported == 1 and report.errors[0]["row"] == 3 and "身高" in report.errors[0]["reason"]
    assert Customer.objects.get(buyer_id="u1").attribute_values.get().value == "172.00"


def test_a_file_that_is_not_a_table_or_lacks_the_buyer_column_is_refused():
    shop = make_shop()
    with pytest.raises(importer.ImportFileError):
        importer.import_file(shop, b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(importer.ImportFileError, match="会员名"):
        importer.import_file(shop, csv_bytes([["姓名"], ["张三"]], "utf-8"))
    assert not Customer.objects.filter(shop=shop).exists()


def test_cli_prints_one_json_report(tmp_path, capsys):
    shop = make_shop()
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes([HEADER, *GOOD, BAD[0]], "gbk"))
    call_command("customers", "import", str(path), "--shop", shop.slug, "--json")
    report = json.loads(capsys.readouterr().out)
    assert report == {"imported": 2, "updated": 0, "skipped": 1, "errors": [{"row": 4, "reason": "会员名是空的"}]}
    call_command("customers", "import", str(path), "--shop", shop.slug, "--json")
    assert json.loads(capsys.readouterr().out)["imported"] == 0


def test_upload_page_shows_the_report_to_supervisors_only():
    shop = make_shop()
    page = "/desk/customers/import"
    upload = io.BytesIO(csv_bytes([HEADER, *GOOD, BAD[1]], "utf-8"))
    upload.name = "members.csv"
    res = client_for(owner_of(shop)).post(page, {"file": upload})
    body = res.content.decode()
    assert res.status_code == 200 and "新增 2" in body and "科学计数法" in body
    fake = io.BytesIO(b"\x89PNG\r\n\x1a\n\x00\x00")
    fake.name = "members.csv"
    assert "不是 CSV" in client_for(make_staff(shop, Role.SUPERVISOR)).post(page, {"file": fake}).content.decode()
    assert client_for(make_staff(shop, Role.AGENT)).get(page).status_code == 403
    assert Customer.objects.filter(shop=shop).count() == 2
