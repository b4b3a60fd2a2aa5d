"""Dashboard sign-in URLs. ``/accounts/callback`` is the redirect URI registered at the provider."""

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("login", views.login, name="login"),
    path("callback", views.callback, name="callback"),
    path("logout", views.logout, name="logout"),
]
