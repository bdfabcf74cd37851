"""Import of platform review exports (CSV UTF-8/GBK, .xlsx), batched and idempotent.

Columns and the mapping file: docs/reviews-and-revisits.md. Rows are numbered as a spreadsheet
shows them: the header is row 1, the first review row 2. Same shape as xiaoer/orders/importer.py.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from xiaoer.accounts.models import Shop
from xiaoer.aftersales import reviews_services
from xiaoer.importing import check_identifier, clean_cell, read_mapping_file
from xiaoer.orders.importer import detect_encoding, norm_header
from xiaoer.orders.parsing import parse_time, text

DEFAULT_COLUMNS: dict[str, list[str]] = {
    "order_no": ["订单编号", "订单号", "子订单编号", "order_no"],
    "buyer_id": ["买家", "买家昵称", "买家会员名", "评价人", "buyer_id", "buyer"],
    "rating": ["评价", "评价等级", "评价结果", "评分", "星级", "rating"],
    "text": ["评价内容", "初评内容", "评论内容", "text"],
    "reviewed_at": ["评价时间", "初评时间", "评论时间", "reviewed_at", "time"],
    "product": ["宝贝标题", "商品名称", "商品标题", "宝贝名称", "product"],
    "followup_text": ["追评", "追评内容", "追加评论", "followup_text"],
}
REQUIRED = ("order_no", "rating")
SAMPLE_BYTES = 256 * 1024


class ImportFileError(Exception):
    """The file as a whole can't be imported (unreadable, no order number or rating column, ...)."""


@dataclass
class Mapping:
    columns: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_COLUMNS.items()})
    encoding: str | None = None
    delimiter: str = ","
    sheet: str | None = None
    time_format: str | None = None


def load_mapping(path: str | Path | None) -> Mapping:
    """A mapping file (JSON or TOML) naming other headers: {"columns": {"rating": "星级"}, ...}."""
    mapping = Mapping()
    if not path:
        return mapping
    try:
        raw, columns = read_mapping_file(path, lambda key: key in DEFAULT_COLUMNS)
    except ValueError as exc:
        raise ImportFileError(str(exc)) from exc
    mapping.columns.update(columns)
    mapping.encoding = raw.get("encoding") or None
    mapping.delimiter = str(raw.get("delimiter") or ",")[:1]
    mapping.sheet = raw.get("sheet") or None
    mapping.time_format = raw.get("time_format") or None
    return mapping


def _header_map(header: list, mapping: Mapping) -> dict[str, int]:
    names = [norm_header(h) for h in header]
    found: dict[str, int] = {}
    for key, aliases in mapping.columns.items():
        for alias in map(norm_header, aliases):
            if alias in names:
                found[key] = names.index(alias)
                break
    missing = [DEFAULT_COLUMNS[k][0] for k in REQUIRED if k not in found]
    if missing:
        raise ImportFileError(f"找不到必需的列: {', '.join(missing)}；表头是: {', '.join(names[:20])}")
    return found


def _encoding(sample: bytes) -> str:
    """UTF-8 when it decodes as such, else GB18030 when it decodes as that (Chinese platforms
    export in the GB family; a detector guesses Korean for a few short Chinese cells), else the
    detector's guess."""
    found = detect_encoding(sample)
    if found.startswith("utf"):
        return found
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample)  # not final: the sample may cut a character
        return "gb18030"
    except UnicodeDecodeError:
        return found


def _csv_rows(path: Path, mapping: Mapping, progress) -> Iterator[tuple[int, list]]:
    with path.open("rb") as fh:
        encoding = mapping.encoding or _encoding(fh.read(SAMPLE_BYTES))
        progress(path.stat().st_size)
        fh.seek(0)
        text_io = io.TextIOWrapper(fh, encoding=encoding, errors="replace", newline="")
        yield from enumerate(csv.reader(text_io, delimiter=mapping.delimiter), start=1)


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


def clean_review(raw: dict, tz: ZoneInfo, time_format: str | None = None) -> dict:
    """One raw row (cells already cleaned) → the clean review row, or ValueError with the reason."""
    order_no = text(raw.get("order_no"), 64)
    if not order_no:
        raise ValueError("没有订单编号")
    check_identifier(order_no, "订单编号")
    rating, stars = reviews_services.parse_rating(raw.get("rating"))
    return {"order_no": order_no, "product": text(raw.get("product"), 200), "buyer_id": text(raw.get("buyer_id"), 100),
            "rating": rating, "stars": stars, "text": text(raw.get("text"), 2000),
            "reviewed_at": parse_time(raw.get("reviewed_at"), tz, field="评价时间", fmt=time_format),
            "followup_text": text(raw.get("followup_text"), 2000)}


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    followups_opened: int = 0
    errors: list[dict] = field(default_factory=list)
    rows: int = 0

    def as_dict(self) -> dict:
        return {"imported": self.imported, "updated": self.updated, "skipped": self.skipped,
                "errors": self.errors, "followups_opened": self.followups_opened}


def import_file(shop: Shop, path: str | Path, *, mapping: Mapping | None = None, batch_size: int = 1000,
                show_progress: bool = False, max_errors_listed: int = 10000) -> ImportReport:
    """Import PATH into SHOP. Idempotent: a second run updates or skips, never duplicates, and
    opens no follow-up twice. ``skipped`` counts unchanged reviews and bad rows (also in ``errors``)."""
    from tqdm import tqdm

    path = Path(path)
    mapping = mapping or Mapping()
    if not path.is_file():
        raise ImportFileError(f"文件不存在: {path}")
    xlsx = path.suffix.lower() in {".xlsx", ".xlsm"}
    bar = tqdm(total=None if xlsx else path.stat().st_size, unit="行" if xlsx else "B", unit_scale=not xlsx,
               file=sys.stderr, disable=not show_progress, desc="导入评价", mininterval=0.5)
    rows = (_xlsx_rows if xlsx else _csv_rows)(path, mapping, bar.update)
    tz, report = ZoneInfo(shop.timezone), ImportReport()
    try:
        columns, batch = None, {}
        for number, row in rows:
            if columns is None:
                columns = _header_map(row, mapping)
                continue
            if not any(str(v).strip() for v in row):
                continue  # blank line
            report.rows += 1
            try:
                raw = {key: (clean_cell(row[i]) if i < len(row) else "") for key, i in columns.items()}
                clean = clean_review(raw, tz, mapping.time_format)
                batch[(clean["order_no"], clean["product"])] = clean  # a repeated row: the last wins
            except ValueError as exc:
                report.skipped += 1
                if len(report.errors) < max_errors_listed:
                    report.errors.append({"row": number, "reason": str(exc)})
            if len(batch) >= batch_size:
                _flush(shop, batch, report)
                batch = {}
        if columns is None:
            raise ImportFileError("文件是空的")
        _flush(shop, batch, report)
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"文件编码无法识别: {exc}") from exc
    except csv.Error as exc:
        raise ImportFileError(f"CSV 格式错误: {exc}") from exc
    finally:
        bar.close()
    return report


def _flush(shop: Shop, batch: dict, report: ImportReport) -> None:
    if not batch:
        return
    result = reviews_services.upsert_reviews(shop, list(batch.values()))
    report.imported += result.imported
    report.updated += result.updated
    report.skipped += result.skipped
    report.followups_opened += result.followups_opened
