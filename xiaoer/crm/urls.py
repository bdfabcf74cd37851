from django.urls import path

from xiaoer.crm import identity_views

urlpatterns: list = [
    path("desk/customers/import", identity_views.import_page, name="crm-import"),
    path("desk/customers/<int:customer_id>/merge", identity_views.merge_page, name="crm-merge"),
    path("desk/customers/<int:customer_id>/anonymise", identity_views.anonymise_page, name="crm-anonymise"),
]
