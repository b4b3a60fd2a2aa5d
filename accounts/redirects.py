"""Where the dashboard may send a person after sign-in: same-site paths only."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


def home_path() -> str:
    return reverse("tasks_ui:home")


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """``candidate`` if it is a path on this site, else the home page.

    Refused: anything with a scheme or a host (even our own), protocol-relative ``//host``,
    backslashes (browsers read ``/\\host`` as ``//host``), control characters, and the sign-in
    URLs themselves (which would loop).
    """
    if not candidate or not candidate.startswith("/") or candidate.startswith("//"):
        return home_path()
    if "\\" in candidate or any(ord(char) < 32 or ord(char) == 127 for char in candidate):
        return home_path()
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return home_path()
    if not url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}, require_https=False):
        return home_path()
    if parts.path.startswith(reverse("accounts:login").rsplit("/", 1)[0] + "/"):
        return home_path()
    return candidate


def login_url(next_path: str, *, expired: bool = False) -> str:
    """The dashboard's sign-in page, coming back to ``next_path`` afterwards."""
    query = {"next": next_path}
    if expired:
        query["expired"] = "1"
    return f"{reverse('accounts:login')}?{urlencode(query)}"
