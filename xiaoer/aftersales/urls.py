from django.urls import path  # noqa: F401

urlpatterns: list = []

from xiaoer.aftersales import reviews_urls  # noqa: E402 - h10: reviews and revisit pages

urlpatterns += reviews_urls.urlpatterns
