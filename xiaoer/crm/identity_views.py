"""Pages for importing customer lists, merging two customers and anonymising one
(docs/customers-import.md). Thin: parse, call one service, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Staff
from xiaoer.crm import identity
from xiaoer.customers import importer
from xiaoer.customers.models import Customer

MAX_UPLOAD = 20 * 1024 * 1024
ANONYMISE_WORD = "匿名"  # typed by the owner to confirm


def customer_card(staff: Staff, customer: Customer) -> dict:
    """What the confirmation pages show of a customer: phones masked for roles that don't see them."""
    return {
        "pk": customer.pk, "name": customer.display_name, "buyer_id": customer.buyer_id or "",
        "visitor_id": (customer.visitor_id or "")[:8], "phone": account_services.phone_for(staff, customer.phone),
        "city": customer.city, "merged_into_id": customer.merged_into_id, "anonymised_at": customer.anonymised_at,
        "conversations": customer.conversations.count(), "orders": customer.orders.count(),
        "notes": customer.notes.count(), "tags": customer.tag_links.count(), "contacts": customer.contacts.count(),
    }


@login_required
def import_page(request: HttpRequest) -> HttpResponse:
    staff = account_services.staff_of(request, account_services.SUPERVISOR_ROLES)
    error, report = None, None
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("请选择文件")
        elif upload.size > MAX_UPLOAD:
            error = _("文件太大（上限 20 MB）")
        else:
            try:
                with transaction.atomic():
                    report = importer.import_file(staff.shop, upload.read()).as_dict()
            except importer.ImportFileError as exc:
                error = str(exc)
    return render(request, "crm/import.html", {"staff": staff, "error": error, "report": report,
                                               "errors_shown": (report or {}).get("errors", [])[:500]})


@login_required
def merge_page(request: HttpRequest, customer_id: int) -> HttpResponse:
    staff = account_services.staff_of(request, identity.MERGE_ROLES)
    kept = identity.access_customer_for(staff, customer_id, identity.MERGE_ROLES)
    key = (request.POST.get("other") or request.GET.get("other") or "").strip()[:100]
    other, error, result = None, None, None
    if key:
        try:
            other = identity.find_customer(staff, key)
        except ValidationError as exc:
            error = "；".join(exc.messages)
    if request.method == "POST" and other is not None and request.POST.get("confirm") == "1":
        try:
            with transaction.atomic():
                result = identity.do_merge_customers(staff, kept, other)
            kept.refresh_from_db()
        except ValidationError as exc:
            error = "；".join(exc.messages)
    elif request.method == "POST" and not key:
        error = _("请填写要合并进来的客户")
    return render(request, "crm/merge.html", {
        "staff": staff, "key": key, "error": error, "result": result,
        "kept": customer_card(staff, kept), "other": customer_card(staff, other) if other else None,
    })


@login_required
def anonymise_page(request: HttpRequest, customer_id: int) -> HttpResponse:
    staff = account_services.staff_of(request, identity.ANONYMISE_ROLES)
    customer = identity.access_customer_for(staff, customer_id, identity.ANONYMISE_ROLES)
    error, done = None, False
    if request.method == "POST":
        if request.POST.get("confirm", "").strip() != ANONYMISE_WORD:
            error = _("请在框里输入“%s”确认") % ANONYMISE_WORD
        else:
            try:
                with transaction.atomic():
                    customer = identity.do_anonymise_customer(staff, customer)
                done = True
            except ValidationError as exc:
                error = "；".join(exc.messages)
    return render(request, "crm/anonymise.html", {"staff": staff, "error": error, "done": done,
                                                  "word": ANONYMISE_WORD, "customer": customer_card(staff, customer)})
