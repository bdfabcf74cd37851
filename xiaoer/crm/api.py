"""crm's JSON API, mounted at /api/crm/ (xiaoer/api.py). One ``router`` for the app: the
operations of coupons, questionnaires and birthday care are declared on it in care_api.py;
other areas add theirs to the same router."""

from __future__ import annotations

from xiaoer.crm.care_api import router

__all__ = ["router"]
