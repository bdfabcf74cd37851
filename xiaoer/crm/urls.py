from django.urls import path

from xiaoer.crm import views

urlpatterns = [
    path("desk/c/<int:conversation_id>/profile-hints", views.panel, name="crm-panel-type-attributes"),
    path("desk/crm/proposals/<int:proposal_id>/<slug:action>", views.proposal_action, name="crm-proposal-action"),
    path("desk/crm/shopper-type-tips", views.tips_page, name="crm-type-tips"),
]
