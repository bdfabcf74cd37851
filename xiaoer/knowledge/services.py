"""Knowledge operations: check_* validates, do_* writes (events after commit), access_* fetches for
the caller's shop or raises Http404. Every write bumps ``knowledge_version`` and emits
KnowledgeChanged (xiaoer.knowledge.events), on which the robot rebuilds its index."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Seat, Shop, Staff
from xiaoer.events import emit
from xiaoer.importing import csv_safe
from xiaoer.knowledge import importer, variables
from xiaoer.knowledge.events import KnowledgeChanged, NoticePublished
from xiaoer.knowledge.models import (
    KnowledgeNotice,
    KnowledgeState,
    NoticeAck,
    Product,
    QuickPhrase,
    Sku,
    StandardAnswer,
)

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
BATCH = 500


# --- index freshness ------------------------------------------------------------------------------
def _knowledge_changed(shop_id: int) -> None:
    """The one place a knowledge write is announced: bump the shop's version and emit
    KnowledgeChanged in the caller's transaction (the robot listens; docs/decisions/033)."""
    updated = KnowledgeState.objects.filter(shop_id=shop_id).update(version=F("version") + 1)
    if not updated:
        KnowledgeState.objects.get_or_create(shop_id=shop_id, defaults={"version": 1})
    emit(KnowledgeChanged(shop_id=shop_id, version=knowledge_version(shop_id)))


def knowledge_version(shop_id: int) -> int:
    return KnowledgeState.objects.filter(shop_id=shop_id).values_list("version", flat=True).first() or 0


# --- access ---------------------------------------------------------------------------------------
def access_answer(staff: Staff, answer_id: int) -> StandardAnswer:
    return get_object_or_404(StandardAnswer.objects.select_related("product"), pk=answer_id, shop_id=staff.shop_id)


def access_product(staff: Staff, product_id: int) -> Product:
    return get_object_or_404(Product, pk=product_id, shop_id=staff.shop_id)


def access_notice(staff: Staff, notice_id: int) -> KnowledgeNotice:
    return get_object_or_404(KnowledgeNotice, pk=notice_id, shop_id=staff.shop_id)


def access_phrase(staff: Staff, phrase_id: int) -> QuickPhrase:
    return get_object_or_404(QuickPhrase, pk=phrase_id, shop_id=staff.shop_id)


def access_sku(staff: Staff, product: Product, sku_id: int) -> Sku:
    """A SKU of PRODUCT, which must be the caller's shop's (another shop's SKU is not found)."""
    return get_object_or_404(Sku, pk=sku_id, product=product, product__shop_id=staff.shop_id)


def product_by_code(shop_id: int, code: str) -> Product | None:
    return Product.objects.filter(shop_id=shop_id, code=code).first()


# --- standard answers -----------------------------------------------------------------------------
def check_answer(shop: Shop, *, code: str, category: str, question: str, similar: list[str], answer: str,
                 product_code: str = "", instance: StandardAnswer | None = None) -> dict:
    """Same rules as the importer; returns clean fields or raises ValidationError."""
    table = [["id", "category", "question", "similar", "answer", "product"],
             [code.strip(), category, question.strip(), "|".join(similar), answer.strip(), product_code.strip()]]
    codes = set(Product.objects.filter(shop=shop).values_list("code", flat=True))
    parsed = importer.parse_answers(table, codes)
    if parsed.errors:
        raise ValidationError(parsed.errors[0].message)
    if not parsed.rows:  # the importer skips an all-blank row without an error
        raise ValidationError(_("标准问题（question）为空"))
    row = parsed.rows[0]
    clash = StandardAnswer.objects.filter(shop=shop, code=row["code"])
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise ValidationError(_("编号“%s”已被使用") % row["code"])
    return row


def _require_writer(staff: Staff, *objs) -> None:
    """The permission rule of knowledge writes: supervisors and owners, on their own shop's objects."""
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    if any(obj is not None and obj.shop_id != staff.shop_id for obj in objs):
        raise Http404


def do_save_answer(staff: Staff, *, code: str, category: str, question: str, similar: list[str], answer: str,
                   product_code: str = "", enabled: bool = True, instance: StandardAnswer | None = None,
                   ) -> StandardAnswer:
    _require_writer(staff, instance)
    shop = staff.shop
    row = check_answer(shop, code=code, category=category, question=question, similar=similar, answer=answer,
                       product_code=product_code, instance=instance)
    obj = instance or StandardAnswer(shop=shop)
    obj.code, obj.category, obj.question = row["code"], row["category"], row["question"][:500]
    obj.similar, obj.answer, obj.enabled = row["similar"], row["answer"], enabled
    obj.product = product_by_code(shop.id, row["product"]) if row["product"] else None
    obj.save()
    _knowledge_changed(shop.id)
    return obj


def do_add_phrasing(staff: Staff, answer: StandardAnswer, phrasing: str) -> StandardAnswer:
    """Learning from agents: one more way shoppers ask this question."""
    _require_writer(staff, answer)
    phrasing = phrasing.strip()[:500]
    if not phrasing:
        raise ValidationError(_("问法不能为空"))
    if phrasing != answer.question and phrasing not in answer.similar:
        answer.similar = [*answer.similar, phrasing]
        answer.save(update_fields=["similar", "updated_at"])
        _knowledge_changed(answer.shop_id)
    return answer


def do_delete_answer(staff: Staff, answer: StandardAnswer) -> None:
    _require_writer(staff, answer)
    shop_id = answer.shop_id
    answer.delete()
    _knowledge_changed(shop_id)


# --- products and broadcasts ----------------------------------------------------------------------
def _check_lengths(model, fields: dict) -> None:
    """Text longer than its column is refused with the field's name: SQLite would store it, and
    PostgreSQL would fail the save with a server error."""
    for key, value in fields.items():
        limit = getattr(model._meta.get_field(key), "max_length", None) if isinstance(value, str) else None
        if limit and len(value.strip()) > limit:
            raise ValidationError(_("“%(field)s”最多 %(limit)s 个字") % {"field": key, "limit": limit})


def do_save_product(staff: Staff, *, instance: Product | None = None, **fields) -> Product:
    """Create or change a product. PRICE and STOCK may be typed text (``¥1,299.50``, ``30``; empty: no price,
    stock 0): the import file's rules (importer.parse_price/parse_stock). Fields not given are left alone; a
    refused save leaves INSTANCE as it was."""
    _require_writer(staff, instance)
    shop = staff.shop
    obj = instance or Product(shop=shop)
    code = str(fields.get("code", obj.code)).strip()
    if not code or not importer._CODE.match(code):
        raise ValidationError(_("商品编号为空或含非法字符"))
    if Product.objects.filter(shop=shop, code=code).exclude(pk=obj.pk).exists():
        raise ValidationError(_("商品编号“%s”已被使用") % code)
    if not str(fields.get("title", obj.title)).strip():
        raise ValidationError(_("标题不能为空"))
    chart = fields.get("size_chart", obj.size_chart)
    try:
        fields["size_chart"] = importer.parse_size_chart(chart) if isinstance(chart, str) \
            else importer.check_size_chart(chart or {})
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    try:  # "价格超出范围（0 到 99999999.99）", "库存不能是负数", …
        if "price" in fields:
            fields["price"] = importer.parse_price(fields["price"])
        if "stock" in fields:
            fields["stock"] = importer.parse_stock(fields["stock"])
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    _check_lengths(Product, fields)
    for key, value in fields.items():
        if key in {"related", "upsell"}:
            continue
        setattr(obj, key, value.strip() if isinstance(value, str) else value)
    obj.save()
    for key in ("related", "upsell"):
        if key in fields:
            getattr(obj, key).set(Product.objects.filter(shop=shop, code__in=fields[key]).exclude(pk=obj.pk))
    _knowledge_changed(shop.id)
    return obj


# --- SKUs -----------------------------------------------------------------------------------------
# Codes and attributes must survive the import/export cell `code:属性=值,…:price:stock | …`, so the
# characters that format uses as separators are refused here rather than mangled on export.
_ATTR_SEPARATORS = re.compile(r"[,，]")
_ATTR_FORBIDDEN = set(":|=")
MAX_SKU_ATTRS = 20


def parse_sku_attrs(text: str) -> dict[str, str]:
    """``颜色=黑, 尺码=M`` (ASCII or full-width commas) → {"颜色": "黑", "尺码": "M"}; empty text → {}."""
    pairs = []
    for pair in filter(None, (p.strip() for p in _ATTR_SEPARATORS.split(text or ""))):
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValidationError(_("属性“%s”应写成 属性=值") % pair[:20])
        pairs.append((name, value))
    return check_sku_attrs(pairs)


def check_sku_attrs(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """(name, value) pairs → a clean dict, with the importer's limits (name ≤ 20, value ≤ 40)."""
    attrs: dict[str, str] = {}
    for name, value in pairs:
        name, value = str(name).strip(), str(value).strip()
        if not name or not value:
            raise ValidationError(_("属性“%s”应写成 属性=值") % f"{name}={value}"[:20])
        if len(name) > 20 or len(value) > 40:
            raise ValidationError(_("属性“%s”太长：属性名最多 20 字，值最多 40 字") % name[:20])
        if _ATTR_FORBIDDEN & set(name + value) or _ATTR_SEPARATORS.search(name + value):
            raise ValidationError(_("属性“%s”不能含有 : | = 或逗号") % name[:20])
        if name in attrs:
            raise ValidationError(_("属性“%s”重复") % name)
        attrs[name] = value
    if len(attrs) > MAX_SKU_ATTRS:
        raise ValidationError(_("一个 SKU 最多 %d 个属性") % MAX_SKU_ATTRS)
    return attrs


def sku_attrs_text(attrs: dict) -> str:
    """The inverse of parse_sku_attrs, to prefill the edit form."""
    return ", ".join(f"{name}={value}" for name, value in attrs.items())


def _sku_code(product: Product, code: str, sku: Sku | None) -> str:
    code = (code or "").strip()
    if not code:
        raise ValidationError(_("SKU 编号不能为空"))
    if len(code) > 64:
        raise ValidationError(_("SKU 编号不能超过 64 个字符"))
    if not importer._CODE.match(code):
        raise ValidationError(_("SKU 编号只能包含字母、数字、下划线、点和减号"))
    clash = Sku.objects.filter(product=product, code=code)
    if sku is not None:
        clash = clash.exclude(pk=sku.pk)
    if clash.exists():
        raise ValidationError(_("SKU 编号“%s”在这个商品里已被使用") % code)
    return code


def _sku_price(price: str | Decimal | None) -> Decimal | None:
    """Empty means the product's own price applies (stored as NULL). The import file's rules."""
    try:
        return importer.parse_price(price)
    except ValueError as exc:  # "价格超出范围…" → "SKU 价格超出范围…"
        raise ValidationError(_("SKU %s") % exc) from exc


def _sku_stock(stock: str | int | None) -> int:
    try:
        return importer.parse_stock(stock)
    except ValueError as exc:
        raise ValidationError(_("SKU %s") % exc) from exc


def do_save_sku(staff: Staff, product: Product, *, code: str, attrs: str | dict[str, str],
                price: str | Decimal | None, stock: str | int | None, sku: Sku | None = None) -> Sku:
    """Add a SKU to PRODUCT, or change SKU (one of PRODUCT's). ATTRS is ``属性=值, …`` text or a dict."""
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    if product.shop_id != staff.shop_id or (sku is not None and sku.product_id != product.pk):
        raise Http404
    if sku is None and Sku.objects.filter(product=product).count() >= importer.MAX_SKUS:
        raise ValidationError(_("一个商品最多 %d 个 SKU") % importer.MAX_SKUS)
    clean_code = _sku_code(product, code, sku)
    clean_attrs = parse_sku_attrs(attrs) if isinstance(attrs, str) else check_sku_attrs(attrs.items())
    clean_price, clean_stock = _sku_price(price), _sku_stock(stock)
    obj = sku or Sku(product=product)  # assigned only once all is valid: a failed edit leaves SKU as it was
    obj.code, obj.attrs, obj.price, obj.stock = clean_code, clean_attrs, clean_price, clean_stock
    try:
        with transaction.atomic():  # a savepoint: a concurrent add of the same code is a clean error
            obj.save()
    except IntegrityError as exc:
        raise ValidationError(_("SKU 编号“%s”在这个商品里已被使用") % obj.code) from exc
    _knowledge_changed(product.shop_id)
    return obj


def do_delete_sku(staff: Staff, sku: Sku) -> None:
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    shop_id = Product.objects.filter(pk=sku.product_id).values_list("shop_id", flat=True).first()
    if shop_id != staff.shop_id:
        raise Http404
    sku.delete()
    _knowledge_changed(shop_id)


def do_publish_product(staff: Staff, product: Product) -> KnowledgeNotice:
    """Put a product on sale and push its knowledge card to every agent's workbench."""
    _require_writer(staff, product)
    product.published = True
    product.published_at = timezone.now()
    product.save(update_fields=["published", "published_at", "updated_at"])
    _knowledge_changed(product.shop_id)
    return _create_notice(product.shop_id, product=product, by=staff, title=_("新品上架：%s") % product.title,
                          body=_product_card_text(product))


def do_set_must_read(staff: Staff, obj: Product | StandardAnswer) -> KnowledgeNotice:
    _require_writer(staff, obj)
    by = staff
    obj.must_read = True
    obj.save(update_fields=["must_read", "updated_at"])
    if isinstance(obj, Product):
        return _create_notice(obj.shop_id, product=obj, by=by, title=_("必读：%s") % obj.title,
                              body=_product_card_text(obj))
    return _create_notice(obj.shop_id, answer=obj, by=by, title=_("必读：%s") % obj.question,
                          body=obj.answer)


def _product_card_text(product: Product) -> str:
    parts = [(_("材质"), product.material), (_("用途"), product.usage), (_("注意事项"), product.precautions),
             (_("保养"), product.care), (_("适合"), product.suits), (_("不适合"), product.not_suits)]
    return "\n".join(f"{label}：{value}" for label, value in parts if value)[:2000]


def _create_notice(shop_id: int, *, title: str, body: str, by: Staff | None, product: Product | None = None,
                   answer: StandardAnswer | None = None) -> KnowledgeNotice:
    notice = KnowledgeNotice.objects.create(shop_id=shop_id, product=product, answer=answer, title=title[:200],
                                            body=body, created_by=by)
    # pushed to workbenches as a person reads it: variables shown as what they stand for
    emit(NoticePublished(shop_id=shop_id, notice_id=notice.id, title=notice_text(notice.title),
                         body=notice_text(notice.body),
                         product_id=notice.product_id, answer_id=notice.answer_id,
                         created_at=notice.created_at.isoformat()))
    return notice


def notice_text(text: str) -> str:
    """A notice as a person reads it: an answer's variables shown as what they stand for (the
    placeholder an agent fills in), never a raw ``{顾客}``."""
    return variables.fill(text, {})[0]


def notice_dict(notice: KnowledgeNotice) -> dict:
    return {"id": notice.id, "title": notice_text(notice.title), "body": notice_text(notice.body),
            "product_id": notice.product_id, "answer_id": notice.answer_id,
            "created_at": notice.created_at.isoformat() if notice.created_at else None}


def do_ack_notice(staff: Staff, notice_id: int) -> NoticeAck:
    notice = access_notice(staff, notice_id)
    ack, _created = NoticeAck.objects.get_or_create(notice=notice, staff=staff)
    return ack


def notice_readers(shop: Shop) -> list[Staff]:
    """Everyone a broadcast is for: the people who chat with shoppers."""
    return list(Staff.objects.filter(shop=shop, is_active=True, role__in=["owner", "supervisor", "agent"])
                .order_by("display_name"))


def unread_staff(notice: KnowledgeNotice) -> list[Staff]:
    acked = set(NoticeAck.objects.filter(notice=notice).values_list("staff_id", flat=True))
    return [s for s in notice_readers(notice.shop) if s.id not in acked]


def notices_with_reads(staff: Staff, limit: int = 50) -> list[dict]:
    """The shop's latest notices for the notices page: whether STAFF has read each, and (for
    supervisors) who has not. Three queries whatever the number of notices and readers."""
    notices = list(KnowledgeNotice.objects.filter(shop_id=staff.shop_id)[:limit])
    acked: dict[int, set[int]] = {n.pk: set() for n in notices}
    for notice_id, staff_id in NoticeAck.objects.filter(notice__in=notices).values_list("notice_id", "staff_id"):
        acked[notice_id].add(staff_id)
    readers = notice_readers(staff.shop) if staff.is_supervisor and notices else []
    return [{"notice": n, "acked": staff.pk in acked[n.pk],
             "unread": [s for s in readers if s.pk not in acked[n.pk]]} for n in notices]


def pending_notices(staff: Staff, limit: int = 20) -> list[KnowledgeNotice]:
    return list(KnowledgeNotice.objects.filter(shop_id=staff.shop_id).exclude(acks__staff=staff)[:limit])


# --- quick phrases --------------------------------------------------------------------------------
def initials_of(text: str) -> str:
    """Pinyin initials, letters and digits kept: "发货时间" → "fhsj"."""
    from pypinyin import Style, lazy_pinyin

    out = []
    for syllable in lazy_pinyin(text[:60], style=Style.FIRST_LETTER, errors="default"):
        out.extend(ch.lower() for ch in syllable if ch.isascii() and ch.isalnum())
    return "".join(out)[:200]


MAX_PHRASE_GROUP = 30


def check_phrase_group(group: str) -> str:
    """A phrase's group name (「售后」): trimmed, one line, at most MAX_PHRASE_GROUP characters; empty: 未分组."""
    group = " ".join((group or "").replace("\x00", "").split())
    if len(group) > MAX_PHRASE_GROUP:
        raise ValidationError(_("分组名最长 %d 字") % MAX_PHRASE_GROUP)
    return group


def do_save_phrase(staff: Staff, *, shortcut: str, text: str, seat: Seat | None = None, group: str = "",
                   instance: QuickPhrase | None = None) -> QuickPhrase:
    _require_writer(staff, instance)
    shop = staff.shop
    shortcut, text = shortcut.strip(), text.strip()
    group = check_phrase_group(group)
    if not shortcut or len(shortcut) > 30:
        raise ValidationError(_("快捷键为空或超过 30 字"))
    if not text or len(text) > importer.MAX_CELL:
        raise ValidationError(_("内容为空或太长"))
    if seat is not None and seat.shop_id != shop.id:
        raise Http404
    obj = instance or QuickPhrase(shop=shop)
    obj.shortcut, obj.text, obj.seat, obj.group = shortcut, text, seat, group
    obj.initials = initials_of(shortcut) + " " + initials_of(text)
    obj.save()
    return obj


def search_phrases(staff: Staff, query: str, *, seat_id: int | None = None, limit: int = 10) -> list[QuickPhrase]:
    """`/fh` lookups: shortcut prefix, pinyin initials prefix, then text contains; shared + the seat's own."""
    query = query.strip().lstrip("/").lower()[:30]
    scope = Q(seat__isnull=True)
    if seat_id is not None:
        # A seat's own phrases are private to whoever operates it (and the shop's supervisors).
        if not staff.is_supervisor and not Seat.objects.filter(pk=seat_id, shop_id=staff.shop_id,
                                                               operator=staff).exists():
            raise PermissionDenied(_("只能查看你值守的客服账号的快捷短语"))
        scope |= Q(seat_id=seat_id)
    base = QuickPhrase.objects.filter(scope, shop_id=staff.shop_id)
    if not query:
        # by group, named groups first and 未分组 last (as the knowledge page lists them)
        ungrouped_last = Case(When(group="", then=Value(1)), default=Value(0))
        return list(base.order_by(ungrouped_last, "group", "shortcut")[:limit])
    hits = base.filter(Q(shortcut__istartswith=query) | Q(initials__startswith=query)
                       | Q(initials__contains=" " + query) | Q(text__contains=query))[: limit * 3]

    def rank(p: QuickPhrase) -> tuple:
        return (not p.shortcut.lower().startswith(query), not p.initials.startswith(query), p.seat_id is None,
                p.shortcut)

    return sorted(hits, key=rank)[:limit]


# --- import / export ------------------------------------------------------------------------------
@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[importer.RowError] = field(default_factory=list)
    imported: bool = False

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "skipped": self.skipped,
                "imported": self.imported,
                "errors": [{"row": e.row, "message": e.message, "text": str(e)} for e in self.errors]}


KINDS = ("answers", "phrases", "products")


def import_file(shop: Shop, kind: str, data: bytes, filename: str = "", *, skip_bad_rows: bool = False,
                progress: Progress | None = None) -> ImportResult:
    """All or nothing unless ``skip_bad_rows``; re-importing updates rows by id. Raises FileProblem for a
    file that cannot be read at all."""
    table = importer.read_table(data, filename)
    if kind == "answers":
        codes = set(Product.objects.filter(shop=shop).values_list("code", flat=True))
        parsed = importer.parse_answers(table, codes)
        writer = _write_answers
    elif kind == "phrases":
        names = set(Seat.objects.filter(shop=shop).values_list("name", flat=True))
        parsed = importer.parse_phrases(table, names)
        writer = _write_phrases
    elif kind == "products":
        parsed = importer.parse_products(table)
        known = set(Product.objects.filter(shop=shop).values_list("code", flat=True))
        good = []
        for row in parsed.rows:
            unknown = [c for c in row.pop("_unknown_links") if c not in known]
            if unknown:
                parsed.errors.append(importer.RowError(row["_row"], _("关联商品不存在：%s") % "、".join(unknown[:5])))
            else:
                good.append(row)
        parsed.rows = good
        parsed.errors.sort(key=lambda e: e.row)
        writer = _write_products
    else:
        raise ValueError(kind)
    result = ImportResult(errors=parsed.errors)
    if parsed.errors and not skip_bad_rows:
        return result
    result.skipped = len(parsed.errors)
    with transaction.atomic(savepoint=False):  # all or nothing, also when the caller opened none
        writer(shop, parsed.rows, result, progress or (lambda done, total: None))
        _knowledge_changed(shop.id)
    result.imported = True
    return result


def _write_answers(shop: Shop, rows: list[dict], result: ImportResult, progress: Progress) -> None:
    existing = {a.code: a for a in StandardAnswer.objects.filter(shop=shop)}
    products = dict(Product.objects.filter(shop=shop).values_list("code", "id"))
    fields = ["category", "question", "similar", "answer", "product_id", "enabled", "updated_at"]
    for start in range(0, len(rows), BATCH):
        new, changed = [], []
        for row in rows[start:start + BATCH]:
            obj = existing.get(row["code"]) or StandardAnswer(shop=shop, code=row["code"])
            obj.category, obj.question, obj.similar = row["category"], row["question"][:500], row["similar"]
            obj.answer, obj.enabled = row["answer"], row["enabled"]
            obj.product_id = products.get(row["product"]) if row["product"] else None
            obj.updated_at = timezone.now()
            (changed if obj.pk else new).append(obj)
        StandardAnswer.objects.bulk_create(new)
        StandardAnswer.objects.bulk_update(changed, fields)
        result.created += len(new)
        result.updated += len(changed)
        progress(min(start + BATCH, len(rows)), len(rows))


def _write_phrases(shop: Shop, rows: list[dict], result: ImportResult, progress: Progress) -> None:
    seats = dict(Seat.objects.filter(shop=shop).values_list("name", "id"))
    existing = {(p.seat_id, p.shortcut): p for p in QuickPhrase.objects.filter(shop=shop)}
    for start in range(0, len(rows), BATCH):
        new, changed = [], []
        for row in rows[start:start + BATCH]:
            seat_id = seats.get(row["seat"]) if row["seat"] else None
            obj = existing.get((seat_id, row["shortcut"])) or QuickPhrase(shop=shop, seat_id=seat_id,
                                                                          shortcut=row["shortcut"])
            obj.text, obj.group = row["text"], row["group"]
            obj.initials = initials_of(row["shortcut"]) + " " + initials_of(row["text"])
            obj.updated_at = timezone.now()
            (changed if obj.pk else new).append(obj)
        QuickPhrase.objects.bulk_create(new)
        QuickPhrase.objects.bulk_update(changed, ["text", "group", "initials", "updated_at"])
        result.created += len(new)
        result.updated += len(changed)
        progress(min(start + BATCH, len(rows)), len(rows))


_PRODUCT_FIELDS = ["title", "category", "price", "stock", "material", "size_chart", "usage", "precautions", "care",
                   "suits", "not_suits", "images", "published"]


def _write_products(shop: Shop, rows: list[dict], result: ImportResult, progress: Progress) -> None:
    existing = {p.code: p for p in Product.objects.filter(shop=shop)}
    newly_published = []
    for start in range(0, len(rows), BATCH):
        new, changed = [], []
        for row in rows[start:start + BATCH]:
            obj = existing.get(row["code"]) or Product(shop=shop, code=row["code"])
            if row["published"] and not obj.published:
                newly_published.append(obj)
                obj.published_at = timezone.now()
            for key in _PRODUCT_FIELDS:
                setattr(obj, key, row[key])
            obj.updated_at = timezone.now()
            (changed if obj.pk else new).append(obj)
        Product.objects.bulk_create(new)
        Product.objects.bulk_update(changed, [*_PRODUCT_FIELDS, "published_at", "updated_at"])
        for obj in new:
            existing[obj.code] = obj
        result.created += len(new)
        result.updated += len(changed)
        progress(min(start + BATCH, len(rows)), len(rows))
    ids = dict(Product.objects.filter(shop=shop).values_list("code", "pk"))
    through_related, through_upsell = Product.related.through, Product.upsell.through
    touched = [ids[row["code"]] for row in rows]
    through_related.objects.filter(from_product_id__in=touched).delete()
    through_upsell.objects.filter(from_product_id__in=touched).delete()
    for through, key in ((through_related, "related"), (through_upsell, "upsell")):
        through.objects.bulk_create([through(from_product_id=ids[row["code"]], to_product_id=ids[c])
                                     for row in rows for c in dict.fromkeys(row[key]) if c != row["code"]])
    _write_skus(ids, [row for row in rows if row.get("skus") is not None])
    if len(newly_published) <= 20:  # a bulk catalogue load is not a launch: no flood of broadcasts
        for product in newly_published:
            _create_notice(shop.id, product=product, by=None, title=_("新品上架：%s") % product.title,
                           body=_product_card_text(product))


def _write_skus(ids: dict[str, int], rows: list[dict]) -> None:
    """A product row with a skus cell replaces that product's SKUs (kept by code: same code, same row)."""
    if not rows:
        return
    product_ids = [ids[row["code"]] for row in rows]
    existing = {(s.product_id, s.code): s for s in Sku.objects.filter(product_id__in=product_ids)}
    keep, new, changed = set(), [], []
    for row in rows:
        pid = ids[row["code"]]
        for item in row["skus"]:
            sku = existing.get((pid, item["code"])) or Sku(product_id=pid, code=item["code"])
            sku.attrs, sku.price, sku.stock = item["attrs"], item["price"], item["stock"]
            (changed if sku.pk else new).append(sku)
            keep.add((pid, item["code"]))
    stale = [s.pk for key, s in existing.items() if key not in keep]
    Sku.objects.filter(pk__in=stale).delete()
    Sku.objects.bulk_create(new)
    Sku.objects.bulk_update(changed, ["attrs", "price", "stock"])


def export_rows(shop: Shop, kind: str) -> tuple[list[str], list[list]]:
    if kind == "answers":
        header = ["id", "category", "question", "similar", "answer", "product", "enabled"]
        # the category by its Chinese name (the import reads names and codes alike)
        rows = [[a.code, a.get_category_display(), a.question, "|".join(a.similar), a.answer,
                 a.product.code if a.product else "", "1" if a.enabled else "0"]
                for a in StandardAnswer.objects.filter(shop=shop).select_related("product")]
    elif kind == "phrases":
        header = ["shortcut", "text", "seat", "group"]
        rows = [[p.shortcut, p.text, p.seat.name if p.seat else "", p.group]
                for p in QuickPhrase.objects.filter(shop=shop).select_related("seat")]
    elif kind == "products":
        import json

        header = ["id", "title", "category", "price", "stock", "material", "size_chart", "usage", "precautions",
                  "care", "suits", "not_suits", "images", "related", "upsell", "published", "skus"]
        rows = []
        for p in Product.objects.filter(shop=shop).prefetch_related("related", "upsell", "skus"):
            rows.append([p.code, p.title, p.category, "" if p.price is None else str(p.price), str(p.stock),
                         p.material, json.dumps(p.size_chart, ensure_ascii=False) if p.size_chart else "",
                         p.usage, p.precautions, p.care, p.suits, p.not_suits, "|".join(p.images),
                         "|".join(r.code for r in p.related.all()), "|".join(r.code for r in p.upsell.all()),
                         "1" if p.published else "0", importer.format_skus(p.skus.all())])
    else:
        raise ValueError(kind)
    return header, rows


def export_file(shop: Shop, kind: str, fmt: str = "csv") -> tuple[bytes, str, str]:
    """(content, content type, file name). CSV is UTF-8 with a BOM so Excel opens it right."""
    header, rows = export_rows(shop, kind)
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(kind)
        sheet.append(header)
        for row in rows:
            sheet.append([csv_safe(v) for v in row])
        buf = io.BytesIO()
        book.save(buf)
        return (buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                f"{kind}.xlsx")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows([[csv_safe(v) for v in row] for row in rows])
    return ("\ufeff" + buf.getvalue()).encode("utf-8"), "text/csv; charset=utf-8", f"{kind}.csv"

