"""Import of platform order reports (CSV in GBK/UTF-8, .xlsx), streaming and batched.

Format, default columns and the mapping file: docs/orders-import.md. Rows are numbered as a
spreadsheet shows them: the header is row 1, the first order row 2.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from xiaoer.accounts.models import Shop
from xiaoer.importing import clean_cell, read_mapping_file
from xiaoer.orders import parsing
from xiaoer.orders import services as order_services
from xiaoer.orders.models import OrderSource

# Canonical field → header names seen in Taobao / Tmall / common exports.
DEFAULT_COLUMNS: dict[str, list[str]] = {
    "order_no": ["订单编号", "订单号", "主订单编号", "order_no"],
    "buyer_id": ["买家会员名", "买家昵称", "买家账号", "buyer_id"],
    "total_amount": ["总金额", "订单总金额", "订单金额", "total_amount"],
    "paid_amount": ["买家实际支付金额", "实付金额", "实际支付金额", "paid_amount"],
    "refunded_amount": ["退款金额", "refunded_amount"],
    "status": ["订单状态", "交易状态", "status"],
    "receiver_name": ["收货人姓名", "收货人", "receiver_name"],
    "receiver_address": ["收货地址", "详细地址", "receiver_address"],
    "receiver_phone": ["联系手机", "手机", "联系电话", "receiver_phone"],
    "created_at": ["订单创建时间", "创建时间", "下单时间", "created_at"],
    "paid_at": ["订单付款时间", "付款时间", "paid_at"],
    "shipped_at": ["发货时间", "shipped_at"],
    "item_title": ["宝贝标题", "商品标题", "商品名称", "item_title"],
    "sku": ["商家编码", "商品编码", "sku"],
    "quantity": ["宝贝总数量", "商品数量", "购买数量", "数量", "quantity"],
    "carrier": ["物流公司", "快递公司", "carrier"],
    "tracking_no": ["物流单号", "运单号", "快递单号", "tracking_no"],
    "buyer_message": ["买家留言", "buyer_message"],
    "coupon_code": ["优惠券", "优惠券码", "coupon", "coupon_code"],  # the shop's own coupon (crm)
}
REQUIRED = ("order_no",)
SAMPLE_BYTES = 256 * 1024


class ImportFileError(Exception):
    """The file as a whole can't be imported (unreadable, no order number column, ...)."""


@dataclass
class Mapping:
    columns: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_COLUMNS.items()})
    status_values: dict[str, str] = field(default_factory=dict)
    time_format: str | None = None
    encoding: str | None = None
    delimiter: str = ","
    sheet: str | None = None


def norm_header(value) -> str:
    return "".join(str(value or "").replace("\ufeff", "").split())


def load_mapping(path: str | Path | None) -> Mapping:
    """A mapping file (JSON or TOML) adapting another layout; see docs/orders-import.md."""
    mapping = Mapping()
    if not path:
        return mapping
    try:
        raw, columns = read_mapping_file(path, lambda key: key in DEFAULT_COLUMNS)
    except ValueError as exc:
        raise ImportFileError(str(exc)) from exc
    mapping.columns.update(columns)
    mapping.status_values = {str(k): str(v) for k, v in (raw.get("status_values") or {}).items()}
    mapping.time_format = raw.get("time_format") or None
    mapping.encoding = raw.get("encoding") or None
    mapping.delimiter = str(raw.get("delimiter") or ",")[:1]
    mapping.sheet = raw.get("sheet") or None
    return mapping


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) when the sample decodes as such, else the GB family."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3:  # a character cut by the sample's end
            return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    name = (best.encoding if best else "gb18030").lower().replace("-", "_")
    # GB18030 is a superset of GBK and GB2312; the detector often names the smaller one.
    return "gb18030" if name in {"gb2312", "gbk", "gb18030", "big5", "hz"} or not best else best.encoding


class _CountingReader(io.RawIOBase):
    """Counts bytes read, for the progress bar, without loading the file."""

    def __init__(self, raw, on_read) -> None:
        self.raw, self.on_read = raw, on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        if n:
            self.on_read(n)
        return n


def _header_map(header: list, mapping: Mapping) -> dict[str, int]:
    names = [norm_header(h) for h in header]
    found: dict[str, int] = {}
    for key, aliases in mapping.columns.items():
        for alias in aliases:
            alias = norm_header(alias)
            if alias in names:
                found[key] = names.index(alias)
                break
    missing = [k for k in REQUIRED if k not in found]
    if missing:
        raise ImportFileError(f"找不到必需的列: {', '.join(DEFAULT_COLUMNS[k][0] for k in missing)}；"
                              f"表头是: {', '.join(names[:20])}")
    return found


def _csv_rows(path: Path, mapping: Mapping, progress) -> Iterator[tuple[int, list]]:
    with path.open("rb") as fh:
        encoding = mapping.encoding or detect_encoding(fh.read(SAMPLE_BYTES))
        fh.seek(0)
        counting = io.BufferedReader(_CountingReader(fh, progress), buffer_size=1 << 16)
        text = io.TextIOWrapper(counting, encoding=encoding, errors="replace", newline="")
        reader = csv.reader(text, delimiter=mapping.delimiter)
        yield from enumerate(reader, start=1)


def _xlsx_rows(path: Path, mapping: Mapping, progress) -> Iterator[tuple[int, list]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ImportFileError(f"xlsx 文件读不了: {exc}") from exc
    try:
        sheet = book[mapping.sheet] if mapping.sheet else book.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            progress(1)
            yield number, ["" if v is None else v for v in row]
    finally:
        book.close()


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


def import_file(shop: Shop, path: str | Path, *, mapping: Mapping | None = None, batch_size: int = 1000,
                show_progress: bool = False, max_errors_listed: int = 10000) -> ImportReport:
    """Import PATH into SHOP. Idempotent: a second run updates or skips, never duplicates.
    ``skipped`` counts rows that wrote nothing: unchanged orders and bad rows (also in ``errors``)."""
    from tqdm import tqdm

    path = Path(path)
    mapping = mapping or Mapping()
    if not path.is_file():
        raise ImportFileError(f"文件不存在: {path}")
    xlsx = path.suffix.lower() in {".xlsx", ".xlsm"}
    bar = tqdm(total=None if xlsx else path.stat().st_size, unit="行" if xlsx else "B", unit_scale=not xlsx,
               file=sys.stderr, disable=not show_progress, desc="导入订单", mininterval=0.5)
    rows = (_xlsx_rows if xlsx else _csv_rows)(path, mapping, bar.update)
    tz = ZoneInfo(shop.timezone)
    report = ImportReport()
    reason = f"导入 {path.name}"[:300]
    try:
        columns = None
        batch: list[dict] = []
        for number, row in rows:
            if columns is None:
                columns = _header_map(row, mapping)
                width = len(row)
                continue
            if not any(str(v).strip() for v in row):
                continue  # blank line
            report.rows += 1
            try:
                if len(row) < width and not xlsx:
                    raise ValueError(f"列数不对: {len(row)} 列，表头有 {width} 列")
                raw = {key: (clean_cell(row[i]) if i < len(row) else "") for key, i in columns.items()}
                batch.append(parsing.clean_order(raw, tz, status_aliases=mapping.status_values,
                                                 time_format=mapping.time_format))
            except ValueError as exc:
                report.skipped += 1
                if len(report.errors) < max_errors_listed:
                    report.errors.append({"row": number, "reason": str(exc)})
            if len(batch) >= batch_size:
                _flush(shop, batch, report, reason)
                batch = []
        if columns is None:
            raise ImportFileError("文件是空的")
        _flush(shop, batch, report, reason)
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"文件编码无法识别: {exc}") from exc
    except csv.Error as exc:
        raise ImportFileError(f"CSV 格式错误: {exc}") from exc
    finally:
        bar.close()
    return report


def _flush(shop: Shop, batch: list[dict], report: ImportReport, reason: str) -> None:
    if not batch:
        return
    result = order_services.upsert_orders(shop, batch, source=OrderSource.IMPORT, reason=reason)
    report.imported += result.imported
    report.updated += result.updated
    report.skipped += result.skipped
