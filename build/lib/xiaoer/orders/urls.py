from django.urls import path

from xiaoer.orders import views

urlpatterns = [
    path("desk/c/<int:conversation_id>/orders", views.orders_panel, name="orders-panel"),
    path("desk/c/<int:conversation_id>/tasks", views.tasks_panel, name="orders-tasks-panel"),
    path("desk/orders/<int:order_id>/<slug:action>", views.order_action, name="orders-action"),
    path("desk/tasks", views.task_queue, name="orders-task-queue"),
    path("desk/tasks/<int:task_id>/answer", views.task_answer, name="orders-task-answer"),
    path("hooks/<slug:shop_slug>/orders", views.order_webhook, name="orders-webhook"),
    path("s/<slug:slug>/orders", views.shopper_orders, name="orders-shopper-list"),
    path("s/<slug:slug>/orders/<str:order_no>/card", views.shopper_send_card, name="orders-shopper-card"),
]
