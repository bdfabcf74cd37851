"""Where later apps add their figures to the KPI report (decision 162).

After-sales (reviews good/medium/bad rates), CSAT (share of 4–5 among answers, response rate)
and coupons do not exist yet. When they land, their app (below kpi in the layers block, or kpi
itself reading their tables) registers a function in its ``AppConfig.ready()``:

    hooks.EXTRA_FIGURES.append(review_rates)   # (shop, start, end, by) -> {row key: {figure: value}}

The row key is the seat id, staff id or day, as the report groups by ``by``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from xiaoer.accounts.models import Shop

ExtraFigures = Callable[[Shop, dt.date, dt.date, str], dict[Any, dict[str, Any]]]
EXTRA_FIGURES: list[ExtraFigures] = []


def extra_figures(shop: Shop, start: dt.date, end: dt.date, by: str) -> dict[Any, dict[str, Any]]:
    merged: dict[Any, dict[str, Any]] = {}
    for provider in EXTRA_FIGURES:
        for key, figures in provider(shop, start, end, by).items():
            merged.setdefault(key, {}).update(figures)
    return merged
