"""Staff login with throttling, and logout.

Throttling counts failures per username + address inside LOGIN_LOCKOUT_SECONDS; once
LOGIN_MAX_FAILURES is reached the password is not even checked until the window passes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from xiaoer.accounts.models import LoginFailure


def client_address(request: HttpRequest) -> str:
    """The connecting address. X-Forwarded-For is applied by the server (uvicorn) only for the
    proxies in TRUSTED_PROXIES; a client cannot rotate it to escape the lock-out."""
    return (request.META.get("REMOTE_ADDR") or "unknown")[:64]


def recent_failures(username: str, address: str) -> int:
    since = timezone.now() - timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    return LoginFailure.objects.filter(username=username, address=address, at__gte=since).count()


def is_locked_out(username: str, address: str) -> bool:
    return recent_failures(username, address) >= settings.LOGIN_MAX_FAILURES


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or settings.LOGIN_REDIRECT_URL
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = settings.LOGIN_REDIRECT_URL
    error = ""
    username = ""
    status = 200
    if request.method == "POST":
        username = (request.POST.get("username") or "").strip()[:150]
        password = request.POST.get("password") or ""
        address = client_address(request)
        if is_locked_out(username, address):
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            error = _("登录失败次数过多，请 %(minutes)s 分钟后再试。") % {"minutes": minutes}
            status = 429
        else:
            user = authenticate(request, username=username, password=password)
            if user is not None and getattr(user, "is_active", False):
                LoginFailure.objects.filter(username=username, address=address).delete()
                login(request, user)
                return redirect(next_url)
            LoginFailure.objects.create(username=username, address=address)
            error = _("用户名或密码不正确。")
            status = 401
    return render(request, "accounts/login.html", {"error": error, "username": username, "next": next_url},
                  status=status)


def throttled_login(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The same lock-out for another login form (the admin's): a POST from a locked-out user name
    and address is refused with 429 before the password is checked; a POST that does not log in
    (no redirect) counts as a failure."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        username = (request.POST.get("username") or "").strip()[:150]
        address = client_address(request)
        if is_locked_out(username, address):
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            return HttpResponse(_("登录失败次数过多，请 %(minutes)s 分钟后再试。") % {"minutes": minutes},
                                status=429, content_type="text/plain; charset=utf-8")
        response = view(request, *args, **kwargs)
        if response.status_code in (301, 302, 303):
            LoginFailure.objects.filter(username=username, address=address).delete()
        else:
            LoginFailure.objects.create(username=username, address=address)
        return response

    return wrapper


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect(settings.LOGIN_URL)
