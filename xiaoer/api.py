"""The JSON API root (django-ninja). Each app adds its router here; schema at /api/docs."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DataError
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.security import django_auth

api = NinjaAPI(title="xiaoer API", version="1", auth=django_auth, urls_namespace="api")


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    return api.create_response(request, {"detail": exc.messages}, status=400)


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc: PermissionDenied):
    return api.create_response(request, {"detail": str(exc) or "forbidden"}, status=403)


@api.exception_handler(Http404)
def _not_found(request, exc: Http404):
    return api.create_response(request, {"detail": "not found"}, status=404)


@api.exception_handler(OverflowError)
def _out_of_range(request, exc: OverflowError):
    # A number too large for the database (an id or offset of 30 digits): bad input, not a fault.
    return api.create_response(request, {"detail": _("数字超出范围")}, status=400)


@api.exception_handler(DataError)
def _bad_data(request, exc: DataError):
    return api.create_response(request, {"detail": _("数字超出范围")}, status=400)


def _add_routers() -> None:
    """Each app with an API has a ``router`` in its api.py, mounted at /api/<app>/."""
    import importlib

    for app in ("accounts", "chat", "knowledge", "assistant", "orders", "crm", "drafting", "aftersales"):
        api.add_router(f"/{app}/", importlib.import_module(f"xiaoer.{app}.api").router)
    # crm's areas have their own routers on crm's prefix
    for module in ("hints_api", "care_api"):
        api.add_router("/crm/", importlib.import_module(f"xiaoer.crm.{module}").router)
    # aftersales' reviews and revisit campaigns (h10) on aftersales' prefix
    for module in ("reviews_api", "campaigns_api"):
        api.add_router("/aftersales/", importlib.import_module(f"xiaoer.aftersales.{module}").router)


_add_routers()
