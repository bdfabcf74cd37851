from django.urls import path

from xiaoer.kpi import views

urlpatterns = [
    path("kpi/", views.kpi_page, name="kpi"),
    path("kpi/drill", views.kpi_drill, name="kpi-drill"),
    path("kpi/export", views.kpi_export, name="kpi-export"),
]
