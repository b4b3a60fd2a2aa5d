"""Dashboard sign-in URLs (the OIDC client arrives with the sign-in issue)."""

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("login", views.login, name="login"),
]
