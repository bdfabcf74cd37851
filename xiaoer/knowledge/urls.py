from django.urls import path

from xiaoer.knowledge import views

urlpatterns = [
    path("desk/knowledge", views.answers, name="knowledge-answers"),
    path("desk/knowledge/answers/new", views.answer_edit, name="knowledge-answer-new"),
    path("desk/knowledge/answers/<int:answer_id>", views.answer_edit, name="knowledge-answer"),
    path("desk/knowledge/answers/<int:answer_id>/delete", views.answer_delete, name="knowledge-answer-delete"),
    path("desk/knowledge/answers/<int:answer_id>/must-read", views.answer_must_read,
         name="knowledge-answer-must-read"),
    path("desk/knowledge/products", views.products, name="knowledge-products"),
    path("desk/knowledge/products/new", views.product_edit, name="knowledge-product-new"),
    path("desk/knowledge/products/<int:product_id>", views.product_edit, name="knowledge-product"),
    path("desk/knowledge/products/<int:product_id>/publish", views.product_publish, name="knowledge-product-publish"),
    path("desk/knowledge/products/<int:product_id>/must-read", views.product_must_read,
         name="knowledge-product-must-read"),
    path("desk/knowledge/products/<int:product_id>/skus/new", views.sku_edit, name="knowledge-sku-new"),
    path("desk/knowledge/products/<int:product_id>/skus/<int:sku_id>", views.sku_edit, name="knowledge-sku"),
    path("desk/knowledge/products/<int:product_id>/skus/<int:sku_id>/delete", views.sku_delete,
         name="knowledge-sku-delete"),
    path("desk/knowledge/phrases", views.phrases, name="knowledge-phrases"),
    path("desk/knowledge/import", views.import_page, name="knowledge-import"),
    path("desk/knowledge/import/<int:job_id>", views.import_job, name="knowledge-import-job"),
    path("desk/knowledge/export", views.export, name="knowledge-export"),
    path("desk/knowledge/notices", views.notices, name="knowledge-notices"),
    path("desk/knowledge/notices/<int:notice_id>/ack", views.notice_ack, name="knowledge-notice-ack"),
]
