from django.urls import path

from xiaoer.drafting import views

urlpatterns = [
    path("desk/c/<int:conversation_id>/draft", views.stream_draft, name="drafting-stream"),
    path("desk/robot/llm", views.drafting_settings, name="drafting-settings"),
]
