"""Cells of real platform exports and CSV cells we write, handled the same way by every app.

Reading: platform exports protect long numbers (order numbers, phones, tracking numbers) from
spreadsheets by writing them as text — a leading apostrophe (``'3300000000000001``), a formula
wrapper (``="3300000000000001"``) or a leading tab. ``clean_cell`` reads such a cell as a
spreadsheet shows it. A number that went through Excel without that protection comes back in
scientific notation (``3.30000000000000E+15``) with its last digits gone for good:
``check_identifier`` refuses it with a message saying so (docs/orders-import.md).

Writing: ``csv_safe`` escapes a cell a spreadsheet would run as a formula (CSV injection).
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.utils.translation import gettext as _

# 3.30000000000000E+15, 3.3e15, -1.2E-05: a number the spreadsheet rewrote.
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d*)?[eE][+-]?\d+")
# The leads a spreadsheet treats as the start of a formula (or a hidden control character).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r", "\n")


def clean_cell(value):
    """One cell of an imported table → its value as a spreadsheet shows it. Strings lose surrounding
    white space (a leading tab included), a ``="…"`` wrapper and a leading apostrophe; floats are
    shown to 15 significant digits (Excel's precision), whole ones without ``.0``. Other values
    (ints, dates, None) are returned unchanged."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"
    if not isinstance(value, str):
        return value
    text = value.strip()
    if len(text) >= 3 and text.startswith('="') and text.endswith('"'):
        text = text[2:-1].replace('""', '"').strip()
    elif text.startswith("'"):
        text = text[1:].strip()
    return text


def is_scientific(value) -> bool:
    return isinstance(value, str) and bool(_SCIENTIFIC.fullmatch(value.strip()))


def check_identifier(value: str, field: str) -> str:
    """VALUE (already cleaned) of an identifier column named FIELD; raises ValueError when a
    spreadsheet destroyed it with scientific notation."""
    if is_scientific(value):
        raise ValueError(_("%(field)s“%(value)s”被 Excel 改成了科学计数法，后几位数字已经丢失：请从平台重新导出，"
                           "或在 Excel 里把这一列设成“文本”后再保存")
                         % {"field": field, "value": value.strip()[:30]})
    return value


def csv_safe(value) -> str:
    """A value for a CSV cell a person will open in a spreadsheet: a text starting with a formula
    lead (= + - @ tab CR LF) gets a leading apostrophe, so it is shown, never evaluated. Numbers
    are written as they are (a negative amount stays a number)."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_LEADS):
        return "'" + text
    return text


def read_mapping_file(path, known_column) -> tuple[dict, dict[str, list[str]]]:
    """A mapping file of an import (JSON, or TOML by its suffix): the whole object and its
    ``columns`` as {field: [header, …]}. KNOWN_COLUMN(field) says which fields the importer has.
    ValueError with a message for the user when the file is unreadable or names an unknown field."""
    import json
    import tomllib
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text("utf-8")
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueError(_("映射文件读不了: %s") % exc) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("columns") or {}, dict):
        raise ValueError(_("映射文件必须是一个对象，columns 也是"))
    columns = {}
    for key, names in (raw.get("columns") or {}).items():
        if not known_column(key):
            raise ValueError(_("映射文件里有未知字段: %s") % key)
        columns[key] = [names] if isinstance(names, str) else [str(n) for n in names]
    return raw, columns
