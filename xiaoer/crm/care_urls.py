"""Routes of coupons, questionnaires and birthday care (included by crm/urls.py)."""

from django.urls import path

from xiaoer.crm import care_views

urlpatterns = [
    path("customers/coupons", care_views.coupons_page, name="crm-coupons"),
    path("customers/coupons/<int:batch_id>", care_views.coupon_batch_page, name="crm-coupon-batch"),
    path("customers/questionnaires", care_views.questionnaires_page, name="crm-questionnaires"),
    path("customers/questionnaires/<int:questionnaire_id>", care_views.questionnaire_page, name="crm-questionnaire"),
    path("customers/care", care_views.care_page, name="crm-care"),
    path("desk/c/<int:conversation_id>/care", care_views.care_panel, name="crm-care-panel"),
    path("q/<slug:shop_slug>/<str:token>", care_views.answer_page, name="crm-questionnaire-answer"),
]
