from django.urls import include, path

from xiaoer.chat import views

urlpatterns = [
    path("", include("xiaoer.accounts.urls")),
    path("s/<slug:slug>/chat", views.shopper_chat, name="shopper-chat"),
    path("s/<slug:slug>/chat/session", views.shopper_session, name="shopper-session"),
    path("s/<slug:slug>/chat/leave-message", views.shopper_leave_message, name="shopper-leave-message"),
    path("s/<slug:slug>/chat/upload", views.shopper_upload, name="shopper-upload"),
    path("s/<slug:slug>/widget.js", views.widget_js, name="shopper-widget"),
    path("files/<str:token>", views.attachment_file, name="attachment-file"),
    path("desk", views.desk, name="desk"),
    path("desk/c/<int:conversation_id>", views.desk, name="desk-conversation"),
    path("desk/c/<int:conversation_id>/panels/", views.desk_panels, name="desk-panels"),
    path("desk/c/<int:conversation_id>/panel/customer", views.customer_panel,
         name="desk-panel-customer"),
    path("desk/upload", views.desk_upload, name="desk-upload"),
    path("desk/supervisor", views.supervisor, name="desk-supervisor"),
]
