from django.urls import path

from xiaoer.crm import care_urls, hints_views, identity_views, views

urlpatterns = [
    path("customers/", views.customers_page, name="crm-customers"),
    path("customers/segments", views.segment_save, name="crm-segment-save"),
    path("customers/segments/<int:segment_id>/delete", views.segment_delete, name="crm-segment-delete"),
    path("customers/segments/<int:segment_id>/export", views.export_segment, name="crm-segment-export"),
    path("customers/export", views.export_filter, name="crm-export"),
    path("customers/tags", views.tags_page, name="crm-tags"),
    path("customers/tags/<int:tag_id>", views.tag_change, name="crm-tag"),
    path("customers/attributes", views.attributes_page, name="crm-attributes"),
    path("customers/attributes/<int:customattribute_id>", views.attribute_change, name="crm-attribute"),
    path("customers/levels", views.levels_page, name="crm-levels"),
    path("customers/<int:customer_id>/", views.customer_page, name="crm-customer"),
    path("desk/c/<int:conversation_id>/profile", views.profile_panel, name="crm-panel"),
    path("desk/c/<int:conversation_id>/profile-hints", hints_views.panel, name="crm-panel-type-attributes"),
    path("desk/crm/proposals/<int:proposal_id>/<slug:action>", hints_views.proposal_action, name="crm-proposal-action"),
    path("desk/crm/shopper-type-tips", hints_views.tips_page, name="crm-type-tips"),
    *care_urls.urlpatterns,
    path("desk/customers/import", identity_views.import_page, name="crm-import"),
    path("desk/customers/<int:customer_id>/merge", identity_views.merge_page, name="crm-merge"),
    path("desk/customers/<int:customer_id>/anonymise", identity_views.anonymise_page, name="crm-anonymise"),
]
