"""Staff login/logout. Included from xiaoer.chat.urls (the root URLconf includes the chat app)."""

from django.urls import path

from xiaoer.accounts import views

urlpatterns = [
    path("desk/login", views.login_view, name="login"),
    path("desk/logout", views.logout_view, name="logout"),
]
