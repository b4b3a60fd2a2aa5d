"""A fake OIDC provider at the HTTP transport (`responses`), with RS256 id_tokens built locally."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from joserfc import jwt
from joserfc.jwk import RSAKey

from accounts import oauth

HOST = "https://idp.test"
ISSUER = f"{HOST}/api/v1/auth/oidc"
CLIENT_ID = "arthur-tasks-dashboard"
CLIENT_SECRET = "dashboard-test-secret"
TOKEN_URL = f"{ISSUER}/token"


@dataclass
class FakeProvider:
    mock: responses.RequestsMock
    key: RSAKey
    discovery: dict[str, Any]
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)

    def id_token(self, *, nonce: str, key: RSAKey | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "user-123",
            "email": "editor@example.com",
            "given_name": "Eddie",
            "family_name": "Editor",
            "nonce": nonce,
            "iat": now,
            "exp": now + 300,
            **overrides,
        }
        signing_key = key or self.key
        return jwt.encode({"alg": "RS256", "kid": signing_key.kid}, claims, signing_key)

    def answer_token(self, body: dict[str, Any] | None = None, *, status: int = 200) -> None:
        """Queue one answer of the token endpoint; the request's form is recorded."""

        def reply(request: Any) -> tuple[int, dict[str, str], str]:
            import json

            self.token_requests.append(parse_qs(request.body))
            return status, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(body)

        self.mock.add_callback("POST", TOKEN_URL, callback=reply)

    def tokens(self, *, nonce: str, id_token: str | None = None, expires_in: int = 300) -> dict[str, Any]:
        return {
            "access_token": "access-1",
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": "refresh-1",
            "scope": "openid email profile",
            "id_token": id_token or self.id_token(nonce=nonce),
        }


def discovery_document() -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": TOKEN_URL,
        "userinfo_endpoint": f"{ISSUER}/userinfo",
        "jwks_uri": f"{ISSUER}/jwks",
        "end_session_endpoint": f"{ISSUER}/logout",
        "revocation_endpoint": f"{ISSUER}/revoke",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
    }


@pytest.fixture
def idp(settings) -> Iterator[FakeProvider]:
    """The dashboard pointed at a fake provider; every outgoing HTTP call must be one it knows."""
    settings.ARTHUR_HOST = HOST
    settings.ARTHUR_ISSUER = ""
    settings.ARTHUR_CLIENT_ID = CLIENT_ID
    settings.ARTHUR_CLIENT_SECRET = CLIENT_SECRET
    oauth.reset()
    key = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        document = discovery_document()
        mock.add("GET", f"{HOST}/api/v1/auth/oidc/.well-known/openid-configuration", json=document)
        mock.add("GET", f"{ISSUER}/jwks", json={"keys": [key.as_dict(private=False)]})
        mock.add("POST", f"{ISSUER}/revoke", body="")
        yield FakeProvider(mock=mock, key=key, discovery=document)
    oauth.reset()


@dataclass(frozen=True)
class Started:
    """What the browser carries to the provider after pressing "Sign in"."""

    location: str
    params: dict[str, str]

    @property
    def state(self) -> str:
        return self.params["state"]

    @property
    def nonce(self) -> str:
        return self.params["nonce"]


def start_sign_in(client, next_path: str | None = None) -> Started:
    response = client.post("/accounts/login", {"next": next_path} if next_path else {})
    assert response.status_code == 302, response.content[:500]
    location = response["Location"]
    params = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    return Started(location=location, params=params)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
