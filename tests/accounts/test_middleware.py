"""Expired sign-ins go to sign-in and come back; HTMX requests get a client redirect, never a swapped login page."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model

from accounts.models import ArthurAccount
from tests.accounts.conftest import HOST

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/projects/p1?tab=jobs"}


def signed_in(client, *, refresh_token: str = "refresh-1", expires_in: int = 300):
    user = get_user_model().objects.create(username="editor@example.com")
    ArthurAccount.objects.create(user=user, issuer="i", subject="s", access_token="access-1",
                                 refresh_token=refresh_token, expires_at=int(time.time()) + expires_in)
    client.force_login(user)
    return user


def next_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["next"][0]


def test_anonymous_page_request_redirects_to_sign_in_with_next(client) -> None:
    response = client.get("/whoami?x=1")
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == "/accounts/login"
    assert next_of(response["Location"]) == "/whoami?x=1"


def test_anonymous_htmx_request_gets_a_client_redirect_to_the_page_not_the_fragment(client) -> None:
    response = client.get("/whoami", headers=HTMX)
    assert response.status_code == 200
    assert response.content == b""
    assert urlsplit(response["HX-Redirect"]).path == "/accounts/login"
    assert next_of(response["HX-Redirect"]) == "/projects/p1?tab=jobs"


def test_a_refused_refresh_signs_out_and_sends_the_page_to_sign_in(client, idp) -> None:
    signed_in(client, expires_in=-5)
    idp.answer_token({"error": "invalid_grant"}, status=400)
    response = client.get("/whoami")
    assert response.status_code == 302
    assert next_of(response["Location"]) == "/whoami"
    assert parse_qs(urlsplit(response["Location"]).query)["expired"] == ["1"]
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"])
    assert b"Your sign-in has expired" in page.content


def test_a_refused_refresh_during_htmx_gets_a_client_redirect(client, idp) -> None:
    signed_in(client, expires_in=-5)
    idp.answer_token({"error": "invalid_grant"}, status=400)
    response = client.get("/whoami", headers=HTMX)
    assert response.status_code == 200
    assert "HX-Redirect" in response
    assert next_of(response["HX-Redirect"]) == "/projects/p1?tab=jobs"
    assert b"Sign in" not in response.content


def test_a_401_after_refresh_also_ends_in_sign_in(client, idp) -> None:
    signed_in(client, refresh_token="")
    idp.mock.add("GET", f"{HOST}/api/v1/users/me", status=401)
    response = client.get("/whoami")
    assert urlsplit(response["Location"]).path == "/accounts/login"
    assert ArthurAccount.objects.get().access_token == ""


def test_a_hostile_current_url_header_is_not_used_as_next(client) -> None:
    response = client.get("/whoami", headers={"HX-Request": "true", "HX-Current-URL": "https://evil.test/x"})
    assert next_of(response["HX-Redirect"]) == "/"


def test_a_working_token_serves_the_page(client, idp) -> None:
    from tests.arthur_api import samples

    signed_in(client)
    idp.mock.add("GET", f"{HOST}/api/v1/users/me", json=samples.user())
    response = client.get("/whoami")
    assert response.status_code == 200 and response.content == b"editor@example.com"
