"""Variables in standard answers: ``{顾客}`` or ``{customer}`` and friends (docs/knowledge-import.md).

Only the names below exist; an answer naming any other is rejected when it is saved or imported,
so a typo never reaches a shopper as a raw ``{...}``.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy

# name as typed → canonical key
VARIABLES: dict[str, str] = {
    "顾客": "customer", "customer": "customer", "customer_name": "customer",
    "订单号": "order_no", "order_no": "order_no",
    "物流单号": "tracking_no", "tracking_no": "tracking_no",
    "商品": "product", "product": "product",
    "客服": "seat", "seat": "seat",
}
# What an agent sees where a value is unknown: a visible blank to fill in before sending.
PLACEHOLDERS = {"customer": "亲", "order_no": "【订单号】", "tracking_no": "【物流单号】",
                "product": "这款商品", "seat": "小二"}
# What a variable is called on a page (「需补充：顾客」, never the key).
LABELS = {"customer": gettext_lazy("顾客称呼"), "order_no": gettext_lazy("订单号"),
          "tracking_no": gettext_lazy("物流单号"), "product": gettext_lazy("商品"), "seat": gettext_lazy("客服")}
# Values with no safe default: a robot never sends an answer that still needs one of these.
REQUIRED_FOR_ROBOT = {"order_no", "tracking_no"}

_VAR = re.compile(r"\{([^{}\s]{1,30})\}")


def unknown_variables(text: str) -> list[str]:
    return [name for name in _VAR.findall(text) if name not in VARIABLES]


def used_variables(text: str) -> set[str]:
    return {VARIABLES[name] for name in _VAR.findall(text) if name in VARIABLES}


def fill(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """Fill variables; returns the text and the keys that had no value (placeholder used)."""
    missing: list[str] = []

    def _sub(match: re.Match) -> str:
        key = VARIABLES.get(match.group(1))
        if key is None:
            return match.group(0)
        value = values.get(key)
        if value:
            return str(value)
        missing.append(key)
        return PLACEHOLDERS[key]

    return _VAR.sub(_sub, text), missing
