from django.urls import path

from xiaoer.aftersales import csat_views, returns_views

urlpatterns: list = [
    # returns and CSAT (h9)
    path("r/<slug:shop_slug>/<str:token>", returns_views.return_link, name="aftersales-return-link"),
    path("s/<slug:shop_slug>/<str:token>", csat_views.answer_page, name="aftersales-csat-answer"),
]
