"""Client credentials (service accounts, data planes), the device flow (RFC 8628), and the official
``arthur-client`` SDK against the live provider."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from arthur_client.api_bindings import ApiClient, UsersV1Api
from arthur_client.auth import (
    ArthurClientCredentialsAPISession,
    ArthurOAuthSessionAPIConfiguration,
    ArthurOIDCMetadata,
    DeviceAuthorizer,
)

from tests.controlplane.identity.conftest import Provider, csrf_token

pytestmark = pytest.mark.django_db(transaction=True)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _client_credentials(provider: Provider, client_id: str, secret: str) -> requests.Response:
    return requests.post(
        provider.url("token"),
        data={"grant_type": "client_credentials", "scope": "openid email profile"},
        auth=(client_id, secret),
        timeout=10,
    )


def _start_device(provider: Provider, client_id: str = "scope-cli-client") -> requests.Response:
    return requests.post(
        provider.url("device/code"), data={"client_id": client_id, "scope": "openid email profile"}, timeout=10
    )


def _poll(provider: Provider, device_code: str) -> requests.Response:
    return requests.post(
        provider.url("token"),
        data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": "scope-cli-client"},
        timeout=10,
    )


def _approve(provider: Provider, http: requests.Session, user_code: str, decision: str) -> requests.Response:
    """Approve or deny through the verification page, as a person would."""
    page = http.get(provider.url("device"), params={"user_code": user_code.lower().replace("-", " ")})
    assert page.status_code == 200
    assert "Arthur CLI" in page.text  # RFC 8628 §5.4: the person sees who is asking
    return http.post(
        page.url, data={"csrfmiddlewaretoken": csrf_token(page.text), "user_code": user_code, "decision": decision}
    )


def test_service_account_client_credentials(provider) -> None:
    response = _client_credentials(provider, "arthur-sa-demo", "arthur-sa-demo-secret")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json()
    assert token["expires_in"] == 300
    assert "refresh_token" not in token
    me = requests.get(
        f"{provider.base}/api/v1/users/me", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    ).json()
    assert me["user_type"] == "service_account"
    assert me["client_id"] == "arthur-sa-demo"
    assert me["organization_name"] == "Demo Org"


def test_machine_wrong_secret_and_unknown_client_are_401(provider) -> None:
    for client_id, secret in (("arthur-sa-demo", "nope"), ("data-plane-demo", "nope"), ("nobody", "nope")):
        response = _client_credentials(provider, client_id, secret)
        assert response.status_code == 401, client_id
        assert response.json()["error"] == "invalid_client"
        assert "WWW-Authenticate" in response.headers


def test_machine_cannot_use_code_or_device_grants(provider) -> None:
    response = _start_device(provider, client_id="arthur-sa-demo")
    assert response.status_code in (400, 401)
    public_cc = requests.post(
        provider.url("token"), data={"grant_type": "client_credentials", "client_id": "scope-cli-client"}, timeout=10
    )
    assert public_cc.status_code in (400, 401)
    assert public_cc.json()["error"] in {"invalid_client", "unauthorized_client"}


def test_official_client_service_account_gets_users_me(provider) -> None:
    session = ArthurClientCredentialsAPISession(
        client_id="arthur-sa-demo", client_secret="arthur-sa-demo-secret", metadata=ArthurOIDCMetadata(provider.base)
    )
    me = UsersV1Api(ApiClient(ArthurOAuthSessionAPIConfiguration(session=session))).get_users_me()
    assert me.user_type == "service_account"
    assert me.client_id == "arthur-sa-demo"
    assert me.organization_name == "Demo Org"


def test_official_client_data_plane_gets_users_me(provider, settings) -> None:
    from controlplane.identity.models import DataPlane

    session = ArthurClientCredentialsAPISession(
        client_id=settings.DATAPLANE_CLIENT_ID,
        client_secret=settings.DATAPLANE_CLIENT_SECRET,
        metadata=ArthurOIDCMetadata(provider.base),
    )
    me = UsersV1Api(ApiClient(ArthurOAuthSessionAPIConfiguration(session=session))).get_users_me()
    assert me.user_type == "data_plane"
    assert me.data_plane_id == str(DataPlane.objects.get(name="Demo Engine").id)
    assert me.client_id is None


def test_official_device_authorizer_completes_after_approval(provider, browser_http, settings) -> None:
    from controlplane.identity.models import OAuth2Token

    settings.LOCAL_ARTHUR_DEVICE_INTERVAL = 1
    # Shorter than the SDK's 30 s leeway: every API call makes the SDK refresh (and us rotate).
    settings.LOCAL_ARTHUR_ACCESS_TOKEN_TTL = 20
    opened: list[str] = []
    result: dict = {}
    authorizer = DeviceAuthorizer(provider.base)
    # The SDK opens a browser; here the "browser" is recorded and approved by the test.
    authorizer._browser_open_f = lambda url: opened.append(url) or True

    def run() -> None:
        try:
            result["session"] = authorizer.authorize()
        except Exception as exc:  # surfaced by the assertion below
            result["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while not opened and time.monotonic() < deadline:
        time.sleep(0.05)
    assert opened, "DeviceAuthorizer never asked to open the verification page"
    user_code = opened[0].split("user_code=")[1]
    time.sleep(1.5)  # let it poll while pending at least once

    provider.sign_in(browser_http, email="editor@example.com")
    assert "Access approved" in _approve(provider, browser_http, user_code, "approve").text
    worker.join(timeout=15)
    assert not worker.is_alive(), "DeviceAuthorizer did not finish after approval"
    assert "error" not in result, result.get("error")
    session = result["session"]
    api = UsersV1Api(ApiClient(ArthurOAuthSessionAPIConfiguration(session=session)))
    for _ in range(2):
        me = api.get_users_me()
        assert me.email == "editor@example.com"
        assert me.user_type == "user"
    issued = OAuth2Token.objects.filter(user__email="editor@example.com", client_id="scope-cli-client")
    assert issued.count() >= 3  # device grant + one rotation per call
    assert issued.filter(rotated=True).count() == issued.count() - 1
    assert len({token.family_id for token in issued}) == 1


def test_device_flow_pending_slow_down_then_single_use(provider, browser_http, settings) -> None:
    settings.LOCAL_ARTHUR_DEVICE_INTERVAL = 2
    start = _start_device(provider)
    assert start.status_code == 200
    grant = start.json()
    assert set(grant) >= {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert grant["interval"] == 2
    assert grant["verification_uri"] == provider.url("device")

    first = _poll(provider, grant["device_code"])
    assert first.status_code == 400 and first.json()["error"] == "authorization_pending"
    assert first.headers["Cache-Control"] == "no-store"
    too_fast = _poll(provider, grant["device_code"])
    assert too_fast.json()["error"] == "slow_down"

    provider.sign_in(browser_http)
    _approve(provider, browser_http, grant["user_code"], "approve")
    issued = _poll(provider, grant["device_code"])
    assert issued.status_code == 200
    assert issued.json()["expires_in"] == 300
    assert issued.json()["refresh_token"]
    again = _poll(provider, grant["device_code"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_device_flow_denied(provider, browser_http) -> None:
    grant = _start_device(provider).json()
    provider.sign_in(browser_http)
    assert "Access denied" in _approve(provider, browser_http, grant["user_code"], "deny").text
    response = _poll(provider, grant["device_code"])
    assert response.status_code == 400
    assert response.json()["error"] == "access_denied"


def test_device_flow_expired(provider) -> None:
    from controlplane.identity.models import DeviceCode

    grant = _start_device(provider).json()
    DeviceCode.objects.filter(device_code=grant["device_code"]).update(expires_at=int(time.time()) - 1)
    response = _poll(provider, grant["device_code"])
    assert response.status_code == 400
    assert response.json()["error"] == "expired_token"


def test_device_code_bound_to_its_client(provider) -> None:
    from controlplane.identity.models import OAuthClient

    OAuthClient.objects.create(
        client_id="other-cli", name="Other CLI", grant_types=[DEVICE_GRANT], token_endpoint_auth_method="none"
    )
    grant = _start_device(provider).json()
    response = requests.post(
        provider.url("token"),
        data={"grant_type": DEVICE_GRANT, "device_code": grant["device_code"], "client_id": "other-cli"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_verification_page_requires_sign_in_and_throttles_guesses(provider, browser_http) -> None:
    anonymous = browser_http.get(provider.url("device"), params={"user_code": "BCDF-GHJK"}, allow_redirects=False)
    assert anonymous.status_code == 302
    assert "/api/v1/auth/oidc/login" in anonymous.headers["Location"]

    provider.sign_in(browser_http)
    statuses = [
        browser_http.get(provider.url("device"), params={"user_code": "ZZZZ-ZZZZ"}).status_code for _ in range(6)
    ]
    assert statuses[:5] == [400] * 5
    assert statuses[5] == 429
    # A real code is refused too while throttled: guessing cannot continue.
    grant = _start_device(provider).json()
    assert browser_http.get(provider.url("device"), params={"user_code": grant["user_code"]}).status_code == 429


def test_device_approval_needs_csrf(provider, browser_http) -> None:
    grant = _start_device(provider).json()
    provider.sign_in(browser_http)
    response = browser_http.post(provider.url("device"), data={"user_code": grant["user_code"], "decision": "approve"})
    assert response.status_code == 403
    assert _poll(provider, grant["device_code"]).json()["error"] == "authorization_pending"
