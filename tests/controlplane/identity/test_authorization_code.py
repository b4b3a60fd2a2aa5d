"""Authorization code + PKCE, refresh rotation and id_tokens, against the live provider
(security-and-ecosystem.md §B2, server side)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.oidc.core.util import create_half_hash
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.controlplane.identity.conftest import Provider, pkce_pair

pytestmark = pytest.mark.django_db(transaction=True)


def _error_query(response: requests.Response) -> dict[str, list[str]]:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)


def test_discovery_document_is_valid_and_absolute(provider: Provider) -> None:
    response = requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    metadata = response.json()
    OpenIDProviderMetadata(metadata).validate()
    assert metadata["issuer"] == provider.issuer
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "device_authorization_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
        "revocation_endpoint",
    ):
        assert metadata[key].startswith(provider.issuer + "/"), key
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "urn:ietf:params:oauth:grant-type:device_code" in metadata["grant_types_supported"]
    assert "client_credentials" in metadata["grant_types_supported"]


def test_discovery_follows_arthur_issuer_setting(provider: Provider, settings) -> None:
    settings.ARTHUR_ISSUER = "https://idp.example.test/api/v1/auth/oidc"
    metadata = requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert metadata["issuer"] == "https://idp.example.test/api/v1/auth/oidc"
    assert metadata["token_endpoint"] == "https://idp.example.test/api/v1/auth/oidc/token"


@pytest.mark.parametrize(
    "redirect_suffix",
    [
        "/accounts/callback/../evil",
        "/accounts/callback?foo=bar",
        "/accounts/callback/",
        "/accounts/other",
    ],
)
def test_unregistered_redirect_uri_gets_error_page_not_redirect(provider, browser_http, redirect_suffix) -> None:
    provider.sign_in(browser_http)
    response = provider.authorize(browser_http, redirect_uri=provider.base + redirect_suffix)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_request" in response.text
    assert "text/html" in response.headers["Content-Type"]


def test_foreign_host_redirect_uri_refused(provider, browser_http) -> None:
    provider.sign_in(browser_http)
    response = provider.authorize(browser_http, redirect_uri="https://evil.example/accounts/callback")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_unknown_client_gets_error_page_not_redirect(provider, browser_http) -> None:
    response = provider.authorize(browser_http, client_id="no-such-client")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_client" in response.text


def test_duplicate_parameters_refused(provider, browser_http) -> None:
    provider.sign_in(browser_http)
    url = provider.authorize(browser_http).request.url + "&client_id=" + provider.client_id
    response = browser_http.get(url, allow_redirects=False)
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_signed_out_person_is_sent_to_the_sign_in_page(provider, browser_http) -> None:
    response = provider.authorize(browser_http)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/api/v1/auth/oidc/login"
    assert parse_qs(location.query)["next"][0].startswith("/api/v1/auth/oidc/authorize?")


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "missing challenge"),
        ({"code_challenge_method": "plain"}, "plain method"),
        ({"code_challenge_method": None}, "challenge without method means plain"),
        ({"code_challenge": "short"}, "malformed challenge"),
    ],
)
def test_pkce_challenge_required_and_s256_only(provider, browser_http, overrides, description) -> None:
    provider.sign_in(browser_http)
    query = _error_query(provider.authorize(browser_http, **overrides))
    assert query["error"] == ["invalid_request"], description
    assert query["state"] == ["state-123"]
    assert "code" not in query


def test_s256_code_flow_issues_verified_id_token(provider, browser_http) -> None:
    nonce = "nonce-abc-123"
    code, verifier = provider.code_for(browser_http, nonce=nonce)
    response = provider.redeem(code, verifier)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 300
    assert token["refresh_token"]

    metadata = requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=10).json()
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256" and decoded.header["kid"]
    claims_registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.client_id},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    claims_registry.validate(decoded.claims)
    assert decoded.claims["exp"] > time.time()
    assert decoded.claims["at_hash"] == create_half_hash(token["access_token"], "RS256").decode()
    assert decoded.claims["email"] == "admin@example.com"

    me = requests.get(
        f"{provider.base}/api/v1/users/me", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    )
    assert me.status_code == 200
    assert me.json()["email"] == "admin@example.com"
    assert me.json()["user_type"] == "user"


def test_id_token_signature_fails_with_another_key(provider, browser_http) -> None:
    from joserfc.errors import BadSignatureError
    from joserfc.jwk import RSAKey

    code, verifier = provider.code_for(browser_http)
    id_token = provider.redeem(code, verifier).json()["id_token"]
    other = RSAKey.generate_key(2048, auto_kid=True)
    with pytest.raises(BadSignatureError):
        jwt.decode(id_token, other, algorithms=["RS256"])


def test_missing_verifier_refused(provider, browser_http) -> None:
    code, _ = provider.code_for(browser_http)
    response = provider.redeem(code, None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_wrong_verifier_refused(provider, browser_http) -> None:
    code, _ = provider.code_for(browser_http)
    response = provider.redeem(code, pkce_pair()[0])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_verifier_for_code_without_challenge_refused(provider) -> None:
    # Such a code cannot be issued through the endpoint any more; a stored one must not redeem.
    from controlplane.identity.models import AuthorizationCode, PlatformUser

    user = PlatformUser.objects.get(email="viewer@example.com")
    for code in ("legacy-code-with-verifier", "legacy-code-without-verifier"):
        AuthorizationCode.objects.create(
            code=code,
            client_id=provider.client_id,
            user=user,
            redirect_uri=provider.callback,
            scope="openid",
            auth_time=int(time.time()),
            expires_at=int(time.time()) + 60,
        )
    with_verifier = provider.redeem("legacy-code-with-verifier", pkce_pair()[0])
    without_verifier = provider.redeem("legacy-code-without-verifier", None)
    assert with_verifier.status_code == 400 and with_verifier.json()["error"] == "invalid_request"
    assert without_verifier.status_code == 400 and without_verifier.json()["error"] == "invalid_request"


def test_code_reuse_revokes_first_tokens(provider, browser_http) -> None:
    code, verifier = provider.code_for(browser_http)
    first = provider.redeem(code, verifier)
    assert first.status_code == 200
    access = first.json()["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    assert requests.get(f"{provider.base}/api/v1/users/me", headers=headers, timeout=10).status_code == 200

    second = provider.redeem(code, verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert requests.get(f"{provider.base}/api/v1/users/me", headers=headers, timeout=10).status_code == 401
    assert provider.refresh(first.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_expired_code_refused(provider, browser_http) -> None:
    from controlplane.identity.models import AuthorizationCode

    code, verifier = provider.code_for(browser_http)
    stored = AuthorizationCode.objects.get(code=code)
    assert stored.expires_at - time.time() <= 60
    AuthorizationCode.objects.filter(code=code).update(expires_at=int(time.time()) - 1)
    response = provider.redeem(code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_bound_to_redirect_uri(provider, browser_http) -> None:
    from controlplane.identity.models import OAuthClient

    other = f"{provider.base}/accounts/callback-two"
    client = OAuthClient.objects.get(client_id=provider.client_id)
    client.redirect_uris = [*client.redirect_uris, other]
    client.save()
    code, verifier = provider.code_for(browser_http)
    response = provider.redeem(code, verifier, redirect_uri=other)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_bound_to_client(provider, browser_http) -> None:
    from controlplane.identity.models import OAuthClient

    intruder = OAuthClient(
        client_id="intruder",
        name="Intruder",
        grant_types=["authorization_code"],
        response_types=["code"],
        redirect_uris=[provider.callback],
    )
    intruder.set_secret("intruder-secret")
    intruder.save()
    code, verifier = provider.code_for(browser_http)
    response = provider.redeem(code, verifier, auth=("intruder", "intruder-secret"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    # The rightful client can still redeem it: the intruder's attempt found no code of its own.
    assert provider.redeem(code, verifier).status_code == 200


def test_wrong_client_secret_is_401_invalid_client(provider, browser_http) -> None:
    code, verifier = provider.code_for(browser_http)
    response = provider.redeem(code, verifier, auth=(provider.client_id, "wrong-secret"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.headers["Cache-Control"] == "no-store"


def test_confidential_client_cannot_skip_authentication(provider, browser_http) -> None:
    code, verifier = provider.code_for(browser_http)
    response = requests.post(
        provider.url("token"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": provider.callback,
            "code_verifier": verifier,
            "client_id": provider.client_id,
        },
        timeout=10,
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_refresh_rotates_and_reuse_revokes_family(provider, browser_http) -> None:
    code, verifier = provider.code_for(browser_http)
    first = provider.redeem(code, verifier).json()
    second = provider.refresh(first["refresh_token"])
    assert second.status_code == 200
    assert second.headers["Cache-Control"] == "no-store"
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["expires_in"] == 300
    headers = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert requests.get(f"{provider.base}/api/v1/users/me", headers=headers, timeout=10).status_code == 200

    replay = provider.refresh(first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The whole family is gone: the newest access and refresh tokens too.
    assert requests.get(f"{provider.base}/api/v1/users/me", headers=headers, timeout=10).status_code == 401
    assert provider.refresh(rotated["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_cannot_widen_scope(provider, browser_http) -> None:
    code, verifier = provider.code_for(browser_http, scope="openid email")
    token = provider.redeem(code, verifier).json()
    response = requests.post(
        provider.url("token"),
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "scope": "openid email profile"},
        auth=(provider.client_id, provider.client_secret),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_userinfo_with_and_without_token(provider, browser_http) -> None:
    anonymous = requests.get(provider.url("userinfo"), timeout=10)
    assert anonymous.status_code == 401
    assert "WWW-Authenticate" in anonymous.headers
    bogus = requests.get(provider.url("userinfo"), headers={"Authorization": "Bearer nope"}, timeout=10)
    assert bogus.status_code == 401

    code, verifier = provider.code_for(browser_http, scope="openid email")
    token = provider.redeem(code, verifier).json()
    response = requests.get(
        provider.url("userinfo"), headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    info = response.json()
    assert info["email"] == "admin@example.com"
    assert "name" not in info  # profile was not granted


def test_revocation_ends_the_grant(provider, browser_http) -> None:
    code, verifier = provider.code_for(browser_http)
    token = provider.redeem(code, verifier).json()
    response = requests.post(
        provider.url("revoke"),
        data={"token": token["refresh_token"]},
        auth=(provider.client_id, provider.client_secret),
        timeout=10,
    )
    assert response.status_code == 200
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(f"{provider.base}/api/v1/users/me", headers=headers, timeout=10).status_code == 401


def test_unsupported_grant_type_and_response_type(provider, browser_http) -> None:
    password_grant = requests.post(
        provider.url("token"),
        data={"grant_type": "password", "username": "admin@example.com", "password": "arthur-demo"},
        auth=(provider.client_id, provider.client_secret),
        timeout=10,
    )
    assert password_grant.status_code == 400
    assert password_grant.json()["error"] == "unsupported_grant_type"

    provider.sign_in(browser_http)
    implicit = provider.authorize(browser_http, response_type="token")
    assert _error_query(implicit)["error"] == ["unsupported_response_type"]


def test_access_token_expires(provider, browser_http, settings) -> None:
    settings.LOCAL_ARTHUR_ACCESS_TOKEN_TTL = 1
    code, verifier = provider.code_for(browser_http)
    token = provider.redeem(code, verifier).json()
    assert token["expires_in"] == 1
    time.sleep(2.1)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(f"{provider.base}/api/v1/users/me", headers=headers, timeout=10).status_code == 401


def test_concurrent_redemptions_leave_no_usable_token(provider, browser_http) -> None:
    from concurrent.futures import ThreadPoolExecutor

    code, verifier = provider.code_for(browser_http)
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: provider.redeem(code, verifier), range(4)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(200) <= 1
    assert statuses.count(400) >= 3
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code == 400)
    # A replay was seen, so whatever the winner got is revoked as well.
    for response in responses:
        if response.status_code == 200:
            headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
            assert requests.get(f"{provider.base}/api/v1/users/me", headers=headers, timeout=10).status_code == 401


def test_api_requires_bearer_token(provider) -> None:
    assert requests.get(f"{provider.base}/api/v1/users/me", timeout=10).status_code == 401
    headers = {"Authorization": "Bearer not-a-token"}
    assert requests.get(f"{provider.base}/api/v1/users/me", headers=headers, timeout=10).status_code == 401


def test_plain_http_on_a_public_host_is_refused_as_json(client, monkeypatch, settings) -> None:
    # Outside loopback, OAuth over plain http is refused (authlib's transport check), as JSON.
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    settings.ALLOWED_HOSTS = ["idp.example.test"]
    response = client.post("/api/v1/auth/oidc/token", {"grant_type": "client_credentials"},
                           HTTP_HOST="idp.example.test")
    assert response.status_code == 400
    assert response.json()["error"] == "insecure_transport"
