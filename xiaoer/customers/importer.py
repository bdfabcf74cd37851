"""Import of customer lists (platform member exports): CSV in UTF-8/GBK (BOM or not) and .xlsx.

Columns, the mapping file and what is kept: docs/customers-import.md. Rows are numbered as a
spreadsheet shows them (the header is row 1). Idempotent by buyer id: a re-import updates what
changed and never duplicates a customer, a contact, a tag or a note. Cells never blank out what
a customer already has: an empty cell means "not in this export".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xiaoer.accounts.models import Shop
from xiaoer.customers.models import (
    AttributeKind,
    ContactKind,
    CustomAttribute,
    Customer,
    CustomerAttributeValue,
    CustomerContact,
    CustomerNote,
    CustomerTag,
    Gender,
    Tag,
)
from xiaoer.customers.services import NOTE_MAX_CHARS
from xiaoer.importing import check_identifier, clean_cell, is_scientific, read_mapping_file

# Canonical field → header names seen in Taobao / Tmall / JD / Youzan member exports.
DEFAULT_COLUMNS: dict[str, list[str]] = {
    "buyer_id": ["会员名", "买家会员名", "客户昵称", "买家昵称", "会员昵称", "旺旺名", "买家账号", "客户ID", "buyer_id"],
    "name": ["姓名", "客户姓名", "真实姓名", "会员姓名", "name"],
    "phones": ["手机", "手机号", "手机号码", "联系手机", "联系电话", "电话", "phone"],
    "emails": ["邮箱", "电子邮箱", "email"],
    "province": ["省", "省份", "所在省", "province"],
    "city": ["市", "城市", "所在市", "city"],
    "district": ["区", "区县", "所在区", "district"],
    "address": ["详细地址", "收货地址", "地址", "address"],
    "gender": ["性别", "gender"],
    "birthday": ["生日", "出生日期", "birthday"],
    "qq": ["QQ", "QQ号", "qq"],
    "wechat": ["微信", "微信号", "wechat"],
    "level": ["会员等级", "等级", "level"],
    "tags": ["标签", "客户标签", "tags"],
    "note": ["备注", "客户备注", "note"],
    "total_paid": ["累计消费", "累计消费金额", "消费金额", "交易总额", "total_paid"],
}
REQUIRED = ("buyer_id",)
# The platform's own figures are kept as shop attributes (created on first use), not as our value:
# that one is computed from orders (docs/decisions/150).
PLATFORM_ATTRIBUTES = {
    "level": ("platform_level", "平台会员等级", AttributeKind.TEXT),
    "total_paid": ("platform_total_paid", "平台累计消费", AttributeKind.NUMBER),
}
ATTRIBUTE_PREFIX = "attr:"  # a mapping column "attr:<key>" fills the shop's custom attribute <key>
MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_CELL_CHARS = 2000
MAX_TAGS_PER_ROW = 20
SAMPLE_BYTES = 256 * 1024
LIMITS = {"buyer_id": 100, "name": 100, "province": 20, "city": 30, "district": 30, "address": 300,
          "qq": 20, "wechat": 40, "level": 200, "email": 254, "tag": 20, "attribute": 200}
SPLIT = re.compile(r"[,，;；|、/\s]+")
TAG_SPLIT = re.compile(r"[,，;；|、]+")
PHONE = re.compile(r"\+?[\d\- ]{5,24}")
QQ = re.compile(r"[1-9]\d{4,11}")
WECHAT = re.compile(r"[A-Za-z][\w-]{5,39}|\+?\d{5,20}")
GENDERS = {"男": Gender.MALE, "m": Gender.MALE, "male": Gender.MALE, "先生": Gender.MALE,
           "女": Gender.FEMALE, "f": Gender.FEMALE, "female": Gender.FEMALE, "女士": Gender.FEMALE,
           "未知": Gender.UNKNOWN, "保密": Gender.UNKNOWN}
MONTH_DAY = re.compile(r"(?:(\d{4})\s*[-/.年]\s*)?(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
# Column names in messages, translated only when a message is made (a row costs no gettext).
LABELS = {"buyer_id": gettext_lazy("会员名"), "name": gettext_lazy("姓名"), "phones": gettext_lazy("手机"),
          "province": gettext_lazy("省"), "city": gettext_lazy("市"), "district": gettext_lazy("区"),
          "address": gettext_lazy("详细地址"), "qq": "QQ", "wechat": gettext_lazy("微信")}
PROFILE_FIELDS = ("name", "city", "qq", "wechat", "gender", "birth_date", "birthday_month", "birthday_day")


class ImportFileError(Exception):
    """The file as a whole can't be imported (unreadable, not a table, no buyer id column, ...)."""


@dataclass
class Mapping:
    columns: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_COLUMNS.items()})
    encoding: str | None = None
    delimiter: str = ","
    sheet: str | None = None


def load_mapping(path: str | Path | None) -> Mapping:
    """A JSON (or TOML) mapping file: {"columns": {"buyer_id": "用户名", "attr:height": "身高"}, "encoding": …}."""
    mapping = Mapping()
    if not path:
        return mapping
    try:
        raw, columns = read_mapping_file(path, lambda key: key in DEFAULT_COLUMNS or key.startswith(ATTRIBUTE_PREFIX))
    except ValueError as exc:
        raise ImportFileError(str(exc)) from exc
    mapping.columns.update(columns)
    mapping.encoding = raw.get("encoding") or None
    mapping.delimiter = str(raw.get("delimiter") or ",")[:1]
    mapping.sheet = raw.get("sheet") or None
    return mapping


def norm_header(value) -> str:
    return "".join(str(value or "").replace("\ufeff", "").split()).lower()


# --- reading the file -----------------------------------------------------------------------------

def is_xlsx(head: bytes) -> bool:
    return head[:4] == b"PK\x03\x04"


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) when the sample decodes as such, else GB18030 (⊇ GBK, GB2312)."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:  # not merely a character cut by the sample's end
            return "gb18030"
    return "utf-8"


def _check_text(sample: bytes) -> None:
    """Refuse what is not a text table (an image, a PDF, an old .xls) by its content, not its name."""
    if b"\x00" in sample or sample.startswith((b"\xd0\xcf\x11\xe0", b"%PDF", b"\x89PNG", b"\xff\xd8")):
        raise ImportFileError(_("这不是 CSV 或 .xlsx 文件：请另存为 CSV（UTF-8 或 GBK）或 Excel .xlsx"))


def _csv_rows(fh: IO[bytes], mapping: Mapping, progress: Callable[[int], object]) -> Iterator[tuple[int, list]]:
    sample = fh.read(SAMPLE_BYTES)
    _check_text(sample)
    encoding = mapping.encoding or detect_encoding(sample)
    fh.seek(0)
    text = io.TextIOWrapper(fh, encoding=encoding, errors="replace", newline="")
    reader = csv.reader(text, delimiter=mapping.delimiter)
    position = 0
    for number, row in enumerate(reader, start=1):
        done = fh.tell() if fh.seekable() else position
        progress(done - position)
        position = done
        yield number, row


def _xlsx_rows(fh: IO[bytes], mapping: Mapping, progress: Callable[[int], object]) -> Iterator[tuple[int, list]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(fh, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ImportFileError(_("无法读取 Excel 文件：请确认是 .xlsx 格式")) from exc
    try:
        sheet = book[mapping.sheet] if mapping.sheet else book.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            progress(1)
            yield number, ["" if v is None else v for v in row]
    except KeyError as exc:
        raise ImportFileError(_("Excel 文件里没有工作表 %s") % mapping.sheet) from exc
    finally:
        book.close()


def _header_map(header: list, mapping: Mapping, attributes: dict[str, CustomAttribute]) -> dict[str, int]:
    names = [norm_header(h) for h in header]
    found: dict[str, int] = {}
    for key, aliases in mapping.columns.items():
        for alias in aliases:
            if norm_header(alias) in names:
                found[key] = names.index(norm_header(alias))
                break
    missing = [k for k in REQUIRED if k not in found]
    if missing:
        raise ImportFileError(_("找不到必需的列: %(cols)s；表头是: %(head)s")
                              % {"cols": "、".join(DEFAULT_COLUMNS[k][0] for k in missing),
                                 "head": ", ".join(str(h)[:20] for h in header[:20])})
    unknown = [k for k in found if k.startswith(ATTRIBUTE_PREFIX) and k[len(ATTRIBUTE_PREFIX):] not in attributes]
    if unknown:
        raise ImportFileError(_("店铺没有这些自定义属性: %s") % ", ".join(unknown))
    return found


# --- one row → clean values -----------------------------------------------------------------------

def _text(raw: dict, key: str, label: str = "") -> str:
    value = str(raw.get(key) or "").strip()
    limit = LIMITS.get(key, MAX_CELL_CHARS)
    if len(value) > limit:
        raise ValueError(_("%(label)s太长（最多 %(n)s 个字）") % {"label": label or LABELS.get(key, key), "n": limit})
    return value


def _identifier(value: str, key: str) -> str:
    """VALUE unless a spreadsheet wrote it in scientific notation (then ValueError saying so)."""
    return check_identifier(value, str(LABELS[key])) if is_scientific(value) else value


def _phones(text: str) -> list[str]:
    phones = []
    for part in SPLIT.split(text) if text else []:
        part = _identifier(part, "phones")
        if not PHONE.fullmatch(part) or not 5 <= sum(c.isdigit() for c in part) <= 20:
            raise ValueError(_("手机号“%s”不对") % part[:30])
        phones.append(part.replace(" ", ""))
    return phones[:5]


def _emails(text: str) -> list[str]:
    emails = []
    for part in SPLIT.split(text) if text else []:
        try:
            if len(part) > LIMITS["email"]:
                raise ValidationError("too long")
            validate_email(part)
        except ValidationError:
            raise ValueError(_("邮箱“%s”不对") % part[:40]) from None
        emails.append(part.lower())
    return emails[:5]


def _birthday(value) -> dict:
    """A birth date (2000-05-06, an Excel date) or a birthday without a year (05-06, 5月6日)."""
    if value in ("", None):
        return {}
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return {"birth_date": value, "birthday_month": value.month, "birthday_day": value.day}
    match = MONTH_DAY.fullmatch(str(value).strip().split(" ")[0])  # "1990-05-06 00:00:00" too
    try:
        if not match:
            raise ValueError
        year, month, day = match.groups()
        date = dt.date(int(year) if year else 2000, int(month), int(day))  # 2000: 2-29 is valid
        if year and not 1900 <= int(year) <= dt.date.today().year:
            raise ValueError
    except ValueError:
        raise ValueError(_("生日“%s”不对（例如 1990-05-06 或 05-06）") % str(value)[:20]) from None
    return {"birth_date": date if year else None, "birthday_month": date.month, "birthday_day": date.day}


def _number(text: str, label: str) -> str:
    try:
        number = Decimal(text.replace(",", "").replace("¥", "").replace("￥", "").strip())
        if not number.is_finite() or abs(number) >= 10**12:
            raise InvalidOperation
    except InvalidOperation:
        raise ValueError(_("%(label)s“%(value)s”不是数字") % {"label": label, "value": text[:20]}) from None
    return str(number.quantize(Decimal("0.01")))


def _attribute_value(attribute: CustomAttribute, text: str) -> str:
    if attribute.kind == AttributeKind.NUMBER:
        return _number(text, attribute.label)
    if attribute.kind == AttributeKind.DATE:
        birthday = _birthday(text)
        if not birthday.get("birth_date"):
            raise ValueError(_("%(label)s“%(value)s”不是日期") % {"label": attribute.label, "value": text[:20]})
        return birthday["birth_date"].isoformat()
    if attribute.kind == AttributeKind.CHOICE and text not in (attribute.choices or []):
        raise ValueError(_("%(label)s只能是: %(choices)s") % {"label": attribute.label,
                                                              "choices": "、".join(map(str, attribute.choices))})
    if len(text) > LIMITS["attribute"]:
        raise ValueError(_("%(label)s太长（最多 %(n)s 个字）") % {"label": attribute.label, "n": LIMITS["attribute"]})
    return text


def clean_row(raw: dict, attributes: dict[str, CustomAttribute]) -> dict:
    """One row (cells already through the shared cleaner) → what the customer gets. ValueError
    with the reason for a bad row."""
    for key, value in raw.items():
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            raise ValueError(_("%s 这一格太长") % key)
    buyer_id = _identifier(_text(raw, "buyer_id"), "buyer_id")
    if not buyer_id:
        raise ValueError(_("会员名是空的"))
    gender_text = str(raw.get("gender") or "").strip().lower()
    if gender_text and gender_text not in GENDERS:
        raise ValueError(_("性别“%s”不对（男、女或未知）") % gender_text[:10])
    qq = _text(raw, "qq")
    if qq and not QQ.fullmatch(_identifier(qq, "qq")):
        raise ValueError(_("QQ 号“%s”不对") % qq)
    wechat = _text(raw, "wechat")
    if wechat and not WECHAT.fullmatch(wechat):
        raise ValueError(_("微信号“%s”不对") % wechat)
    tags = [t.strip() for t in TAG_SPLIT.split(str(raw.get("tags") or "")) if t.strip()]
    if len(tags) > MAX_TAGS_PER_ROW or any(len(t) > LIMITS["tag"] for t in tags):
        raise ValueError(_("标签太多或太长（每行最多 %(n)s 个，每个最多 %(m)s 个字）")
                         % {"n": MAX_TAGS_PER_ROW, "m": LIMITS["tag"]})
    note = str(raw.get("note") or "").strip()
    if len(note) > NOTE_MAX_CHARS:
        raise ValueError(_("备注最多 %(n)s 个字") % {"n": NOTE_MAX_CHARS})
    row = {"buyer_id": buyer_id, "name": _text(raw, "name"), "qq": qq, "wechat": wechat,
           "gender": GENDERS.get(gender_text, ""), "phones": _phones(_text(raw, "phones")),
           "emails": _emails(str(raw.get("emails") or "").strip()), "tags": list(dict.fromkeys(tags)),
           "note": note, **_birthday(raw.get("birthday")), "attributes": {}}
    row["address"] = _address(raw)
    row["city"] = row["address"]["city"] if row["address"] else _text(raw, "city")
    for column, (key, _label, _kind) in PLATFORM_ATTRIBUTES.items():
        text = str(raw.get(column) or "").strip()
        if text:
            row["attributes"][key] = (_number(text, DEFAULT_COLUMNS[column][0]) if column == "total_paid"
                                      else _text(raw, column, DEFAULT_COLUMNS[column][0]))
    for column, value in raw.items():
        text = str(value if value is not None else "").strip()
        if column.startswith(ATTRIBUTE_PREFIX) and text:
            key = column[len(ATTRIBUTE_PREFIX):]
            row["attributes"][key] = _attribute_value(attributes[key], text)
    return row


def _address(raw: dict) -> dict | None:
    parts = {k: _text(raw, k) for k in ("province", "city", "district", "address")}
    if not parts["address"]:
        return None
    # The full line: the detail, led by province/city/district when the detail does not repeat them.
    lead = "".join(p for p in (parts["province"], parts["city"], parts["district"])
                   if p and p not in parts["address"])
    value = (lead + " " + parts["address"]).strip() if lead else parts["address"]
    if len(value) > LIMITS["address"]:
        raise ValueError(_("地址太长（最多 %s 个字）") % LIMITS["address"])
    return {"value": value, "province": parts["province"], "city": parts["city"], "district": parts["district"]}


# --- the import -----------------------------------------------------------------------------------

@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[dict] = field(default_factory=list)
    rows: int = 0

    def as_dict(self) -> dict:
        return {"imported": self.imported, "updated": self.updated, "skipped": self.skipped,
                "errors": self.errors}


def import_file(shop: Shop, source: str | Path | bytes, *, mapping: Mapping | None = None, batch_size: int = 1000,
                show_progress: bool = False, max_errors_listed: int = 10000) -> ImportReport:
    """Import SOURCE (a path, or an upload's bytes) into SHOP. Each batch commits on its own (a
    caller's transaction makes them savepoints). ``skipped`` counts rows that wrote nothing:
    unchanged customers and bad rows (those also in ``errors``)."""
    from tqdm import tqdm

    mapping = mapping or Mapping()
    fh = _open(source)
    size = fh.seek(0, io.SEEK_END)
    fh.seek(0)
    xlsx = is_xlsx(fh.read(4))
    fh.seek(0)
    bar = tqdm(total=None if xlsx else size, unit="行" if xlsx else "B", unit_scale=not xlsx, file=sys.stderr,
               disable=not show_progress, desc="导入客户", mininterval=0.5)
    attributes = {a.key: a for a in CustomAttribute.objects.filter(shop=shop)}
    report = ImportReport()
    try:
        rows = (_xlsx_rows if xlsx else _csv_rows)(fh, mapping, bar.update)
        _import_rows(shop, rows, mapping, attributes, report, batch_size=batch_size,
                     max_errors_listed=max_errors_listed)
    except UnicodeDecodeError as exc:
        raise ImportFileError(_("文件编码无法识别：请另存为 UTF-8 或 GBK 编码的 CSV")) from exc
    except csv.Error as exc:
        raise ImportFileError(_("CSV 格式错误：%s") % exc) from exc
    finally:
        bar.close()
        fh.close()
    return report


def _open(source: str | Path | bytes) -> IO[bytes]:
    if isinstance(source, bytes):
        if len(source) > MAX_FILE_BYTES:
            raise ImportFileError(_("文件太大"))
        return io.BytesIO(source)
    path = Path(source)
    if not path.is_file():
        raise ImportFileError(_("文件不存在: %s") % path)
    return path.open("rb")


def _import_rows(shop: Shop, rows: Iterable[tuple[int, list]], mapping: Mapping,
                 attributes: dict[str, CustomAttribute], report: ImportReport, *, batch_size: int,
                 max_errors_listed: int) -> None:
    columns: dict[str, int] | None = None
    batch: dict[str, dict] = {}  # buyer id → its row; a second row of one buyer starts a new batch
    for number, row in rows:
        if columns is None:
            columns = _header_map(row, mapping, attributes)
            continue
        if not any(str(v).strip() for v in row):
            continue  # blank line
        report.rows += 1
        try:
            raw = {key: (clean_cell(row[i]) if i < len(row) else "") for key, i in columns.items()}
            clean = clean_row(raw, attributes)
        except ValueError as exc:
            report.skipped += 1
            if len(report.errors) < max_errors_listed:
                report.errors.append({"row": number, "reason": str(exc)})
            continue
        if clean["buyer_id"] in batch or len(batch) >= batch_size:
            _flush(shop, list(batch.values()), attributes, report)
            batch = {}
        batch[clean["buyer_id"]] = clean
    if columns is None:
        raise ImportFileError(_("文件是空的"))
    _flush(shop, list(batch.values()), attributes, report)


def _flush(shop: Shop, rows: list[dict], attributes: dict[str, CustomAttribute], report: ImportReport) -> None:
    if not rows:
        return
    with transaction.atomic():
        customers, created = _customers(shop, rows)
        changed = _update_profiles(rows, customers, created)
        changed |= _contacts(shop, rows, customers)
        changed |= _tags(shop, rows, customers)
        changed |= _attributes(shop, rows, customers, attributes)
        changed |= _notes(shop, rows, customers)
    for row in rows:
        if row["buyer_id"] in created:
            report.imported += 1
        elif row["buyer_id"] in changed:
            report.updated += 1
        else:
            report.skipped += 1


def _customers(shop: Shop, rows: list[dict]) -> tuple[dict[str, Customer], set[str]]:
    """The customer of each row's buyer id (the surviving one of a merge); missing ones are
    created with their whole profile in one statement."""
    ids = [r["buyer_id"] for r in rows]

    def load() -> dict[str, Customer]:
        pairs = dict(Customer.objects.filter(shop=shop, buyer_id__in=ids)
                     .values_list("buyer_id", Coalesce("merged_into_id", "id")))
        by_pk = Customer.objects.in_bulk(set(pairs.values()))
        return {buyer_id: by_pk[pk] for buyer_id, pk in pairs.items()}

    found = load()
    missing = [r for r in rows if r["buyer_id"] not in found]
    if missing:
        # ignore_conflicts: a concurrent import of the same buyer is found by the reload (and its
        # row then counts as an update of what the other import created)
        Customer.objects.bulk_create([Customer(shop=shop, buyer_id=r["buyer_id"], **_profile(r, None))
                                      for r in missing], ignore_conflicts=True, batch_size=500)
        found = load()
    return found, {r["buyer_id"] for r in missing}


def _profile(row: dict, customer: Customer | None) -> dict:
    """Profile fields from ROW where the cell is not empty; the default contacts' quick copy
    (phone, email, address) only where CUSTOMER has none yet."""
    wanted = {f: row.get(f) for f in PROFILE_FIELDS if row.get(f) not in ("", None)}
    quick = {"phone": row["phones"][:1], "email": row["emails"][:1],
             "address": [row["address"]["value"]] if row["address"] else []}
    wanted.update({f: v[0] for f, v in quick.items() if v and not (customer and getattr(customer, f))})
    return wanted


def _update_profiles(rows: list[dict], customers: dict[str, Customer], created: set[str]) -> set[str]:
    """Existing customers whose row brings something new: one UPDATE per customer and set of
    changed fields (bulk_update's CASE over every field costs more than it saves here)."""
    changed: set[str] = set()
    for row in rows:
        if row["buyer_id"] in created:
            continue
        customer = customers[row["buyer_id"]]
        diff = {f: v for f, v in _profile(row, customer).items() if getattr(customer, f) != v}
        if diff:
            Customer.objects.filter(pk=customer.pk).update(**diff)
            for name, value in diff.items():
                setattr(customer, name, value)
            changed.add(row["buyer_id"])
    return changed


def _contacts(shop: Shop, rows: list[dict], customers: dict[str, Customer]) -> set[str]:
    pks = [c.pk for c in customers.values()]
    have = set(CustomerContact.objects.filter(customer_id__in=pks).values_list("customer_id", "kind", "value"))
    defaults = set(CustomerContact.objects.filter(customer_id__in=pks, is_default=True)
                   .values_list("customer_id", "kind"))
    new: list[CustomerContact] = []
    changed: set[str] = set()
    for row in rows:
        pk = customers[row["buyer_id"]].pk
        wanted = [(ContactKind.PHONE, p, {}) for p in row["phones"]]
        wanted += [(ContactKind.EMAIL, e, {}) for e in row["emails"]]
        if row["address"]:
            wanted.append((ContactKind.ADDRESS, row["address"]["value"],
                           {k: row["address"][k] for k in ("province", "city", "district")}))
        for kind, value, extra in wanted:
            if (pk, kind, value) in have:
                continue
            have.add((pk, kind, value))
            is_default = (pk, kind) not in defaults  # the first of a kind becomes the default
            defaults.add((pk, kind))
            new.append(CustomerContact(shop=shop, customer_id=pk, kind=kind, value=value,
                                       is_default=is_default, **extra))
            changed.add(row["buyer_id"])
    CustomerContact.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
    return changed


def _tags(shop: Shop, rows: list[dict], customers: dict[str, Customer]) -> set[str]:
    names = {t for r in rows for t in r["tags"]}
    if not names:
        return set()
    Tag.objects.bulk_create([Tag(shop=shop, name=n) for n in names], ignore_conflicts=True)
    tag_ids = dict(Tag.objects.filter(shop=shop, name__in=names).values_list("name", "id"))
    pks = [c.pk for c in customers.values()]
    have = set(CustomerTag.objects.filter(customer_id__in=pks).values_list("customer_id", "tag_id"))
    new, changed = [], set()
    for row in rows:
        pk = customers[row["buyer_id"]].pk
        for name in row["tags"]:
            if (pk, tag_ids[name]) not in have:
                have.add((pk, tag_ids[name]))
                new.append(CustomerTag(shop=shop, customer_id=pk, tag_id=tag_ids[name]))
                changed.add(row["buyer_id"])
    CustomerTag.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
    return changed


def _attributes(shop: Shop, rows: list[dict], customers: dict[str, Customer],
                attributes: dict[str, CustomAttribute]) -> set[str]:
    keys = {k for r in rows for k in r["attributes"]}
    if not keys:
        return set()
    for key, label, kind in PLATFORM_ATTRIBUTES.values():
        if key in keys and key not in attributes:
            attributes[key], _created = CustomAttribute.objects.get_or_create(
                shop=shop, key=key, defaults={"label": label, "kind": kind})
    by_id = {attributes[k].pk: k for k in keys}
    pks = [c.pk for c in customers.values()]
    have = {(cid, by_id[aid]): v for cid, aid, v in CustomerAttributeValue.objects.filter(
        customer_id__in=pks, attribute_id__in=by_id).values_list("customer_id", "attribute_id", "value")}
    stale = CustomerAttributeValue.objects.none()
    new, changed = [], set()
    for row in rows:
        pk = customers[row["buyer_id"]].pk
        for key, value in row["attributes"].items():
            if have.get((pk, key)) == value:
                continue
            if (pk, key) in have:
                stale |= CustomerAttributeValue.objects.filter(customer_id=pk, attribute_id=attributes[key].pk)
            new.append(CustomerAttributeValue(shop=shop, customer_id=pk, attribute=attributes[key], value=value))
            changed.add(row["buyer_id"])
    stale.delete()
    CustomerAttributeValue.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
    return changed


def _notes(shop: Shop, rows: list[dict], customers: dict[str, Customer]) -> set[str]:
    """A note cell becomes a shop note once: the same text on the same customer is not added again."""
    wanted = {(customers[r["buyer_id"]].pk, r["note"]): r["buyer_id"] for r in rows if r["note"]}
    if not wanted:
        return set()
    have = set(CustomerNote.objects.filter(customer_id__in={pk for pk, _t in wanted})
               .values_list("customer_id", "text"))
    new = {key: buyer for key, buyer in wanted.items() if key not in have}
    CustomerNote.objects.bulk_create([CustomerNote(shop=shop, customer_id=pk, text=text) for pk, text in new],
                                     batch_size=500)
    return set(new.values())
