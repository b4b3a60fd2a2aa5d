"""Send people whose sign-in has expired back to sign-in, and HTMX requests too.

Two cases end at the sign-in page: ``login_required`` redirecting an anonymous request, and a view
whose Arthur call raised ``ArthurUnauthenticated`` (refresh refused, or a 401 even after a
refresh). A plain request is redirected; an HTMX request gets django-htmx's client redirect, so the
whole page goes to sign-in instead of a login page being swapped into a fragment. Either way the
person comes back to the page they were on.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth import logout as auth_logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from accounts.redirects import home_path, login_url, safe_next
from accounts.tokens import clear_tokens
from arthur_api.errors import ArthurUnauthenticated

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class SignInMiddleware:
    """Place after ``HtmxMiddleware`` and ``AuthenticationMiddleware``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if _is_htmx(request) and response.status_code in REDIRECT_STATUSES and _goes_to_sign_in(response):
            return HttpResponseClientRedirect(login_url(_page_path(request)))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ArthurUnauthenticated):
            return None
        if request.user.is_authenticated:
            clear_tokens(request.user)
            auth_logout(request)
        messages.info(request, "Your sign-in has expired. Sign in again to continue.")
        target = login_url(_page_path(request), expired=True)
        if _is_htmx(request):
            return HttpResponseClientRedirect(target)
        return HttpResponseRedirect(target)


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _goes_to_sign_in(response: HttpResponse) -> bool:
    return urlsplit(response.get("Location", "")).path == reverse("accounts:login")


def _page_path(request: HttpRequest) -> str:
    """The page the person is looking at: for HTMX the browser's URL, not the fragment's."""
    if _is_htmx(request):
        current = request.htmx.current_url_abs_path
        return safe_next(request, current) if current else home_path()
    if request.method == "GET":
        return safe_next(request, request.get_full_path())
    return home_path()
