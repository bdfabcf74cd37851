"""Knowledge pages under /desk/knowledge (Chinese first). Everyone who chats can read; supervisors
and owners write. Thin: parse, call one service, render."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Seat
from xiaoer.knowledge import services, tasks
from xiaoer.knowledge.models import (
    Category,
    ImportJob,
    Product,
    QuickPhrase,
    Sku,
    StandardAnswer,
)

MAX_UPLOAD = 20 * 1024 * 1024


def _ctx(staff, **extra) -> dict:
    return {"staff": staff, "can_write": staff.is_supervisor, "categories": Category.choices, **extra}


@login_required
def answers(request):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    qs = StandardAnswer.objects.filter(shop_id=staff.shop_id).select_related("product")
    q = request.GET.get("q", "").strip()[:100]
    category = request.GET.get("category", "")
    if q:
        qs = qs.filter(Q(code__icontains=q) | Q(question__icontains=q) | Q(answer__icontains=q))
    if category in Category.values:
        qs = qs.filter(category=category)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "knowledge/answers.html", _ctx(staff, page=page, q=q, category=category, tab="answers"))


@login_required
def answer_edit(request, answer_id: int | None = None):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    instance = services.access_answer(staff, answer_id) if answer_id else None
    error = None
    if request.method == "POST":
        staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
        form = request.POST
        try:
            with transaction.atomic():
                instance = services.do_save_answer(
                    staff, code=form.get("code", ""), category=form.get("category", ""),
                    question=form.get("question", ""), answer=form.get("answer", ""),
                    similar=[s.strip() for s in form.get("similar", "").splitlines() if s.strip()],
                    product_code=form.get("product", ""), enabled=form.get("enabled") == "on", instance=instance)
            return redirect("knowledge-answers")
        except ValidationError as exc:
            error = "；".join(exc.messages)
    return render(request, "knowledge/answer_edit.html",
                  _ctx(staff, obj=instance, error=error, form=request.POST if error else None, tab="answers"))


@login_required
@require_POST
def answer_delete(request, answer_id: int):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    with transaction.atomic():
        services.do_delete_answer(staff, services.access_answer(staff, answer_id))
    return redirect("knowledge-answers")


@login_required
@require_POST
def answer_must_read(request, answer_id: int):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    with transaction.atomic():
        services.do_set_must_read(staff, services.access_answer(staff, answer_id))
    return redirect("knowledge-notices")


@login_required
def products(request):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    qs = Product.objects.filter(shop_id=staff.shop_id)
    q = request.GET.get("q", "").strip()[:100]
    if q:
        qs = qs.filter(Q(code__icontains=q) | Q(title__icontains=q))
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "knowledge/products.html", _ctx(staff, page=page, q=q, tab="products"))


_PRODUCT_TEXT = ["title", "category", "material", "usage", "precautions", "care", "suits", "not_suits"]
_PRODUCT_FORM = ["code", *_PRODUCT_TEXT, "price", "stock", "size_chart", "related", "upsell"]


@login_required
def product_edit(request, product_id: int | None = None):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    instance = services.access_product(staff, product_id) if product_id else None
    if request.method != "POST":
        return _product_page(request, staff, instance)
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    form = request.POST
    fields = {key: form.get(key, "")[:5000] for key in _PRODUCT_TEXT}
    for key in ("code", "size_chart", "price", "stock"):  # price and stock are checked by the service
        fields[key] = form.get(key, "")
    fields["related"] = [c.strip() for c in form.get("related", "").split("|") if c.strip()]
    fields["upsell"] = [c.strip() for c in form.get("upsell", "").split("|") if c.strip()]
    try:
        with transaction.atomic():
            services.do_save_product(staff, instance=instance, **fields)
        return redirect("knowledge-products")
    except ValidationError as exc:
        error = "；".join(exc.messages)
    # the form again with what was typed (INSTANCE is unchanged: a refused save assigns nothing)
    return _product_page(request, staff, instance, error=error,
                         product_form={key: form.get(key, "") for key in _PRODUCT_FORM})


def _product_form(product: Product | None) -> dict:
    """The product form's values as stored (a new product: empty, stock 0)."""
    if product is None:
        return {**dict.fromkeys(_PRODUCT_FORM, ""), "stock": "0"}
    return {**{key: getattr(product, key) for key in ["code", *_PRODUCT_TEXT]},
            "price": "" if product.price is None else str(product.price), "stock": str(product.stock),
            "size_chart": json.dumps(product.size_chart, ensure_ascii=False) if product.size_chart else "",
            "related": "|".join(product.related.values_list("code", flat=True)),
            "upsell": "|".join(product.upsell.values_list("code", flat=True))}


def _product_page(request, staff, instance: Product | None, *, error: str | None = None,
                  product_form: dict | None = None, editing: Sku | None = None, sku_form: dict | None = None,
                  sku_error: str | None = None):
    skus = list(instance.skus.order_by("pk")) if instance else []  # pk: the order they were added/imported
    return render(request, "knowledge/product_edit.html",
                  _ctx(staff, obj=instance, error=error, tab="products",
                       form=product_form if product_form is not None else _product_form(instance),
                       skus=skus, editing=editing, sku_error=sku_error,
                       sku_form=sku_form if sku_form is not None else _sku_form(editing)))


_SKU_FIELDS = ["code", "attrs", "price", "stock"]


def _sku_form(sku: Sku | None) -> dict:
    if sku is None:
        return dict.fromkeys(_SKU_FIELDS, "")
    return {"code": sku.code, "attrs": services.sku_attrs_text(sku.attrs),
            "price": "" if sku.price is None else str(sku.price), "stock": str(sku.stock)}


@login_required
def sku_edit(request, product_id: int, sku_id: int | None = None):
    """GET: the product page with this SKU in the SKU form; POST: add (no sku_id) or save it."""
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES if request.method == "POST"
                                      else account_services.CHAT_ROLES)
    product = services.access_product(staff, product_id)
    sku = services.access_sku(staff, product, sku_id) if sku_id else None
    if request.method != "POST":
        return _product_page(request, staff, product, editing=sku)
    form = {key: request.POST.get(key, "")[:2000] for key in _SKU_FIELDS}
    try:
        with transaction.atomic():
            services.do_save_sku(staff, product, sku=sku, **form)
    except ValidationError as exc:
        return _product_page(request, staff, product, editing=sku, sku_form=form, sku_error="；".join(exc.messages))
    return _to_skus(product)


@login_required
@require_POST
def sku_delete(request, product_id: int, sku_id: int):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    product = services.access_product(staff, product_id)
    with transaction.atomic():
        services.do_delete_sku(staff, services.access_sku(staff, product, sku_id))
    return _to_skus(product)


def _to_skus(product: Product):
    return redirect(reverse("knowledge-product", args=[product.id]) + "#skus")


@login_required
@require_POST
def product_publish(request, product_id: int):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    with transaction.atomic():
        services.do_publish_product(staff, services.access_product(staff, product_id))
    return redirect("knowledge-notices")


@login_required
@require_POST
def product_must_read(request, product_id: int):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    with transaction.atomic():
        services.do_set_must_read(staff, services.access_product(staff, product_id))
    return redirect("knowledge-notices")


@login_required
def phrases(request):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    error = None
    if request.method == "POST":
        staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
        seat_field = request.POST.get("seat", "").strip()
        try:
            if seat_field and not (seat_field.isascii() and seat_field.isdigit() and len(seat_field) < 19):
                raise ValidationError(_("客服账号“%s”不存在") % seat_field[:50])
            seat = account_services.access_seat(staff, int(seat_field)) if seat_field else None
            services.do_save_phrase(staff, shortcut=request.POST.get("shortcut", ""),
                                    text=request.POST.get("text", ""), seat=seat,
                                    group=request.POST.get("group", ""))
            return redirect("knowledge-phrases")
        except ValidationError as exc:
            error = "；".join(exc.messages)
    # by group, named groups first and 未分组 last
    rows = sorted(QuickPhrase.objects.filter(shop_id=staff.shop_id).select_related("seat"),
                  key=lambda p: (p.group == "", p.group, p.shortcut))
    seats = Seat.objects.filter(shop_id=staff.shop_id, is_active=True)
    groups = sorted({p.group for p in rows if p.group})
    return render(request, "knowledge/phrases.html", _ctx(staff, rows=rows, seats=seats, groups=groups, error=error,
                                                          tab="phrases"))


@login_required
def import_page(request):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    error = None
    if request.method == "POST":
        upload = request.FILES.get("file")
        kind = request.POST.get("kind", "")
        if upload is None or kind not in services.KINDS:
            error = "请选择文件和导入类型"
        elif upload.size > MAX_UPLOAD:
            error = "文件太大（上限 20 MB）"
        else:
            with transaction.atomic():
                job = ImportJob.objects.create(shop_id=staff.shop_id, kind=kind, filename=upload.name[:200],
                                               content=upload.read(), created_by=staff,
                                               skip_bad_rows=request.POST.get("skip_bad_rows") == "on")
                transaction.on_commit(lambda: tasks.run_import_job(job.id))
            return redirect("knowledge-import-job", job_id=job.id)
    return render(request, "knowledge/import.html", _ctx(staff, error=error, tab="import"))


@login_required
def import_job(request, job_id: int):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    job = ImportJob.objects.filter(pk=job_id, shop_id=staff.shop_id).first()
    if job is None:
        raise PermissionDenied
    done, total = cache.get(tasks.progress_key(job.id)) or (0, 0)
    percent = int(100 * done / total) if total else (100 if job.status in ("done", "failed") else 0)
    template = "knowledge/_import_progress.html" if request.htmx else "knowledge/import_job.html"
    return render(request, template, _ctx(staff, job=job, done=done, total=total, percent=percent, tab="import"))


@login_required
def export(request):
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    kind = request.GET.get("kind", "answers")
    fmt = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    if kind not in services.KINDS:
        kind = "answers"
    content, content_type, filename = services.export_file(staff.shop, kind, fmt)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def notices(request):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    rows = [{**row, "title": services.notice_text(row["notice"].title), "body": services.notice_text(row["notice"].body)}
            for row in services.notices_with_reads(staff)]
    return render(request, "knowledge/notices.html", _ctx(staff, rows=rows, tab="notices"))


@login_required
@require_POST
def notice_ack(request, notice_id: int):
    staff = account_services.staff_of(request, account_services.CHAT_ROLES)
    services.do_ack_notice(staff, notice_id)
    if request.htmx:
        return HttpResponse("已读 ✓")
    return redirect("knowledge-notices")
