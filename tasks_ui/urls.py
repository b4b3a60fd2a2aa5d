"""Dashboard pages."""

from django.urls import path

from tasks_ui import views

app_name = "tasks_ui"
urlpatterns = [
    path("", views.home, name="home"),
]
