"""arthur_api.auth: client credentials through the discovery document, cached and refreshed."""

from __future__ import annotations

import base64
import threading
import time
from urllib.parse import parse_qs

import pytest
import requests
import responses

from arthur_api.auth import DISCOVERY_PATH, ClientCredentialsAuth
from arthur_api.client import ArthurClient
from arthur_api.errors import ArthurError, ArthurUnauthenticated, ArthurUnavailable
from tests.arthur_api import samples

BASE = "https://arthur.test"
TOKEN_URL = f"{BASE}/api/v1/auth/oidc/token"


@pytest.fixture
def fake() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add("GET", BASE + DISCOVERY_PATH, json={"issuer": f"{BASE}/api/v1/auth/oidc",
                                                     "token_endpoint": TOKEN_URL})
        yield mock


def token_calls(fake: responses.RequestsMock) -> list:
    return [call for call in fake.calls if call.request.url == TOKEN_URL]


def test_fetches_a_token_with_http_basic_and_the_official_scope(fake) -> None:
    fake.add("POST", TOKEN_URL, json={"access_token": "machine-1", "token_type": "Bearer", "expires_in": 300})
    fake.add("GET", f"{BASE}/api/v1/users/me", json=samples.user(user_type="data_plane",
                                                                   data_plane_id=samples.DATA_PLANE))
    auth = ClientCredentialsAuth("data-plane-demo", "data-plane-demo-secret", BASE)

    me = ArthurClient(BASE, auth).get_users_me()

    assert me.data_plane_id == samples.DATA_PLANE
    sent = token_calls(fake)[0].request
    expected = base64.b64encode(b"data-plane-demo:data-plane-demo-secret").decode()
    assert sent.headers["Authorization"] == f"Basic {expected}"
    assert parse_qs(sent.body) == {"grant_type": ["client_credentials"], "scope": ["openid email profile"]}
    assert fake.calls[-1].request.headers["Authorization"] == "Bearer machine-1"
    assert sent.req_kwargs["timeout"] is not None


def test_caches_the_token_until_near_expiry(fake, monkeypatch) -> None:
    fake.add("POST", TOKEN_URL, json={"access_token": "first", "expires_in": 300})
    fake.add("POST", TOKEN_URL, json={"access_token": "second", "expires_in": 300})
    auth = ClientCredentialsAuth("sa", "secret", BASE)
    assert auth.token() == "first"
    assert auth.token() == "first"
    assert len(token_calls(fake)) == 1

    later = time.time() + 300 - 10  # inside the 30 s leeway
    monkeypatch.setattr("arthur_api.auth.time.time", lambda: later)
    assert auth.token() == "second"
    assert len(token_calls(fake)) == 2
    # Discovery is read once.
    assert sum(call.request.url.endswith(DISCOVERY_PATH) for call in fake.calls) == 1


def test_concurrent_threads_share_one_fetch(fake) -> None:
    fake.add("POST", TOKEN_URL, json={"access_token": "shared", "expires_in": 300})
    auth = ClientCredentialsAuth("sa", "secret", BASE)
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(auth.token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == ["shared"] * 8
    assert len(token_calls(fake)) == 1


def test_a_401_from_the_api_fetches_a_new_token_once(fake) -> None:
    fake.add("POST", TOKEN_URL, json={"access_token": "revoked", "expires_in": 300})
    fake.add("POST", TOKEN_URL, json={"access_token": "new", "expires_in": 300})
    fake.add("GET", f"{BASE}/api/v1/users/me", status=401)
    fake.add("GET", f"{BASE}/api/v1/users/me", json=samples.user())
    client = ArthurClient(BASE, ClientCredentialsAuth("sa", "secret", BASE))
    assert client.get_users_me().email == "editor@example.com"
    api_calls = [call for call in fake.calls if call.request.url.endswith("/users/me")]
    assert [call.request.headers["Authorization"] for call in api_calls] == ["Bearer revoked", "Bearer new"]


def test_refused_credentials_are_unauthenticated(fake) -> None:
    fake.add("POST", TOKEN_URL, status=401, json={"error": "invalid_client"})
    with pytest.raises(ArthurUnauthenticated, match="invalid_client"):
        ClientCredentialsAuth("sa", "wrong", BASE).token()


@pytest.mark.parametrize("failure", [{"status": 503}, {"body": requests.exceptions.ConnectTimeout()}])
def test_an_unreachable_token_endpoint_is_unavailable(fake, failure) -> None:
    fake.add("POST", TOKEN_URL, **failure)
    with pytest.raises(ArthurUnavailable):
        ClientCredentialsAuth("sa", "secret", BASE).token()


def test_a_token_answer_without_access_token_is_an_error(fake) -> None:
    fake.add("POST", TOKEN_URL, json={"token_type": "Bearer"})
    with pytest.raises(ArthurError, match="access_token"):
        ClientCredentialsAuth("sa", "secret", BASE).token()


def test_the_secret_never_shows_in_repr() -> None:
    assert "hush" not in repr(ClientCredentialsAuth("sa", "hush", BASE))
