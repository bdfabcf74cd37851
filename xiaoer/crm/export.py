"""`xiaoer customers export`: one record per customer, valued and scored as of a date
(docs/customers.md "Export"). Streams: customers in id order, merged with the RFM stream (also
in customer id order), tags read per chunk; memory flat in the number of customers."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import IO

from xiaoer.accounts.models import Shop
from xiaoer.crm import rfm
from xiaoer.crm.models import LevelRule
from xiaoer.customers.models import Customer, CustomerTag
from xiaoer.importing import csv_safe

FIELDS = ("buyer_id", "name", "paid_orders", "total_paid", "average_unit_price", "first_purchase",
          "last_purchase", "purchase_cycle_days", "recency_days", "r", "f", "m", "rfm_segment", "level", "tags")
FORMATS = ("jsonl", "csv", "xlsx")
CHUNK = 2000


def _customers(shop: Shop) -> Iterator[list[tuple[int, str | None, str]]]:
    """Chunks of (id, buyer_id, name) in id order: every customer not merged into another."""
    last = 0
    while True:
        chunk = list(Customer.objects.filter(shop=shop, merged_into__isnull=True, pk__gt=last)
                     .order_by("pk").values_list("pk", "buyer_id", "name")[:CHUNK])
        if not chunk:
            return
        yield chunk
        last = chunk[-1][0]


def _tags(ids: list[int]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = defaultdict(list)
    for customer_id, name in (CustomerTag.objects.filter(customer_id__in=ids)
                              .order_by("tag__name").values_list("customer_id", "tag__name")):
        tags[customer_id].append(name)
    return tags


def records(shop: Shop, as_of: dt.date) -> Iterator[dict]:
    """One dict per customer with FIELDS; money as strings with two decimals, dates ISO."""
    zone = rfm.shop_zone(shop)
    level_names = dict(LevelRule.objects.filter(shop=shop).values_list("level", "name"))
    scored_stream = rfm.compute_rfm(shop, as_of)
    pending = next(scored_stream, None)
    for chunk in _customers(shop):
        tags = _tags([pk for pk, _, _ in chunk])
        for pk, buyer_id, name in chunk:
            while pending is not None and pending.value.customer_id < pk:
                pending = next(scored_stream, None)  # a merged-away customer's orders: not exported
            scored = pending if pending is not None and pending.value.customer_id == pk else None
            yield _record(buyer_id, name, scored, tags.get(pk, []), zone, level_names)


def _record(buyer_id, name, scored: rfm.Scored | None, tags: list[str], zone, level_names: dict) -> dict:
    value = scored.value if scored else None
    paid = value.paid_orders if value else 0
    average = value.average_unit_price if value else None

    def day(moment: dt.datetime | None) -> str | None:
        return moment.astimezone(zone).date().isoformat() if moment else None

    return {
        "buyer_id": buyer_id or "", "name": name or "", "paid_orders": paid,
        "total_paid": f"{value.total_paid:.2f}" if value else "0.00",
        "average_unit_price": f"{average:.2f}" if average is not None else None,
        "first_purchase": day(value.first_purchase_at) if value else None,
        "last_purchase": day(value.last_purchase_at) if value else None,
        "purchase_cycle_days": value.purchase_cycle_days if value else None,
        "recency_days": scored.recency_days if scored else None,
        "r": scored.r if scored else None, "f": scored.f if scored else None, "m": scored.m if scored else None,
        "rfm_segment": scored.segment if scored else "",
        "level": level_names.get(scored.level, "") if scored else "",
        "tags": tags,
    }


def _cells(record: dict) -> list:
    """A record as spreadsheet cells: tags joined "a;b", texts through the formula escape."""
    cells = []
    for field in FIELDS:
        value = record[field]
        if field == "tags":
            value = ";".join(value)
        cells.append(csv_safe(value) if isinstance(value, str) else ("" if value is None else value))
    return cells


def write(shop: Shop, as_of: dt.date, fmt: str, out: IO, *, progress=None) -> int:
    """Write every record to OUT (a text stream for jsonl/csv, a binary one for xlsx)."""
    count = 0
    stream = records(shop, as_of)
    if fmt == "jsonl":
        for record in stream:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
            if progress:
                progress(1)
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(FIELDS)
        for record in stream:
            writer.writerow(_cells(record))
            count += 1
            if progress:
                progress(1)
    elif fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("customers")
        sheet.append(list(FIELDS))
        for record in stream:
            sheet.append(_cells(record))
            count += 1
            if progress:
                progress(1)
        book.save(out)
    else:
        raise ValueError(f"unknown format {fmt}")
    return count
