"""The provider's sign-in page (CSRF, framing, return addresses, throttling, its own cookie),
RP-initiated logout, and the idempotent demo seed."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from tests.controlplane.identity.conftest import Provider, csrf_token

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_page_forbids_framing_and_sets_its_own_cookie(provider, browser_http) -> None:
    page = browser_http.get(provider.url("login"))
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "same-origin"

    response = provider.sign_in(browser_http)
    assert response.status_code == 302
    cookie = next(c for c in browser_http.cookies if c.name == "la_session")
    assert cookie.path == "/api/v1/auth/oidc/"
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert "sessionid" not in browser_http.cookies  # the dashboard's session is never touched


def test_sign_in_without_csrf_token_refused(provider) -> None:
    response = requests.post(provider.url("login"), data={"email": "admin@example.com", "password": "arthur-demo"},
                             allow_redirects=False, timeout=10)
    assert response.status_code == 403
    assert "la_session" not in response.cookies


def test_wrong_password_and_unknown_account_look_the_same(provider, browser_http) -> None:
    wrong = provider.sign_in(browser_http, password="not-it")
    unknown = provider.sign_in(browser_http, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 400
    assert "Email or password is not correct." in wrong.text
    assert "Email or password is not correct." in unknown.text
    assert "la_session" not in browser_http.cookies


def test_inactive_person_cannot_sign_in(provider, browser_http) -> None:
    from controlplane.identity.models import PlatformUser

    PlatformUser.objects.filter(email="viewer@example.com").update(is_active=False)
    assert provider.sign_in(browser_http, email="viewer@example.com").status_code == 400


def test_failures_throttled_per_account(provider, browser_http) -> None:
    for _ in range(5):
        assert provider.sign_in(browser_http, email="editor@example.com", password="guess").status_code == 400
    blocked = provider.sign_in(browser_http, email="editor@example.com")  # right password, still blocked
    assert blocked.status_code == 429
    assert "la_session" not in browser_http.cookies
    # Another account from the same address is not locked by this account's failures.
    assert provider.sign_in(browser_http, email="viewer@example.com").status_code == 302


def test_failures_throttled_per_address(provider, browser_http) -> None:
    for index in range(20):
        provider.sign_in(browser_http, email=f"spray{index}@example.com", password="guess")
    assert provider.sign_in(browser_http, email="admin@example.com").status_code == 429


@pytest.mark.parametrize(
    "next_value",
    [
        "https://evil.example/",
        "//evil.example/api/v1/auth/oidc/authorize",
        "/\\evil.example",
        "javascript:alert(1)",
        "/accounts/login",  # same site but not the provider: refused too
        "http://localhost/api/v1/auth/oidc/authorize",
    ],
)
def test_only_provider_paths_are_return_addresses(provider, browser_http, next_value) -> None:
    response = provider.sign_in(browser_http, next_path=next_value)
    assert response.status_code == 302
    assert response.headers["Location"] == "/api/v1/auth/oidc/login"


def test_provider_sign_out_leaves_dashboard_session_alone(provider, browser_http) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    dashboard_session = SessionStore()
    dashboard_session["marker"] = "dashboard"
    dashboard_session.create()
    browser_http.cookies.set("sessionid", dashboard_session.session_key, path="/")
    provider.sign_in(browser_http)

    page = browser_http.get(provider.url("logout"))
    assert page.status_code == 200
    response = browser_http.post(provider.url("logout"), data={"csrfmiddlewaretoken": csrf_token(page.text)})
    assert response.status_code == 200
    assert "la_session" not in browser_http.cookies
    assert SessionStore(session_key=dashboard_session.session_key).load() == {"marker": "dashboard"}
    assert browser_http.cookies.get("sessionid") == dashboard_session.session_key
    # Signed out of the provider: authorize asks to sign in again.
    assert "/login" in provider.authorize(browser_http).headers["Location"]


def test_logout_with_id_token_hint_redirects_only_to_registered_address(provider: Provider, browser_http) -> None:
    code, verifier = provider.code_for(browser_http)
    id_token = provider.redeem(code, verifier).json()["id_token"]

    foreign = browser_http.get(provider.url("logout"), params={
        "id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"}, allow_redirects=False)
    assert foreign.status_code == 200
    assert "Location" not in foreign.headers

    provider.sign_in(browser_http)
    response = browser_http.get(provider.url("logout"), params={
        "id_token_hint": id_token, "post_logout_redirect_uri": f"{provider.base}/", "state": "s1"},
        allow_redirects=False)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.base}/"
    assert location.query == "state=s1"
    assert "la_session" not in browser_http.cookies


def test_seed_is_idempotent_and_keeps_changed_passwords(db, settings) -> None:
    from controlplane.identity.models import DataPlane, OAuthClient, Organization, PlatformUser, Workspace
    from controlplane.identity.seed import seed_identity

    seed_identity(dashboard_url="http://127.0.0.1:8000")
    counts = (Organization.objects.count(), Workspace.objects.count(), PlatformUser.objects.count(),
              OAuthClient.objects.count(), DataPlane.objects.count())
    admin = PlatformUser.objects.get(email="admin@example.com")
    admin.set_secret("my-own-password")
    admin.save()

    seed_identity(dashboard_url="http://127.0.0.1:8000/")
    seed_identity(dashboard_url="http://localhost:9000")
    assert (Organization.objects.count(), Workspace.objects.count(), PlatformUser.objects.count(),
            OAuthClient.objects.count(), DataPlane.objects.count()) == counts
    dashboard = OAuthClient.objects.get(client_id=settings.ARTHUR_CLIENT_ID)
    assert dashboard.redirect_uris == ["http://127.0.0.1:8000/accounts/callback",
                                       "http://localhost:9000/accounts/callback"]
    assert dashboard.check_secret(settings.ARTHUR_CLIENT_SECRET)
    assert PlatformUser.objects.get(email="admin@example.com").check_secret("my-own-password")
    assert PlatformUser.objects.get(email="editor@example.com").check_secret("arthur-demo")

    settings.LOCAL_ARTHUR_DEMO_PASSWORD = "new-demo-password"
    seed_identity(dashboard_url="http://127.0.0.1:8000")
    assert PlatformUser.objects.get(email="admin@example.com").check_secret("new-demo-password")
    assert PlatformUser.objects.get(client_id="arthur-sa-demo").check_secret("arthur-sa-demo-secret")
    engine_user = PlatformUser.objects.get(client_id=settings.DATAPLANE_CLIENT_ID)
    assert engine_user.user_type == "data_plane"
    assert engine_user.data_plane.workspace.name == "Production"
