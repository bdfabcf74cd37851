from django.urls import path

from xiaoer.training import views

urlpatterns = [
    path("desk/training/", views.home, name="training-home"),
    path("desk/training/from-conversation", views.from_conversation, name="training-from-conversation"),
    path("desk/training/scenarios/<int:scenario_id>/start", views.start, name="training-start"),
    path("desk/training/<int:trainingsession_id>", views.session_page, name="training-session"),
    path("desk/training/<int:trainingsession_id>/tick", views.tick, name="training-tick"),
    path("desk/training/<int:trainingsession_id>/end", views.end, name="training-end"),
    path("desk/training/exams", views.exams, name="training-exams"),
    path("desk/training/exams/<int:exam_id>", views.exam_page, name="training-exam"),
    path("desk/training/exams/<int:exam_id>/scenarios/<int:scenario_id>/start", views.exam_start,
         name="training-exam-start"),
]
