from django.urls import path  # noqa: F401

from xiaoer.crm import care_urls

urlpatterns: list = [*care_urls.urlpatterns]
