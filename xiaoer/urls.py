from django.contrib import admin
from django.contrib.staticfiles.views import serve as staticfiles_serve
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views.decorators.http import require_safe

from xiaoer.accounts.views import throttled_login
from xiaoer.api import api
from xiaoer.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/login/", throttled_login(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("xiaoer.chat.urls")),
]

urlpatterns += [path("", include(f"xiaoer.{app}.urls")) for app in ("knowledge", "assistant", "orders", "crm", "drafting", "kpi", "aftersales", "training")]


def static_file(request: HttpRequest, path: str) -> HttpResponse:
    """Static files through the staticfiles finders (app folders, django-htmx), so the embedded
    default needs neither collectstatic nor a web server in front."""
    response = staticfiles_serve(request, path, insecure=True)
    if response.streaming:  # small files: a plain body avoids sync iteration under ASGI
        plain = HttpResponse(b"".join(response.streaming_content), status=response.status_code)
        for header, value in response.items():
            plain[header] = value
        response = plain
    response["Cache-Control"] = "public, max-age=3600"
    return response


urlpatterns.append(re_path(r"^static/(?P<path>.*)$", require_safe(static_file)))


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Tools and old browsers ask for /favicon.ico whatever the page links: the same icon."""
    return static_file(request, "chat/favicon.svg")


urlpatterns.append(path("favicon.ico", favicon))
