from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve as static_serve

from xiaoer.api import api
from xiaoer.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("xiaoer.chat.urls")),
]

for app in ("xiaoer.knowledge", "xiaoer.assistant", "xiaoer.orders", "xiaoer.notify", "xiaoer.customers"):
    if app in settings.INSTALLED_APPS:
        try:
            urlpatterns.append(path("", include(f"{app}.urls")))
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.urls":
                raise

# Static files are served by the app itself so the embedded default needs no web server.
urlpatterns += [
    re_path(r"^static/(?P<path>.*)$", static_serve, {"document_root": settings.BASE_DIR / "static"}),
]
