"""Pages: the customers list with segments and exports, the customer page, tags, custom
attributes, levels and the workbench side-panel summary (docs/customers-pages.md). Thin: parse,
call a service inside the edge's transaction, render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xiaoer.accounts import services as account_services
from xiaoer.chat import services as chat_services
from xiaoer.crm import listing, timeline
from xiaoer.crm import services as crm_services
from xiaoer.crm.models import CustomerValue, LevelBasis
from xiaoer.customers import services as customer_services
from xiaoer.customers.models import AttributeKind, ContactKind, Gender

CHAT, SUPERVISORS = account_services.CHAT_ROLES, account_services.SUPERVISOR_ROLES
PANEL_TITLE = gettext_noop("顾客画像")  # its entry in settings.XIAOER_SIDE_PANELS, for the catalogue


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# --- the customers list --------------------------------------------------------------------------

@login_required
@require_GET
def customers_page(request: HttpRequest) -> HttpResponse:
    staff = account_services.staff_of(request, CHAT)
    error, segment = "", None
    if request.GET.get("segment"):
        segment = listing.access_segment(staff, request.GET["segment"])
        raw = {**segment.filters, **({"sort": request.GET["sort"]} if request.GET.get("sort") else {})}
    else:
        raw = request.GET
    try:
        filters = listing.check_filters(staff.shop, raw)
    except ValidationError as exc:
        error, filters = _errors(exc), {}
    try:
        page_no = int(request.GET.get("page") or 1)
    except ValueError:
        page_no = 1
    page = listing.page_of(staff.shop, filters, page_no)
    base = ({"segment": segment.pk, **({"sort": filters["sort"]} if "sort" in filters else {})} if segment
            else dict(filters))
    return render(request, "crm/customers.html", {"tab": "customers",
        "staff": staff, "filters": filters, "page": page, "error": error, "segment": segment,
        "segments": listing.segments_of(staff.shop_id), "tags": customer_services.tags_of_shop(staff.shop_id),
        "attributes": customer_services.attributes_of_shop(staff.shop_id), "sorts": listing.SORTS,
        "rfm_segments": listing.RFM_SEGMENTS, "may_export": staff.role in SUPERVISORS,
        "levels": crm_services.levels_of(staff),
        "prev_query": urlencode({**base, "page": page["page"] - 1}),
        "next_query": urlencode({**base, "page": page["page"] + 1}),
        "filter_items": sorted(filters.items()),
        "logs": listing.export_logs(staff, 10) if staff.role in SUPERVISORS else [],
    }, status=400 if error else 200)


@login_required
@require_POST
def segment_save(request: HttpRequest) -> HttpResponse:
    staff = account_services.staff_of(request, SUPERVISORS)
    try:
        with transaction.atomic():
            segment = listing.do_save_segment(staff, request.POST.get("name", ""), request.POST)
    except ValidationError as exc:
        return HttpResponse(_errors(exc), status=400)
    return redirect(reverse("crm-customers") + f"?segment={segment.pk}")


@login_required
@require_POST
def segment_delete(request: HttpRequest, segment_id: int) -> HttpResponse:
    staff = account_services.staff_of(request, SUPERVISORS)
    with transaction.atomic():
        listing.do_delete_segment(staff, listing.access_segment(staff, segment_id))
    return redirect("crm-customers")


def _download(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_POST
def export_filter(request: HttpRequest) -> HttpResponse:
    """Export what the current filter selects (POST: an export writes a log row)."""
    staff = account_services.staff_of(request, SUPERVISORS)
    try:
        with transaction.atomic():
            return _download(*listing.do_export(staff, request.POST, request.POST.get("format", "csv")))
    except ValidationError as exc:
        return HttpResponse(_errors(exc), status=400)


@login_required
@require_POST
def export_segment(request: HttpRequest, segment_id: int) -> HttpResponse:
    staff = account_services.staff_of(request, SUPERVISORS)
    segment = listing.access_segment(staff, segment_id)
    try:
        with transaction.atomic():
            return _download(*listing.do_export(staff, segment.filters, request.POST.get("format", "csv"),
                                                segment=segment))
    except ValidationError as exc:
        return HttpResponse(_errors(exc), status=400)


# --- one customer --------------------------------------------------------------------------------

def _value_of(customer) -> CustomerValue | None:
    return CustomerValue.objects.filter(customer=customer, shop_id=customer.shop_id).first()


def _run_customer_action(staff, customer, post) -> None:
    action = post.get("action", "")
    if action == "profile":
        fields = ("name", "city", "qq", "wechat", "gender", "birth_date", "birthday_month", "birthday_day", "age_band")
        data = {f: post.get(f, "") for f in fields}
        data["birthday_lunar"] = post.get("birthday_lunar") == "on"
        customer_services.do_edit_profile(staff, customer, data)
    elif action == "add_contact":
        customer_services.do_add_contact(
            staff, customer, post.get("kind", ""), post.get("value", ""), province=post.get("province", ""),
            city=post.get("city", ""), district=post.get("district", ""), make_default=post.get("default") == "on")
    elif action in ("default_contact", "remove_contact"):
        contact = customer_services.access_contact(staff, customer, post.get("contact", ""))
        (customer_services.do_set_default_contact if action == "default_contact"
         else customer_services.do_remove_contact)(staff, contact)
    elif action == "attribute":
        attribute = customer_services.access_attribute(staff, post.get("attribute", ""))
        customer_services.do_set_attribute_value(staff, customer, attribute, post.get("value", ""))
    elif action in ("tag", "untag"):
        tag = customer_services.access_tag(staff, post.get("tag", ""))
        (customer_services.do_tag if action == "tag" else customer_services.do_untag)(staff, customer, tag)
    elif action == "note":
        customer_services.do_add_note(staff, customer, post.get("text", ""))
    else:
        raise ValidationError("未知操作")


@login_required
@require_http_methods(["GET", "POST"])
def customer_page(request: HttpRequest, customer_id: int) -> HttpResponse:
    staff = account_services.staff_of(request, CHAT)
    customer = customer_services.access_customer(staff, customer_id)
    error = ""
    if request.method == "POST":
        try:
            with transaction.atomic():
                _run_customer_action(staff, customer, request.POST)
            return redirect("crm-customer", customer_id=customer.pk)
        except ValidationError as exc:
            error = _errors(exc)
            customer.refresh_from_db()
    values = customer_services.attribute_values_of(customer)
    attributes = [{"attribute": a, "value": values.get(a.pk, "")}
                  for a in customer_services.attributes_of_shop(staff.shop_id)]
    return render(request, "crm/customer.html", {"tab": "customers",
        "staff": staff, "customer": customer, "value": _value_of(customer), "error": error,
        "contacts": customer_services.contacts_of(customer), "contact_kinds": ContactKind.choices,
        "tags": customer_services.tags_of(customer), "all_tags": customer_services.tags_of_shop(staff.shop_id),
        "attributes": attributes, "notes": customer_services.notes_for(customer, 20),
        "timeline": timeline.timeline(customer), "genders": Gender.choices,
        "age_bands": customer_services.AGE_BANDS,
    }, status=400 if error else 200)


# --- shop settings: tags, custom attributes, levels ----------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def tags_page(request: HttpRequest) -> HttpResponse:
    staff = account_services.staff_of(request, SUPERVISORS)
    error = ""
    if request.method == "POST":
        try:
            with transaction.atomic():
                customer_services.do_save_tag(staff, name=request.POST.get("name", ""),
                                              colour=request.POST.get("colour", "#1677ff"))
            return redirect("crm-tags")
        except ValidationError as exc:
            error = _errors(exc)
    return render(request, "crm/tags.html", {"tab": "tags", "staff": staff, "tags": customer_services.tags_of_shop(staff.shop_id),
                                              "error": error}, status=400 if error else 200)


@login_required
@require_POST
def tag_change(request: HttpRequest, tag_id: int) -> HttpResponse:
    staff = account_services.staff_of(request, SUPERVISORS)
    tag = customer_services.access_tag(staff, tag_id)
    try:
        with transaction.atomic():
            if request.POST.get("action") == "delete":
                customer_services.do_delete_tag(staff, tag)
            else:
                customer_services.do_save_tag(staff, name=request.POST.get("name", ""),
                                              colour=request.POST.get("colour", ""), tag=tag)
    except ValidationError as exc:
        return HttpResponse(_errors(exc), status=400)
    return redirect("crm-tags")


@login_required
@require_http_methods(["GET", "POST"])
def attributes_page(request: HttpRequest) -> HttpResponse:
    staff = account_services.staff_of(request, SUPERVISORS)
    error = ""
    if request.method == "POST":
        try:
            with transaction.atomic():
                customer_services.do_save_attribute(
                    staff, key=request.POST.get("key", ""), label=request.POST.get("label", ""),
                    kind=request.POST.get("kind", ""), choices=request.POST.get("choices", ""))
            return redirect("crm-attributes")
        except ValidationError as exc:
            error = _errors(exc)
    return render(request, "crm/attributes.html", {"tab": "attributes",
        "staff": staff, "attributes": customer_services.attributes_of_shop(staff.shop_id),
        "kinds": AttributeKind.choices, "error": error}, status=400 if error else 200)


@login_required
@require_POST
def attribute_change(request: HttpRequest, customattribute_id: int) -> HttpResponse:
    staff = account_services.staff_of(request, SUPERVISORS)
    attribute = customer_services.access_attribute(staff, customattribute_id)
    try:
        with transaction.atomic():
            if request.POST.get("action") == "delete":
                customer_services.do_delete_attribute(staff, attribute)
            else:
                customer_services.do_save_attribute(
                    staff, key=request.POST.get("key", ""), label=request.POST.get("label", ""),
                    kind=request.POST.get("kind", ""), choices=request.POST.get("choices", ""), attribute=attribute)
    except ValidationError as exc:
        return HttpResponse(_errors(exc), status=400)
    return redirect("crm-attributes")


@login_required
@require_http_methods(["GET", "POST"])
def levels_page(request: HttpRequest) -> HttpResponse:
    staff = account_services.staff_of(request, SUPERVISORS)
    error = ""
    if request.method == "POST":
        post = request.POST
        rows = [{"name": n, "basis": b, "threshold": t} for n, b, t in
                zip(post.getlist("name"), post.getlist("basis"), post.getlist("threshold"), strict=False)
                if n.strip() or t.strip()]  # blank rows of the form are no levels
        try:
            with transaction.atomic():
                crm_services.do_set_levels(staff, rows)
            return redirect("crm-levels")
        except ValidationError as exc:
            error = _errors(exc)
    rules = crm_services.levels_of(staff)
    blank_rows = range(min(max(1, 3 - len(rules)), crm_services.MAX_LEVELS - len(rules)))
    return render(request, "crm/levels.html", {"tab": "levels",
        "staff": staff, "rules": rules, "bases": LevelBasis.choices, "blank_rows": blank_rows,
        "error": error}, status=400 if error else 200)


# --- the workbench side panel --------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def profile_panel(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """顾客画像: level, RFM segment, tags (add/remove) and a link to the customer page."""
    staff = account_services.staff_of(request, CHAT)
    conversation = chat_services.access_conversation(staff, conversation_id)
    customer = conversation.customer
    error = ""
    if request.method == "POST":
        try:
            with transaction.atomic():
                tag = customer_services.access_tag(staff, request.POST.get("tag", ""))
                if request.POST.get("action") == "untag":
                    customer_services.do_untag(staff, customer, tag)
                else:
                    customer_services.do_tag(staff, customer, tag)
        except ValidationError as exc:
            error = _errors(exc)
    value = _value_of(customer)
    level_names = {rule.level: rule.name for rule in crm_services.levels_of(staff)}
    return render(request, "crm/panel.html", {
        "staff": staff, "conversation": conversation, "customer": customer, "value": value,
        "level_name": level_names.get(value.level, "") if value else "", "tags": customer_services.tags_of(customer),
        "all_tags": customer_services.tags_of_shop(staff.shop_id), "error": error})
