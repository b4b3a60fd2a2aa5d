"""Tokens, client secrets, passwords and validation keys never appear in logs.

Every logger (authlib's included, whatever the settings say) records at DEBUG while the test drives
a dashboard sign-in through the provider, a refresh, client-credentials fetches, the device flow, a
connection-info PUT/GET with a validation key and failed sign-ins; then no captured record (message,
arguments or traceback) may contain any of those values.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

import pytest
import requests

from controlplane.seed_platform import DEMO_TASKS
from tests.accounts.test_live import sign_in

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def fresh_secrets(settings) -> dict[str, str]:
    """Random secrets for this run (set before the demo seed), so a match can only be a leak."""
    values = {
        "LOCAL_ARTHUR_DEMO_PASSWORD": "pw-" + secrets.token_urlsafe(16),
        "ARTHUR_CLIENT_SECRET": "dash-" + secrets.token_urlsafe(24),
        "DATAPLANE_CLIENT_SECRET": "dp-" + secrets.token_urlsafe(24),
    }
    for name, value in values.items():
        setattr(settings, name, value)
    settings.LOCAL_ARTHUR_DEVICE_INTERVAL = 0
    from django.core.cache import cache

    cache.clear()  # no sign-in or token throttling left over from other tests
    return values


@pytest.fixture
def every_logger_at_debug(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def captured_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the records carry: formatted message, raw arguments and tracebacks."""
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def test_no_credential_reaches_the_logs(fresh_secrets, local_arthur, api_token, every_logger_at_debug) -> None:
    from accounts import oauth
    from accounts.models import ArthurAccount
    from accounts.tokens import access_token_for

    caplog = every_logger_at_debug
    base = f"{local_arthur}/api/v1/auth/oidc"
    found: dict[str, str] = {f"setting {name}": value for name, value in fresh_secrets.items()}
    found["service account secret"] = "arthur-sa-demo-secret"

    # 1. A person signs in to the dashboard through the provider (authorization code + PKCE), and the
    #    dashboard refreshes their token.
    oauth.reset()
    browser = sign_in(local_arthur, "editor@example.com", fresh_secrets["LOCAL_ARTHUR_DEMO_PASSWORD"])
    account = ArthurAccount.objects.get(user__email="editor@example.com")
    found |= {"access token": account.access_token, "refresh token": account.refresh_token}
    ArthurAccount.objects.filter(pk=account.pk).update(expires_at=int(time.time()) - 1)
    found["refreshed access token"] = access_token_for(account.user_id)
    found["rotated refresh token"] = ArthurAccount.objects.get(pk=account.pk).refresh_token

    # 2. Client credentials: a service account and the data plane.
    for client_id, secret in (("arthur-sa-demo", "arthur-sa-demo-secret"), ("data-plane-demo", None)):
        secret = secret or fresh_secrets["DATAPLANE_CLIENT_SECRET"]
        token = requests.post(
            f"{base}/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10
        )
        assert token.status_code == 200, token.text
        found[f"{client_id} access token"] = token.json()["access_token"]

    # 3. The device flow (the CLI's public client), approved by the person signed in above.
    started = requests.post(
        f"{base}/device/code", data={"client_id": "scope-cli-client", "scope": "openid email profile"}, timeout=10
    ).json()
    found["device code"] = started["device_code"]
    page = browser.get(f"{base}/device", params={"user_code": started["user_code"]}, timeout=10)
    approved = browser.post(
        page.url,
        data={"csrfmiddlewaretoken": CSRF.search(page.text).group(1), "user_code": started["user_code"],
              "decision": "approve"},
        timeout=10,
    )
    assert approved.status_code == 200, approved.text
    device_token = requests.post(
        f"{base}/token",
        data={"grant_type": DEVICE_GRANT, "device_code": started["device_code"], "client_id": "scope-cli-client"},
        timeout=10,
    ).json()
    found |= {"device access token": device_token["access_token"], "device refresh": device_token["refresh_token"]}
    refreshed = requests.post(
        f"{base}/token",
        data={"grant_type": "refresh_token", "refresh_token": device_token["refresh_token"],
              "client_id": "scope-cli-client"},
        timeout=10,
    ).json()
    found["device refreshed access token"] = refreshed["access_token"]

    # 4. Connection info with a validation key: PUT (as the data plane does) and GET.
    key = "vk-" + secrets.token_urlsafe(24)
    found["validation key"] = key
    admin = {"Authorization": f"Bearer {api_token('admin@example.com')}"}
    found["admin access token"] = admin["Authorization"].split()[1]
    url = f"{local_arthur}/api/v1/models/{DEMO_TASKS[0].model_id}/task/connection_info"
    put = requests.put(
        url,
        json={"api_host": "https://engine.example.com", "validation_key": {"id": "k1", "name": "key", "key": key}},
        headers=admin,
        timeout=10,
    )
    assert put.status_code == 200, put.text
    assert requests.get(url, headers=admin, timeout=10).json()["validation_key"]["key"] == key

    # 5. Failures: a wrong password on the provider, a wrong client secret, a bad bearer token.
    wrong_password = "wrong-" + secrets.token_urlsafe(12)
    found["wrong password"] = wrong_password
    stranger = requests.Session()
    login = stranger.get(f"{base}/login", timeout=10)
    failed = stranger.post(
        f"{base}/login",
        data={"csrfmiddlewaretoken": CSRF.search(login.text).group(1), "email": "admin@example.com",
              "password": wrong_password},
        timeout=10,
    )
    assert failed.status_code == 400
    wrong_secret = "guess-" + secrets.token_urlsafe(12)
    found["wrong client secret"] = wrong_secret
    denied = requests.post(
        f"{base}/token", data={"grant_type": "client_credentials"}, auth=("arthur-sa-demo", wrong_secret), timeout=10
    )
    assert denied.status_code == 401
    bogus = "bogus-" + secrets.token_urlsafe(20)
    found["bogus bearer token"] = bogus
    assert requests.get(url, headers={"Authorization": f"Bearer {bogus}"}, timeout=10).status_code == 401

    text = captured_text(caplog)
    assert len(caplog.records) > 20, "the flows above should have logged something"
    leaks = sorted(name for name, value in found.items() if value and value in text)
    assert leaks == [], leaks
