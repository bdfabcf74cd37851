from django.urls import path

from xiaoer.assistant import views

urlpatterns = [
    path("desk/c/<int:conversation_id>/assistant", views.panel, name="assistant-panel"),
    path("desk/robot", views.robot_settings, name="assistant-settings"),
    path("desk/robot/learned", views.learned, name="assistant-learned"),
    path("desk/robot/learned/<int:pair_id>", views.learn, name="assistant-learn"),
]
