from django.urls import path

from xiaoer.aftersales import csat_views, returns_views

urlpatterns: list = [
    # returns and CSAT (h9)
    path("aftersales/cases", returns_views.cases_page, name="aftersales-cases"),
    path("aftersales/cases/<int:returncase_id>", returns_views.case_page, name="aftersales-case"),
    path("aftersales/overdue", returns_views.overdue_section, name="aftersales-overdue-section"),
    path("desk/c/<int:conversation_id>/returns", returns_views.panel, name="aftersales-panel"),
    path("rt/<slug:shop_slug>/<str:token>", returns_views.return_link, name="aftersales-return-link"),
    path("rate/<slug:shop_slug>/<str:token>", csat_views.answer_page, name="aftersales-csat-answer"),
]

from xiaoer.aftersales import reviews_urls  # noqa: E402 - reviews and revisit pages (h10)

urlpatterns += reviews_urls.urlpatterns
