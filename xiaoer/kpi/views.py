"""KPI pages: the report with charts, the drill-down behind a number, CSV/xlsx export.
Thin: parse, call report.*, render (docs/kpis.md; decision 163 for who sees what)."""

from __future__ import annotations

import csv
import functools
import io

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Role, Seat, Staff
from xiaoer.importing import csv_safe
from xiaoer.kpi import report

ALLOWED = (Role.OWNER, Role.SUPERVISOR, Role.AGENT)


def _staff(request: HttpRequest) -> Staff:
    staff = account_services.staff_of(request)
    account_services.require_role(staff, ALLOWED)
    return staff


def bad_input(view):
    """A period or figure the report refuses is a 400 with its reason, not an error page."""
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ValidationError as exc:
            return HttpResponseBadRequest("; ".join(exc.messages), content_type="text/plain; charset=utf-8")
    return wrapped


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _period(request: HttpRequest, staff: Staff):
    today = timezone.localtime(timezone.now(), timezone=report_tz(staff)).date()
    return report.period(request.GET.get("p"), request.GET.get("from"), request.GET.get("to"), today)


def report_tz(staff: Staff):
    from zoneinfo import ZoneInfo

    return ZoneInfo(staff.shop.timezone)


@login_required
@require_GET
@bad_input
def kpi_page(request: HttpRequest) -> HttpResponse:
    staff = _staff(request)
    start, end, preset = _period(request, staff)
    own = staff.pk if staff.role == Role.AGENT else None
    by_seat = report.report_for(staff, start, end, by="seat") if own is None else None
    by_staff = report.report_for(staff, start, end, by="staff")
    by_day = report.report_for(staff, start, end, by="day")
    totals = by_seat["shop"] if by_seat else (by_staff["rows"][0] if by_staff["rows"] else None)
    charts = {
        "days": [r["day"] for r in by_day["rows"]],
        "inquiries": [r["inquiries"] for r in by_day["rows"]],
        "ordered": [r["ordered"] for r in by_day["rows"]],
        "paid": [r["paid"] for r in by_day["rows"]],
        "conversion": [r["payment_conversion"] for r in by_day["rows"]],
        "funnel": [totals["inquiries"], totals["ordered"], totals["paid"]] if totals else [0, 0, 0],
        "distribution": report.distribution(staff.shop, start, end, staff_id=own),
    }
    for row in [*(by_seat["rows"] if by_seat else []), *by_staff["rows"]]:
        row["id"] = row.get("seat_id", row.get("staff_id"))
    query = f"from={start.isoformat()}&to={end.isoformat()}"
    return render(request, "kpi/page.html", {
        "staff": staff, "start": start, "end": end, "preset": preset, "query": query, "own": own is not None,
        "seat_rows": by_seat["rows"] if by_seat else [], "staff_rows": by_staff["rows"], "totals": totals,
        "shop": by_seat["shop"] if by_seat else None, "charts": charts,
    })


@login_required
@require_GET
@bad_input
def kpi_drill(request: HttpRequest) -> HttpResponse:
    staff = _staff(request)
    start, end, _preset = _period(request, staff)
    seat = _int(request.GET.get("seat"))
    person = _int(request.GET.get("staff"))
    if seat is not None and not Seat.objects.filter(shop=staff.shop, pk=seat).exists():
        raise PermissionDenied(_("没有这个席位"))
    found = report.drill(staff, request.GET.get("figure", ""), start, end, seat=seat, person=person)
    return render(request, "kpi/drill.html", {"staff": staff, "start": start, "end": end, **found,
                                              "figure": request.GET.get("figure", "")[:20]})


@login_required
@require_GET
@bad_input
def kpi_export(request: HttpRequest) -> HttpResponse:
    staff = _staff(request)
    start, end, _preset = _period(request, staff)
    by = request.GET.get("by", "seat")
    if by not in report.BY:
        by = "seat"
    table = report.export_rows(report.report_for(staff, start, end, by=by), by)
    name = f"kpi-{by}-{start.isoformat()}-{end.isoformat()}"
    if request.GET.get("format") == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "客服绩效"
        for row in table:
            sheet.append([csv_safe(v) if isinstance(v, str) else v for v in row])
        out = io.BytesIO()
        book.save(out)
        response = HttpResponse(out.getvalue(), content_type="application/vnd.openxmlformats-officedocument."
                                                              "spreadsheetml.sheet")
        response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
        return response
    text = io.StringIO()
    writer = csv.writer(text)
    for row in table:
        writer.writerow(["" if v is None else csv_safe(v) for v in row])
    response = HttpResponse("\ufeff" + text.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response
