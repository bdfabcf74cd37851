"""crm's JSON API root router, mounted at /api/crm/ (xiaoer/api.py). Coupons, questionnaires and
birthday care have their own router (care_api.py), mounted on the same prefix."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["crm"])
