"""Routes of the reviews and revisit campaign pages (included by aftersales/urls.py)."""

from django.urls import path

from xiaoer.aftersales import reviews_views

urlpatterns = [
    path("desk/reviews", reviews_views.reviews_page, name="aftersales-reviews"),
    path("desk/revisits", reviews_views.campaigns_page, name="aftersales-revisits"),
]
