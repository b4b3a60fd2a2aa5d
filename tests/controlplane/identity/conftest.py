"""Helpers for driving Local Arthur's identity provider over real HTTP (live server)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

DEMO_PASSWORD = "arthur-demo"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Sign-in throttling lives in the cache, which outlives a test's database.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


@dataclass
class Provider:
    """The live provider plus the demo dashboard client's registration."""

    base: str
    client_id: str
    client_secret: str

    @property
    def issuer(self) -> str:
        return f"{self.base}/api/v1/auth/oidc"

    @property
    def callback(self) -> str:
        return f"{self.base}/accounts/callback"

    def url(self, name: str) -> str:
        return f"{self.issuer}/{name}"

    def sign_in(
        self,
        http: requests.Session,
        email: str = "admin@example.com",
        password: str = DEMO_PASSWORD,
        next_path: str = "",
    ) -> requests.Response:
        """Fill the provider's sign-in form; returns the (unfollowed) response to the POST."""
        page = http.get(self.url("login"), params={"next": next_path} if next_path else None)
        assert page.status_code == 200
        return http.post(
            self.url("login"),
            data={
                "csrfmiddlewaretoken": csrf_token(page.text),
                "email": email,
                "password": password,
                "next": next_path,
            },
            allow_redirects=False,
        )

    def authorize(self, http: requests.Session, **overrides: str | None) -> requests.Response:
        """GET the authorization endpoint with sane defaults (S256 challenge, nonce, state)."""
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.callback,
            "scope": "openid email profile",
            "state": "state-123",
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": pkce_pair()[1],
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return http.get(f"{self.url('authorize')}?{query}", allow_redirects=False)

    def code_for(self, http: requests.Session, **overrides: str | None) -> tuple[str, str]:
        """Sign in (if needed) and obtain a code; returns (code, verifier)."""
        verifier, challenge = pkce_pair()
        overrides.setdefault("code_challenge", challenge)
        response = self.authorize(http, **overrides)
        if response.status_code == 302 and "/login" in response.headers["Location"]:
            next_path = parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]
            signed_in = self.sign_in(http, next_path=next_path)
            assert signed_in.status_code == 302
            response = http.get(self.base + signed_in.headers["Location"], allow_redirects=False)
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        assert location.startswith(self.callback + "?"), location
        query = parse_qs(urlsplit(location).query)
        assert "error" not in query, query
        return query["code"][0], verifier

    def redeem(
        self, code: str, verifier: str | None, *, redirect_uri: str | None = None, auth: tuple[str, str] | None = None
    ) -> requests.Response:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri or self.callback}
        if verifier is not None:
            data["code_verifier"] = verifier
        return requests.post(
            self.url("token"), data=data, auth=auth or (self.client_id, self.client_secret), timeout=10
        )

    def refresh(self, refresh_token: str) -> requests.Response:
        return requests.post(
            self.url("token"),
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(self.client_id, self.client_secret),
            timeout=10,
        )


@pytest.fixture
def provider(local_arthur, settings) -> Provider:
    return Provider(base=local_arthur, client_id=settings.ARTHUR_CLIENT_ID, client_secret=settings.ARTHUR_CLIENT_SECRET)


@pytest.fixture
def browser_http() -> requests.Session:
    """A cookie-keeping HTTP session standing in for a person's browser."""
    with requests.Session() as http:
        yield http
