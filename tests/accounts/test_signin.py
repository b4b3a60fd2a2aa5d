"""Dashboard sign-in against a fake provider: the client-side cases of RFC 9700 / OIDC Core (reference §B2)."""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client
from joserfc.jwk import RSAKey

from accounts import oauth
from accounts.models import ArthurAccount
from accounts.redirects import safe_next
from tests.accounts.conftest import CLIENT_ID, CLIENT_SECRET, HOST, ISSUER, TOKEN_URL, s256, start_sign_in

pytestmark = pytest.mark.django_db


def finish(client, idp, started, *, id_token: str | None = None, **token_overrides):
    idp.answer_token({**idp.tokens(nonce=started.nonce, id_token=id_token), **token_overrides})
    return client.get("/accounts/callback", {"code": "code-abc", "state": started.state})


# --- the authorize request ---------------------------------------------------------------------


def test_authorize_url_carries_state_nonce_and_an_s256_challenge(client, idp) -> None:
    started = start_sign_in(client)
    assert started.location.startswith(f"{ISSUER}/authorize?")
    params = started.params
    assert params["response_type"] == "code"
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == "http://testserver/accounts/callback"
    assert set(params["scope"].split()) == {"openid", "email", "profile"}
    assert len(params["state"]) >= 20 and len(params["nonce"]) >= 20
    assert params["code_challenge_method"] == "S256"
    assert 43 <= len(params["code_challenge"]) <= 128


def test_each_attempt_gets_its_own_state_nonce_and_challenge(client, idp) -> None:
    first, second = start_sign_in(client), start_sign_in(client)
    for name in ("state", "nonce", "code_challenge"):
        assert first.params[name] != second.params[name]


def test_the_token_request_sends_the_verifier_and_authenticates_the_client(client, idp) -> None:
    started = start_sign_in(client)
    response = finish(client, idp, started)
    assert response.status_code == 302

    form = idp.token_requests[0]
    verifier = form["code_verifier"][0]
    assert 43 <= len(verifier) <= 128
    assert s256(verifier) == started.params["code_challenge"]
    assert form["grant_type"] == ["authorization_code"]
    assert form["code"] == ["code-abc"]
    assert form["redirect_uri"] == ["http://testserver/accounts/callback"]
    token_call = next(call for call in idp.mock.calls if call.request.url == TOKEN_URL)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_call.request.headers["Authorization"] == f"Basic {basic}"
    assert token_call.request.req_kwargs["timeout"] is not None


def test_sign_in_needs_a_post_with_csrf(idp) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/accounts/login").status_code == 403
    page = strict.get("/accounts/login")
    assert page.status_code == 200
    assert b"Sign in with Arthur" in page.content


# --- the callback: success -----------------------------------------------------------------------


def test_callback_signs_in_stores_tokens_server_side_and_rotates_the_session(client, idp) -> None:
    started = start_sign_in(client, "/projects/p1?tab=jobs")
    before = client.session.session_key

    response = finish(client, idp, started)

    assert response.status_code == 302
    assert response["Location"] == "/projects/p1?tab=jobs"
    assert response["Referrer-Policy"] == "no-referrer"
    assert client.session.session_key != before
    user = get_user_model().objects.get()
    assert int(client.session["_auth_user_id"]) == user.pk
    assert (user.email, user.first_name, user.last_name) == ("editor@example.com", "Eddie", "Editor")
    account = ArthurAccount.objects.get(user=user)
    assert (account.issuer, account.subject) == (ISSUER, "user-123")
    assert account.access_token == "access-1" and account.refresh_token == "refresh-1"
    assert account.id_token and account.expires_at > time.time() + 200
    # Nothing token-like reaches the browser.
    for cookie in response.cookies.values():
        assert "access-1" not in cookie.value and "refresh-1" not in cookie.value
    assert not any(key for key, _ in client.session.items() if "token" in key.lower())


def test_a_second_sign_in_updates_the_same_user(client, idp) -> None:
    finish(client, idp, start_sign_in(client))
    client.logout()
    started = start_sign_in(client)
    finish(client, idp, started, id_token=idp.id_token(nonce=started.nonce, given_name="Edwina"))
    user = get_user_model().objects.get()
    assert user.first_name == "Edwina"
    assert ArthurAccount.objects.count() == 1


def test_state_and_nonce_are_single_use(client, idp) -> None:
    started = start_sign_in(client)
    assert finish(client, idp, started).status_code == 302
    replay = client.get("/accounts/callback", {"code": "code-abc", "state": started.state})
    assert replay.status_code == 400
    assert b"could not be matched" in replay.content


def test_parallel_sign_ins_in_one_session_keep_their_own_state(client, idp) -> None:
    first = start_sign_in(client, "/first")
    second = start_sign_in(client, "/second")
    response = finish(client, idp, first)
    assert response["Location"] == "/first"
    assert f"_state_arthur_{second.state}" in client.session


# --- the callback: refused answers ---------------------------------------------------------------


@pytest.mark.parametrize("query", [{"code": "c"}, {"code": "c", "state": "forged-state-value"}])
def test_missing_or_tampered_state_is_refused(client, idp, query) -> None:
    started = start_sign_in(client)
    if "state" in query:
        query["state"] = started.state[:-1] + ("x" if started.state[-1] != "x" else "y")
    response = client.get("/accounts/callback", query)
    assert response.status_code == 400
    assert b"could not be matched" in response.content
    assert b"Try again" in response.content
    assert idp.token_requests == []  # no code was redeemed
    assert "_auth_user_id" not in client.session


def refused_token(idp, started, case: str) -> str:
    now = int(time.time())
    match case:
        case "nonce mismatch":
            return idp.id_token(nonce="not-the-session-nonce")
        case "wrong aud":
            return idp.id_token(nonce=started.nonce, aud="someone-else")
        case "wrong aud list":
            return idp.id_token(nonce=started.nonce, aud=["someone-else"], azp=CLIENT_ID)
        case "wrong iss":
            return idp.id_token(nonce=started.nonce, iss="https://evil.test/api/v1/auth/oidc")
        case "bad signature":
            other = RSAKey.generate_key(2048, parameters={"kid": idp.key.kid})
            return idp.id_token(nonce=started.nonce, key=other)
        case "expired":
            return idp.id_token(nonce=started.nonce, exp=now - 3600, iat=now - 7200)
        case "no sub":
            token = idp.id_token(nonce=started.nonce, sub="")
            return token
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["nonce mismatch", "wrong aud", "wrong aud list", "wrong iss", "bad signature", "expired", "no sub"]
)
def test_bad_id_tokens_are_refused(client, idp, case) -> None:
    started = start_sign_in(client)
    response = finish(client, idp, started, id_token=refused_token(idp, started, case))
    assert response.status_code == 400, response.content[:300]
    assert b"Try again" in response.content
    assert "_auth_user_id" not in client.session
    assert not ArthurAccount.objects.exists()


def test_a_token_response_without_id_token_is_refused(client, idp) -> None:
    started = start_sign_in(client)
    idp.answer_token({"access_token": "a", "token_type": "Bearer", "expires_in": 300})
    response = client.get("/accounts/callback", {"code": "c", "state": started.state})
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_access_denied_gets_a_page_with_try_again(client, idp) -> None:
    started = start_sign_in(client, "/projects/p1")
    response = client.get("/accounts/callback", {"error": "access_denied", "state": started.state})
    assert response.status_code == 403
    assert b"Sign-in was cancelled" in response.content
    assert b"Try again" in response.content
    assert b'value="/projects/p1"' in response.content  # trying again comes back to the same page
    assert f"_state_arthur_{started.state}" not in client.session
    assert idp.token_requests == []


def test_a_refused_code_is_a_provider_error_page(client, idp) -> None:
    started = start_sign_in(client)
    idp.answer_token({"error": "invalid_grant", "error_description": "code expired"}, status=400)
    response = client.get("/accounts/callback", {"code": "c", "state": started.state})
    assert response.status_code == 400
    assert b"Arthur could not sign you in" in response.content
    assert b"invalid_grant" in response.content


def test_an_unreachable_provider_gets_a_page_with_try_again(client, settings, idp) -> None:
    settings.ARTHUR_HOST = "https://down.test"
    idp.mock.add("GET", "https://down.test/api/v1/auth/oidc/.well-known/openid-configuration",
                 body=requests.exceptions.ConnectTimeout())
    response = client.post("/accounts/login", {"next": "/x"})
    assert response.status_code == 502
    assert b"cannot be reached" in response.content and b"Try again" in response.content


def test_a_provider_down_at_the_token_step_gets_the_unreachable_page(client, idp) -> None:
    started = start_sign_in(client)
    idp.mock.add("POST", TOKEN_URL, body=requests.exceptions.ReadTimeout())
    response = client.get("/accounts/callback", {"code": "c", "state": started.state})
    assert response.status_code == 502


def test_a_discovery_issuer_that_is_not_ours_is_refused(client, idp) -> None:
    idp.mock.replace("GET", f"{HOST}/api/v1/auth/oidc/.well-known/openid-configuration",
                     json={**idp.discovery, "issuer": "https://elsewhere.test/realms/arthur"})
    response = client.post("/accounts/login")
    assert response.status_code == 502
    assert b"misconfigured" in response.content


def test_a_configured_issuer_overrides_the_default(client, settings, idp) -> None:
    settings.ARTHUR_ISSUER = "https://elsewhere.test/realms/arthur"
    assert client.post("/accounts/login").status_code == 502  # discovery says otherwise


def test_a_changed_arthur_host_is_picked_up_without_a_restart(client, settings, idp) -> None:
    start_sign_in(client)
    settings.ARTHUR_HOST = "https://other.test"
    other = {**idp.discovery, "issuer": "https://other.test/api/v1/auth/oidc",
             "authorization_endpoint": "https://other.test/api/v1/auth/oidc/authorize"}
    idp.mock.add("GET", "https://other.test/api/v1/auth/oidc/.well-known/openid-configuration", json=other)
    assert start_sign_in(client).location.startswith("https://other.test/api/v1/auth/oidc/authorize?")


def test_an_inactive_user_is_refused(client, idp) -> None:
    finish(client, idp, start_sign_in(client))
    client.logout()
    get_user_model().objects.update(is_active=False)
    response = finish(client, idp, start_sign_in(client))
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


# --- next: same-site paths only ------------------------------------------------------------------

# mozilla-django-oidc's test_bad_urls, plus a few of our own.
BAD_NEXT = [
    "",
    "http://example.com",
    "http:///example.com",
    "https://example.com",
    "ftp://example.com",
    "//example.com",
    "///example.com",
    "\\\\example.com",
    "\\/example.com",
    "/\\example.com",
    "/\\/example.com",
    'javascript:alert("XSS")',
    "\njavascript:alert(x)",
    "\x08//example.com",
    "http://testserver\\@example.com",
    "http://testserver/accounts/x",
    "http:999999999",
    "ftp:9999999999",
    "/\t/example.com",
    "example.com",
    "/accounts/login?next=/",
    "/accounts/logout",
]


@pytest.mark.parametrize("bad", BAD_NEXT)
def test_unsafe_next_is_replaced_by_home(rf, bad) -> None:
    assert safe_next(rf.get("/"), bad) == "/"


@pytest.mark.parametrize("good", ["/", "/projects/p1", "/projects/p1?tab=jobs&page=2", "/models/m1/task#rules"])
def test_same_site_paths_are_kept(rf, good) -> None:
    assert safe_next(rf.get("/"), good) == good


@pytest.mark.parametrize("bad", BAD_NEXT)
def test_unsafe_next_never_becomes_the_landing_page(client, idp, bad) -> None:
    page = client.get("/accounts/login", {"next": bad})
    assert b'name="next" value="/"' in page.content
    response = finish(client, idp, start_sign_in(client, bad or None))
    assert response["Location"] == "/"


# --- sign-out ----------------------------------------------------------------------------------


def test_sign_out_clears_tokens_and_session_and_ends_the_provider_session(client, idp) -> None:
    finish(client, idp, start_sign_in(client))
    id_token = ArthurAccount.objects.get().id_token

    response = client.post("/accounts/logout")

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{ISSUER}/logout"
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/"]
    assert query["id_token_hint"] == [id_token]
    assert query["client_id"] == [CLIENT_ID]
    assert "_auth_user_id" not in client.session
    account = ArthurAccount.objects.get()
    assert (account.access_token, account.refresh_token, account.id_token) == ("", "", "")
    revoke = next(call for call in idp.mock.calls if call.request.url == f"{ISSUER}/revoke")
    assert parse_qs(revoke.request.body) == {"token": ["refresh-1"], "token_type_hint": ["refresh_token"]}
    # The dashboard now asks for sign-in again.
    assert client.get("/")["Location"].startswith("/accounts/login")


def test_sign_out_without_an_end_session_endpoint_goes_home(client, idp) -> None:
    finish(client, idp, start_sign_in(client))
    document = {key: value for key, value in idp.discovery.items() if key != "end_session_endpoint"}
    idp.mock.replace("GET", f"{HOST}/api/v1/auth/oidc/.well-known/openid-configuration", json=document)
    oauth.reset()
    response = client.post("/accounts/logout")
    assert response["Location"] == "/"
    assert "_auth_user_id" not in client.session


def test_sign_out_is_post_only(client, idp) -> None:
    finish(client, idp, start_sign_in(client))
    assert client.get("/accounts/logout").status_code == 405
    assert "_auth_user_id" in client.session


@pytest.mark.urls("tests.accounts.urls")
def test_signed_in_pages_show_the_name_and_a_sign_out_button(client, idp) -> None:
    finish(client, idp, start_sign_in(client))
    page = client.get("/shell")
    assert page.status_code == 200
    assert b"Eddie Editor" in page.content
    assert b'action="/accounts/logout"' in page.content
