"""Test-only pages: one calling Arthur as the signed-in person, and the bare shell."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path

from accounts.tokens import user_client


@login_required
def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(user_client(request).get_users_me().email)


@login_required
def shell(request: HttpRequest) -> HttpResponse:
    return render(request, "base.html")


urlpatterns = [
    path("whoami", whoami, name="whoami"),
    path("shell", shell, name="shell"),
    path("", include("dashboard.urls")),
]
