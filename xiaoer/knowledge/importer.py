"""Reading and validating knowledge files (CSV in UTF-8 or GBK, or .xlsx).

Parsing and validation are pure: they turn bytes into clean row dicts plus a list of
``RowError(row, message)``; services.py writes. Row numbers are the file's own line numbers as a
spreadsheet shows them (the header is row 1).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from xiaoer.importing import check_identifier, clean_cell
from xiaoer.knowledge.models import Category
from xiaoer.knowledge.variables import unknown_variables

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_CELL = 5000


class FileProblem(Exception):
    """The file as a whole cannot be read (encoding, format, missing columns)."""


@dataclass
class RowError:
    row: int
    message: str

    def __str__(self) -> str:
        return _("第 %(row)d 行：%(message)s") % {"row": self.row, "message": self.message}


@dataclass
class Parsed:
    rows: list[dict] = field(default_factory=list)  # each has "_row": its row number
    errors: list[RowError] = field(default_factory=list)


# canonical column → accepted header spellings (lower-cased)
ANSWER_COLUMNS = {
    "id": ["id", "编号", "code"], "category": ["category", "分类", "类别"],
    "question": ["question", "标准问题", "问题"], "similar": ["similar", "相似问法"],
    "answer": ["answer", "答案"], "product": ["product", "商品", "商品编号"],
    "enabled": ["enabled", "启用"],
}
ANSWER_REQUIRED = ["id", "category", "question", "answer"]
PHRASE_COLUMNS = {"shortcut": ["shortcut", "快捷键", "快捷语"], "text": ["text", "内容", "短语"],
                  "seat": ["seat", "客服账号", "子账号"], "group": ["group", "分组"]}
PHRASE_REQUIRED = ["shortcut", "text"]
PRODUCT_COLUMNS = {
    "id": ["id", "编号", "商品编号"], "title": ["title", "标题", "商品名称"], "category": ["category", "类目"],
    "price": ["price", "价格"], "stock": ["stock", "库存"], "material": ["material", "材质", "面料"],
    "size_chart": ["size_chart", "尺码表"], "usage": ["usage", "用途", "使用方法"],
    "precautions": ["precautions", "注意事项"], "care": ["care", "保养", "洗涤保养"],
    "suits": ["suits", "适合"], "not_suits": ["not_suits", "不适合"], "images": ["images", "图片"],
    "related": ["related", "关联商品"], "upsell": ["upsell", "升级推荐"], "published": ["published", "上架"],
    "skus": ["skus", "sku", "规格"],
}
PRODUCT_REQUIRED = ["id", "title"]

_CATEGORY_LABELS = {label: value for value, label in Category.choices}


def _category_choices() -> str:
    """What an import error offers: the Chinese names in a Chinese UI, the codes in another."""
    if (get_language() or "").startswith("zh"):
        return "、".join(_CATEGORY_LABELS)
    return ", ".join(Category.values)
_TRUE = {"1", "true", "yes", "y", "是", "启用", "上架", "on"}
_FALSE = {"0", "false", "no", "n", "否", "停用", "下架", "off"}
_CODE = re.compile(r"^[\w.\-]{1,64}$")


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GBK/GB18030, else charset-normalizer's best guess."""
    if b"\x00" in data[:4096]:
        raise FileProblem(_("无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV，或 .xlsx 文件"))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise FileProblem(_("无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV，或 .xlsx 文件"))
    return str(best)


def read_table(data: bytes, filename: str = "") -> list[list[str]]:
    """All rows (header first) as lists of stripped strings."""
    if len(data) > MAX_FILE_BYTES:
        raise FileProblem(_("文件太大（上限 20 MB）"))
    if not data.strip():
        raise FileProblem(_("文件是空的"))
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        return _read_xlsx(data)
    text = decode(data)
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise FileProblem(_("CSV 格式错误：%s") % exc) from exc
    return [[clean_cell(cell) for cell in row] for row in rows[: MAX_ROWS + 1]]


def _read_xlsx(data: bytes) -> list[list[str]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileProblem(_("无法读取 Excel 文件：请确认是 .xlsx 格式")) from exc
    sheet = book.worksheets[0]
    rows = []
    try:
        for values in sheet.iter_rows(values_only=True):
            rows.append(["" if v is None else str(clean_cell(v)) for v in values])
            if len(rows) > MAX_ROWS:
                break
    except (ValueError, OverflowError, KeyError, IndexError) as exc:  # e.g. a number cell holding NaN
        raise FileProblem(_("无法读取 Excel 文件：从第 %d 行起有无法识别的单元格（如写成 NaN 的数字），"
                            "请改正或清空后再导入") % (len(rows) + 1)) from exc
    finally:
        book.close()
    return rows


def map_header(header: list[str], columns: dict[str, list[str]], required: list[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for pos, name in enumerate(header):
        key = name.strip().lstrip("\ufeff").lower()
        for canonical, spellings in columns.items():
            if key in spellings and canonical not in index:
                index[canonical] = pos
    missing = [c for c in required if c not in index]
    if missing:
        names = "、".join(f"{c}（{columns[c][1]}）" for c in missing)
        raise FileProblem(_("第 1 行（表头）缺少列：%s") % names)
    return index


def _records(table: list[list[str]], columns, required):
    if not table:
        raise FileProblem(_("文件是空的"))
    index = map_header(table[0], columns, required)
    for number, raw in enumerate(table[1:], start=2):
        if not any(cell.strip() for cell in raw):
            continue  # blank lines are not errors
        yield number, {key: (raw[pos] if pos < len(raw) else "") for key, pos in index.items()}


def _bool(value: str, default: bool) -> bool | None:
    value = value.strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def _too_long(rec: dict) -> str | None:
    for key, value in rec.items():
        if len(value) > MAX_CELL:
            return _("“%(col)s”超过 %(n)d 字") % {"col": key, "n": MAX_CELL}
    return None


def parse_answers(table: list[list[str]], product_codes: set[str] | None = None) -> Parsed:
    out = Parsed()
    seen: dict[str, int] = {}
    for number, rec in _records(table, ANSWER_COLUMNS, ANSWER_REQUIRED):
        problem = _too_long(rec) or _answer_problem(rec, seen, product_codes)
        if problem:
            out.errors.append(RowError(number, problem))
            continue
        seen[rec["id"]] = number
        category = rec["category"].strip()
        out.rows.append({
            "_row": number, "code": rec["id"], "category": _CATEGORY_LABELS.get(category, category),
            "question": rec["question"], "answer": rec["answer"],
            "similar": [s.strip() for s in rec.get("similar", "").split("|") if s.strip()],
            "product": rec.get("product", "").strip(), "enabled": _bool(rec.get("enabled", ""), True),
        })
    return out


def _answer_problem(rec: dict, seen: dict[str, int], product_codes: set[str] | None) -> str | None:
    code = rec["id"]
    if not code:
        return _("编号（id）为空")
    try:
        check_identifier(code, _("编号"))
        check_identifier(rec.get("product", ""), _("商品编号"))
    except ValueError as exc:
        return str(exc)
    if not _CODE.match(code):
        return _("编号“%s”只能包含字母、数字、下划线、点和横线，最长 64 位") % code[:70]
    if code in seen:
        return _("编号“%(code)s”重复（与第 %(row)d 行相同）") % {"code": code, "row": seen[code]}
    category = rec["category"].strip()
    if category not in Category.values and category not in _CATEGORY_LABELS:
        return _("未知分类“%(cat)s”，可选：%(all)s") % {"cat": category[:40], "all": _category_choices()}
    if not rec["question"]:
        return _("标准问题（question）为空")
    if not rec["answer"]:
        return _("答案（answer）为空")
    unknown = unknown_variables(rec["answer"])
    if unknown:
        return _("答案里有未知变量：%s（可用：{顾客} {订单号} {物流单号} {商品} {客服}）") % "、".join(
            "{" + u + "}" for u in unknown)
    product = rec.get("product", "").strip()
    if product and product_codes is not None and product not in product_codes:
        return _("商品编号“%s”不存在") % product[:64]
    if _bool(rec.get("enabled", ""), True) is None:
        return _("启用（enabled）只能填 是/否")
    return None


def parse_phrases(table: list[list[str]], seat_names: set[str]) -> Parsed:
    out = Parsed()
    seen: dict[tuple[str, str], int] = {}
    for number, rec in _records(table, PHRASE_COLUMNS, PHRASE_REQUIRED):
        seat = rec.get("seat", "").strip()
        group = " ".join(rec.get("group", "").split())
        key = (seat, rec["shortcut"])
        problem = _too_long(rec)
        if not problem and not rec["shortcut"]:
            problem = _("快捷键（shortcut）为空")
        elif not problem and len(rec["shortcut"]) > 30:
            problem = _("快捷键最长 30 字")
        elif not problem and not rec["text"]:
            problem = _("内容（text）为空")
        elif not problem and len(group) > 30:
            problem = _("分组名最长 30 字")
        elif not problem and seat and seat not in seat_names:
            problem = _("客服账号“%s”不存在") % seat[:50]
        elif not problem and key in seen:
            problem = _("快捷键“%(s)s”重复（与第 %(row)d 行相同）") % {"s": rec["shortcut"], "row": seen[key]}
        if problem:
            out.errors.append(RowError(number, problem))
            continue
        seen[key] = number
        out.rows.append({"_row": number, "shortcut": rec["shortcut"], "text": rec["text"], "seat": seat,
                         "group": group})
    return out


SIZE_DIMENSIONS = {"身高": "height", "体重": "weight", "胸围": "chest", "腰围": "waist", "臀围": "hip",
                   "肩宽": "shoulder", "脚长": "foot"}
_RANGE = re.compile(r"(身高|体重|胸围|腰围|臀围|肩宽|脚长|height|weight|chest|waist|hip|shoulder|foot)\s*[:：]?\s*"
                    r"(\d+(?:\.\d+)?)\s*[-~～到]\s*(\d+(?:\.\d+)?)\s*(斤|kg|公斤|cm)?", re.I)


def parse_size_chart(value: str) -> dict:
    """JSON, or the compact form ``S: 身高150-160 体重40-50; M: 身高160-170 体重50-60`` (kg; 斤 allowed)."""
    value = value.strip()
    if not value:
        return {}
    if value.startswith("{"):
        try:
            chart = json.loads(value)
        except ValueError as exc:
            raise ValueError(_("尺码表不是合法的 JSON")) from exc
    else:
        chart = {}
        for part in re.split(r"[;；\n]", value):
            if not part.strip():
                continue
            size, sep, ranges = part.partition(":") if ":" in part else part.partition("：")
            if not sep:
                raise ValueError(_("尺码表“%s”缺少冒号（示例 S: 身高150-160 体重40-50）") % part.strip()[:30])
            dims = {}
            for name, lo, hi, unit in _RANGE.findall(ranges):
                key = SIZE_DIMENSIONS.get(name, name.lower())
                factor = 0.5 if unit == "斤" else 1
                dims[key] = [float(lo) * factor, float(hi) * factor]
            if not dims:
                raise ValueError(_("尺码“%s”没有可识别的范围") % size.strip()[:20])
            chart[size.strip()] = dims
    return check_size_chart(chart)


def check_size_chart(chart) -> dict:
    if not isinstance(chart, dict) or len(chart) > 30:
        raise ValueError(_("尺码表应是“尺码 → 范围”的对应表"))
    clean = {}
    for size, dims in chart.items():
        if not isinstance(dims, dict):
            raise ValueError(_("尺码“%s”的范围格式不对") % str(size)[:20])
        clean_dims = {}
        for dim, rng in dims.items():
            if (not isinstance(rng, list | tuple) or len(rng) != 2
                    or not all(isinstance(x, int | float) for x in rng) or rng[0] > rng[1]):
                raise ValueError(_("尺码“%(s)s”的“%(d)s”应是 [最小, 最大]") % {"s": str(size)[:20], "d": str(dim)[:20]})
            clean_dims[str(dim)[:20]] = [float(rng[0]), float(rng[1])]
        clean[str(size)[:20]] = clean_dims
    return clean


MAX_SKUS = 200
# The limits of the price and stock columns (DecimalField(10, 2), IntegerField), for products and SKUs alike.
MAX_PRICE = Decimal("100000000")
MAX_STOCK = 1_000_000_000


def parse_price(text: str | Decimal | None) -> Decimal | None:
    """A price cell: empty → None; ``¥1,299.50`` → Decimal("1299.50"). 0 ≤ price < 10⁸ with at most two
    decimals, else ValueError whose message starts with 价格 (callers may prefix the SKU). The product
    page's SKU editor (services.do_save_sku) uses the same rules."""
    if text is None or not str(text).strip():
        return None
    clean = str(text).strip().replace("¥", "").replace("￥", "").replace(",", "")
    try:
        value = Decimal(clean)
    except InvalidOperation as exc:
        raise ValueError(_("价格“%s”不是数字") % clean[:20]) from exc
    if not value.is_finite() or value < 0 or value >= MAX_PRICE:  # NaN is checked first: it cannot be compared
        raise ValueError(_("价格超出范围（0 到 99999999.99）"))
    if value.as_tuple().exponent < -2:
        raise ValueError(_("价格最多两位小数"))
    return value


def parse_stock(text: str | int | None) -> int:
    """A stock cell: empty → 0; else a whole number 0 ≤ stock < 10⁹ (ValueError otherwise, message starting
    with 库存)."""
    if text is None or not str(text).strip():
        return 0
    try:
        value = int(str(text).strip())
    except ValueError as exc:
        raise ValueError(_("库存“%s”不是整数") % str(text).strip()[:20]) from exc
    if value < 0:
        raise ValueError(_("库存不能是负数"))
    if value >= MAX_STOCK:
        raise ValueError(_("库存超出范围"))
    return value


def parse_skus(text: str) -> list[dict]:
    """``code:颜色=黑,尺码=M:129:30 | code2:...`` → [{code, attrs, price, stock}]; price and stock
    may be left empty (the product's price, stock 0). Raises ValueError naming the bad SKU."""
    skus: list[dict] = []
    seen: set[str] = set()
    for part in (p.strip() for p in (text or "").split("|")):
        if not part:
            continue
        fields = [f.strip() for f in part.split(":")]
        if len(fields) > 4 or not _CODE.match(fields[0]):
            raise ValueError(_("SKU“%s”应写成 编号:属性=值,属性=值:价格:库存") % part[:40])
        code = fields[0]
        if code in seen:
            raise ValueError(_("SKU 编号“%s”重复") % code)
        seen.add(code)
        attrs: dict[str, str] = {}
        for pair in filter(None, (a.strip() for a in (fields[1] if len(fields) > 1 else "").split(","))):
            name, sep, value = pair.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise ValueError(_("SKU“%(code)s”的属性“%(attr)s”应写成 属性=值") % {"code": code, "attr": pair[:20]})
            attrs[name.strip()[:20]] = value.strip()[:40]
        try:
            price = parse_price(fields[2] if len(fields) > 2 else "")
            stock = parse_stock(fields[3] if len(fields) > 3 else "")
        except ValueError as exc:  # "价格超出范围…" → "SKU“A1”的价格超出范围…"
            raise ValueError(_("SKU“%(code)s”的%(problem)s") % {"code": code, "problem": exc}) from exc
        skus.append({"code": code, "attrs": attrs, "price": price, "stock": stock})
    if len(skus) > MAX_SKUS:
        raise ValueError(_("一个商品最多 %d 个 SKU") % MAX_SKUS)
    return skus


def format_skus(skus) -> str:
    """The inverse of parse_skus, for export."""
    return " | ".join(
        f"{s.code}:{','.join(f'{k}={v}' for k, v in s.attrs.items())}:{'' if s.price is None else s.price}:{s.stock}"
        for s in skus)


def parse_products(table: list[list[str]]) -> Parsed:
    out = Parsed()
    seen: dict[str, int] = {}
    for number, rec in _records(table, PRODUCT_COLUMNS, PRODUCT_REQUIRED):
        try:
            row = _product_row(rec, seen)
        except ValueError as exc:
            out.errors.append(RowError(number, str(exc)))
            continue
        seen[row["code"]] = number
        row["_row"] = number
        out.rows.append(row)
    codes = set(seen)
    for row in out.rows:  # related/upsell must name products of the same file or the shop (checked later)
        row["_unknown_links"] = [c for c in row["related"] + row["upsell"] if c not in codes]
    return out


def _product_row(rec: dict, seen: dict[str, int]) -> dict:
    problem = _too_long(rec)
    if problem:
        raise ValueError(problem)
    code = check_identifier(rec["id"], _("商品编号"))
    if not code or not _CODE.match(code):
        raise ValueError(_("商品编号（id）为空或含非法字符"))
    if code in seen:
        raise ValueError(_("商品编号“%(code)s”重复（与第 %(row)d 行相同）") % {"code": code, "row": seen[code]})
    if not rec["title"]:
        raise ValueError(_("标题（title）为空"))
    price, stock = parse_price(rec.get("price", "")), parse_stock(rec.get("stock", ""))
    published = _bool(rec.get("published", ""), False)
    if published is None:
        raise ValueError(_("上架（published）只能填 是/否"))

    def _list(key: str) -> list[str]:
        return [s.strip() for s in rec.get(key, "").split("|") if s.strip()]

    images = _list("images")
    if any(not re.match(r"^(https?://|/)[^\s<>\"']+$", url) for url in images):
        raise ValueError(_("图片地址只能是 http(s):// 开头的网址"))
    return {
        "code": code, "title": rec["title"], "category": rec.get("category", ""), "price": price, "stock": stock,
        "material": rec.get("material", ""), "size_chart": parse_size_chart(rec.get("size_chart", "")),
        "usage": rec.get("usage", ""), "precautions": rec.get("precautions", ""), "care": rec.get("care", ""),
        "suits": rec.get("suits", ""), "not_suits": rec.get("not_suits", ""), "images": images,
        "related": _list("related"), "upsell": _list("upsell"), "published": published,
        # None: the file has no skus column, so the product's SKUs are left as they are
        "skus": parse_skus(rec["skus"]) if "skus" in rec else None,
    }
