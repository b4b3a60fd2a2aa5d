"""Rate limits on the provider's token endpoint: failed client authentications are counted per
client id and per address; over the limit the endpoint answers 429 (OAuth-style JSON error with
Retry-After) before checking credentials. Successful requests are never counted."""

from __future__ import annotations

import time

import pytest
import requests
from django.core.cache import cache

from controlplane.identity.seed import SERVICE_ACCOUNT_ID, SERVICE_ACCOUNT_SECRET


@pytest.fixture(autouse=True)
def fresh_counters():
    # Counters live in Django's cache, which outlives one test: start and end clean.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def token_url(local_arthur) -> str:
    return f"{local_arthur}/api/v1/auth/oidc/token"


def client_credentials(url: str, client_id: str, secret: str) -> requests.Response:
    return requests.post(url, data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=30)


def assert_throttled(response: requests.Response) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "temporarily_unavailable"
    assert "Retry after" in body["error_description"]
    assert 1 <= int(response.headers["Retry-After"]) <= 900
    assert response.headers["Cache-Control"] == "no-store"


def test_successful_requests_are_never_throttled(token_url, settings) -> None:
    settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_ADDRESS = 3
    settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_CLIENT = 3
    for _ in range(10):
        response = client_credentials(token_url, SERVICE_ACCOUNT_ID, SERVICE_ACCOUNT_SECRET)
        assert response.status_code == 200, response.text


def test_failed_client_authentications_are_throttled_per_client_id(token_url, settings) -> None:
    settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_CLIENT = 3
    settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_ADDRESS = 100
    for _ in range(3):
        response = client_credentials(token_url, SERVICE_ACCOUNT_ID, "guess")
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    # Over the limit even the right secret is refused: a lucky guess is not confirmed.
    assert_throttled(client_credentials(token_url, SERVICE_ACCOUNT_ID, SERVICE_ACCOUNT_SECRET))
    # Other clients are unaffected by this client's lock (the address is still under its limit).
    other = client_credentials(token_url, "data-plane-demo", "data-plane-demo-secret")
    assert other.status_code == 200, other.text


def test_failed_client_authentications_are_throttled_per_address(token_url, settings) -> None:
    settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_CLIENT = 100
    settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_ADDRESS = 4
    # Credential stuffing: one guess each for many client ids, from one address.
    for number in range(4):
        assert client_credentials(token_url, f"stuffed-{number}", "guess").status_code == 401
    assert_throttled(client_credentials(token_url, SERVICE_ACCOUNT_ID, SERVICE_ACCOUNT_SECRET))
    # Form-posted credentials are counted against the same address.
    posted = requests.post(
        token_url,
        data={"grant_type": "client_credentials", "client_id": "stuffed-9", "client_secret": "guess"},
        timeout=30,
    )
    assert_throttled(posted)


def test_the_lock_ends_with_its_window(token_url, settings) -> None:
    window = 3
    settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_CLIENT = 2
    settings.LOCAL_ARTHUR_TOKEN_FAILURE_WINDOW = window
    time.sleep(window - time.time() % window + 0.05)  # start at the beginning of a window
    for _ in range(2):
        client_credentials(token_url, SERVICE_ACCOUNT_ID, "guess")
    locked = client_credentials(token_url, SERVICE_ACCOUNT_ID, SERVICE_ACCOUNT_SECRET)
    assert_throttled(locked)
    time.sleep(int(locked.headers["Retry-After"]) + 0.05)
    response = client_credentials(token_url, SERVICE_ACCOUNT_ID, SERVICE_ACCOUNT_SECRET)
    assert response.status_code == 200, response.text


def test_device_and_revocation_endpoints_share_the_limit(local_arthur, token_url, settings) -> None:
    settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_CLIENT = 2
    for _ in range(2):
        client_credentials(token_url, SERVICE_ACCOUNT_ID, "guess")
    base = f"{local_arthur}/api/v1/auth/oidc"
    revoke = requests.post(f"{base}/revoke", data={"token": "x"}, auth=(SERVICE_ACCOUNT_ID, "guess"), timeout=30)
    assert_throttled(revoke)
    device = requests.post(f"{base}/device/code", data={"scope": "openid"}, auth=(SERVICE_ACCOUNT_ID, "x"), timeout=30)
    assert_throttled(device)
