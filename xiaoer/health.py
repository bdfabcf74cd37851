from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """Database and real-time hub reachable → 200, else 503 with what failed."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {exc.__class__.__name__}"
    from xiaoer.chat.hub import hub_health

    checks["hub"] = hub_health()
    ok = all(v == "ok" for v in checks.values())
    # Detail only: a failing or lagging listener is reported (docs/events.md) but does not take
    # the server out of a load balancer — it serves fine, a projection is behind.
    detail: dict = {}
    if checks["database"] == "ok":
        try:
            from xiaoer.events.delivery import health as events_health

            detail["events"] = events_health()
        except Exception as exc:  # noqa: BLE001 - a detail must never fail the probe
            detail["events"] = {"status": f"error: {exc.__class__.__name__}"}
    return JsonResponse({"status": "ok" if ok else "error", **checks, **detail}, status=200 if ok else 503)
