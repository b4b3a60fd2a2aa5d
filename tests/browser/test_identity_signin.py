"""A person signs in on Local Arthur's own sign-in page in chromium and is sent back to the
dashboard client's registered callback with an authorization code that redeems (PKCE S256)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_person_signs_in_on_provider_page(page: Page, local_arthur, settings, artifacts_dir) -> None:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    from controlplane.identity.models import OAuthClient

    # A callback registered just for this test, so nothing depends on the dashboard's accounts app.
    callback = f"{local_arthur}/identity-test/callback"
    client = OAuthClient.objects.get(client_id=settings.ARTHUR_CLIENT_ID)
    client.redirect_uris = [*client.redirect_uris, callback]
    client.save()
    query = urlencode({
        "response_type": "code", "client_id": settings.ARTHUR_CLIENT_ID, "redirect_uri": callback,
        "scope": "openid email profile", "state": "browser-state", "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
    page.goto(f"{local_arthur}/api/v1/auth/oidc/authorize?{query}")
    expect(page).to_have_title("Sign in · Local Arthur")
    page.get_by_label("Email").fill("viewer@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Email or password is not correct.")

    page.get_by_label("Password").fill(settings.LOCAL_ARTHUR_DEMO_PASSWORD)
    page.screenshot(path=str(artifacts_dir / "identity-signin.png"), full_page=True)
    with page.expect_response(lambda r: "/api/v1/auth/oidc/authorize" in r.url and r.status == 302) as answer:
        page.get_by_role("button", name="Sign in").click()
    location = answer.value.headers["location"]
    assert location.startswith(callback + "?")
    page.wait_for_url(f"{callback}?*")
    params = parse_qs(urlsplit(location).query)
    assert params["state"] == ["browser-state"]
    token = requests.post(
        f"{local_arthur}/api/v1/auth/oidc/token",
        data={"grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": callback,
              "code_verifier": verifier},
        auth=(settings.ARTHUR_CLIENT_ID, settings.ARTHUR_CLIENT_SECRET),
        timeout=10,
    )
    assert token.status_code == 200, token.text
    assert token.json()["id_token"]
    cookie_names = {cookie["name"] for cookie in page.context.cookies()}
    assert "la_session" in cookie_names
    assert "sessionid" not in cookie_names
