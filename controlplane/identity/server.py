"""Local Arthur's OAuth 2.0 / OpenID Connect provider, built on authlib's Django server integration.

authlib does the protocol; this module supplies storage and closes the gaps authlib leaves to the
implementer (security-and-ecosystem.md §A2, RFC 9700):

- PKCE is required for every authorization request and only ``S256`` is accepted;
- codes live 60 s, are single-use with an atomic claim, and a second redemption revokes every token
  the first one produced (the code's token family);
- refresh tokens rotate; presenting a rotated one revokes its whole family;
- a device code mints tokens once; polling faster than ``interval`` answers ``slow_down``;
- service accounts and data planes authenticate with their ``PlatformUser`` credentials
  (``MachineClient``), so the control plane can create them without registering OAuth clients.

Callers: ``controlplane.identity.views`` (HTTP) and the tests.
"""

from __future__ import annotations

import time

from authlib.common.security import generate_token
from authlib.integrations.django_oauth2 import AuthorizationServer, BearerTokenValidator, ResourceProtector
from authlib.oauth2.rfc6749 import ClientMixin, InvalidGrantError, InvalidRequestError, UnauthorizedClientError, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE, DeviceAuthorizationEndpoint, DeviceCodeGrant
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from django.conf import settings
from django.db.models import Q

from controlplane.identity.keys import ALGORITHM, public_jwks, signing_key
from controlplane.identity.models import (
    CONFIDENTIAL_AUTH_METHODS,
    AuthorizationCode,
    DeviceCode,
    OAuth2Token,
    OAuthClient,
    PlatformUser,
)
from controlplane.identity.signin import end_all_sessions

SCOPES = ("openid", "email", "profile")
AUTHORIZATION_CODE_TTL = 60
DEVICE_CODE_TTL = 600
# RFC 8628 §3.5: each slow_down adds 5 seconds to the interval.
SLOW_DOWN_STEP = 5
PURGE_AFTER = 3600
MACHINE_USER_TYPES = (PlatformUser.UserType.SERVICE_ACCOUNT, PlatformUser.UserType.DATA_PLANE)


def issuer() -> str:
    """The issuer URL, read at call time (tests point ARTHUR_HOST at a live server)."""
    return settings.ARTHUR_ISSUER or f"{settings.ARTHUR_HOST}/api/v1/auth/oidc"


def endpoint_url(name: str) -> str:
    """Absolute URL of one of the provider's endpoints (``token``, ``authorize``, ...)."""
    return f"{issuer()}/{name}"


def purge_expired() -> None:
    """Drop codes expired for over an hour. Until then a used code still revokes its tokens when
    replayed, and a device still polling an expired code is told ``expired_token``."""
    cutoff = int(time.time()) - PURGE_AFTER
    AuthorizationCode.objects.filter(expires_at__lte=cutoff).delete()
    DeviceCode.objects.filter(expires_at__lte=cutoff).delete()


def revoke_family(family_id) -> int:
    """Revoke every access and refresh token of one grant family; returns how many rows changed."""
    now = int(time.time())
    return OAuth2Token.objects.filter(family_id=family_id).filter(
        Q(access_token_revoked_at=0) | Q(refresh_token_revoked_at=0)
    ).update(access_token_revoked_at=now, refresh_token_revoked_at=now)


class MachineClient(ClientMixin):
    """A service account or data plane acting as an OAuth client (client credentials, HTTP Basic)."""

    def __init__(self, user: PlatformUser):
        self.user = user
        self.client_id = user.client_id
        self.user_id = user.pk

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(SCOPES)
        return " ".join(item for item in scope.split() if item in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return self.user.check_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in CONFIDENTIAL_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class S256CodeChallenge(CodeChallenge):
    """PKCE for every client, S256 only (RFC 9700 §2.1.1). A challenge without a method means
    ``plain`` (RFC 7636 §4.3) and is refused like an explicit ``plain``."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only the 'S256' code_challenge_method is supported.")
        return super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.authorization_code.code_challenge:
            # A code without a challenge cannot be redeemed, with or without a verifier.
            raise InvalidRequestError("The authorization request had no 'code_challenge'.")
        return super().validate_code_verifier(grant, result)


class OIDCCode(OpenIDCode):
    """id_tokens for the code flow: RS256 with the persisted key, its ``kid`` in the header."""

    def exists_nonce(self, nonce, request) -> bool:
        return AuthorizationCode.objects.filter(client_id=request.payload.client_id, nonce=nonce).exists()

    def resolve_client_private_key(self, client):
        return signing_key()

    def get_client_algorithm(self, client) -> str:
        return ALGORITHM

    def get_encode_header(self, client) -> dict:
        return {"alg": ALGORITHM, "kid": signing_key().kid}

    def get_client_claims(self, client) -> dict:
        return {"iss": issuer(), "aud": client.get_client_id()}

    def generate_user_info(self, user, scope):
        return user_info(user, scope)


def user_info(user: PlatformUser, scope: str) -> UserInfo:
    """The OIDC claims of `user`, limited to what `scope` grants."""
    info = UserInfo(
        sub=str(user.pk),
        name=user.display_name,
        given_name=user.first_name,
        family_name=user.last_name or "",
        preferred_username=user.email or user.client_id,
        updated_at=int(user.updated_at.timestamp()),
    )
    if user.email:
        info["email"] = user.email
        info["email_verified"] = True
    return info.filter(scope)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        purge_expired()
        AuthorizationCode.objects.create(
            code=code,
            client_id=request.client.get_client_id(),
            user=request.user,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data.get("nonce") or None,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            # Set by the authorize view from the person's provider session.
            auth_time=request.auth_time,
            expires_at=int(time.time()) + AUTHORIZATION_CODE_TTL,
        )

    def query_authorization_code(self, code, client):
        item = AuthorizationCode.objects.filter(code=code, client_id=client.get_client_id()).first()
        if item is None:
            return None
        if item.used:
            revoke_family(item.family_id)
            return None
        return None if item.is_expired() else item

    def create_token_response(self):
        # The claim is one conditional UPDATE inside the token view's transaction: of two concurrent
        # redemptions exactly one wins, and the loser revokes what the winner issued.
        code = self.request.authorization_code
        if not AuthorizationCode.objects.filter(pk=code.pk, used=False).update(used=True):
            revoke_family(code.family_id)
            raise InvalidGrantError("The authorization code was already used.")
        return super().create_token_response()

    def delete_authorization_code(self, authorization_code):
        # Kept (marked used by the claim above): a replay must still find it to revoke its tokens.
        return None

    def authenticate_user(self, authorization_code):
        user = authorization_code.user
        return user if user.is_active else None


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        token = OAuth2Token.objects.select_related("user").filter(refresh_token=refresh_token).first()
        if token is None:
            return None
        if token.rotated or token.refresh_token_revoked_at:
            # Reuse of a rotated (or revoked) refresh token: someone holds a stolen copy.
            revoke_family(token.family_id)
            return None
        return token if token.is_refresh_active(int(time.time())) else None

    def authenticate_user(self, refresh_token):
        user = refresh_token.user
        return user if user.is_active else None

    def revoke_old_credential(self, refresh_token):
        now = int(time.time())
        claimed = OAuth2Token.objects.filter(pk=refresh_token.pk, rotated=False, refresh_token_revoked_at=0).update(
            rotated=True, refresh_token_revoked_at=now
        )
        if not claimed:
            # A concurrent request rotated the same token first: treat it as reuse.
            revoke_family(refresh_token.family_id)
            raise InvalidGrantError("The refresh token was already used.")


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class DeviceGrant(DeviceCodeGrant):
    def query_device_credential(self, device_code):
        item = DeviceCode.objects.filter(device_code=device_code).first()
        if item is None:
            raise InvalidGrantError("Unknown 'device_code'.")
        if item.consumed:
            raise InvalidGrantError("The device code was already used.")
        return item

    def query_user_grant(self, user_code):
        item = DeviceCode.objects.select_related("user").get(user_code=user_code)
        if item.status == DeviceCode.Status.APPROVED and item.user and item.user.is_active:
            return item.user, True
        if item.status == DeviceCode.Status.DENIED:
            return None, False
        return None

    def should_slow_down(self, credential):
        now = time.time()
        too_fast = credential.last_polled_at is not None and now - credential.last_polled_at < credential.interval
        credential.last_polled_at = now
        if too_fast:
            credential.interval += SLOW_DOWN_STEP
        credential.save(update_fields=["last_polled_at", "interval"])
        return too_fast

    def create_token_response(self):
        credential = self.request.credential
        if not DeviceCode.objects.filter(pk=credential.pk, consumed=False).update(consumed=True):
            raise InvalidGrantError("The device code was already used.")
        return super().create_token_response()


class DeviceEndpoint(DeviceAuthorizationEndpoint):
    EXPIRES_IN = DEVICE_CODE_TTL

    @property
    def INTERVAL(self) -> int:  # noqa: N802 - authlib's attribute name
        return settings.LOCAL_ARTHUR_DEVICE_INTERVAL

    def authenticate_client(self, request):
        client = super().authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE_GRANT_TYPE):
            raise UnauthorizedClientError("The client may not use the device authorization grant.")
        return client

    def get_verification_uri(self) -> str:
        return endpoint_url("device")

    def save_device_credential(self, client_id, scope, data):
        purge_expired()
        DeviceCode.objects.create(
            device_code=data["device_code"],
            user_code=data["user_code"],
            client_id=client_id,
            scope=scope or "",
            expires_at=int(time.time()) + data["expires_in"],
            interval=data["interval"],
        )


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string, token_type_hint):
        by_access = Q(access_token=token_string)
        by_refresh = Q(refresh_token=token_string)
        if token_type_hint == "access_token":
            query = by_access
        elif token_type_hint == "refresh_token":
            query = by_refresh
        else:
            query = by_access | by_refresh
        return OAuth2Token.objects.filter(query).first()

    def revoke_token(self, token, request):
        if token.refresh_token and token.refresh_token == request.form.get("token"):
            # RFC 7009 §2.1: revoking a refresh token ends the grant, access tokens included.
            revoke_family(token.family_id)
        else:
            OAuth2Token.objects.filter(pk=token.pk).update(access_token_revoked_at=int(time.time()))


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self) -> dict:
        return public_jwks()

    def get_algorithms(self) -> list[str]:
        return [ALGORITHM]

    def end_session(self, end_session_request):
        # With a valid id_token_hint the relying party names the person: end all their provider sessions.
        claims = end_session_request.id_token_claims
        if claims and claims.get("sub"):
            end_all_sessions(claims["sub"])


class ProviderServer(AuthorizationServer):
    """authlib's Django server with our client lookup, token storage and lifetimes."""

    def __init__(self):
        super().__init__(OAuthClient, OAuth2Token)
        self.scopes_supported = list(SCOPES)
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: generate_token(42),
                refresh_token_generator=lambda **_: generate_token(48),
                expires_generator=lambda client, grant_type: settings.LOCAL_ARTHUR_ACCESS_TOKEN_TTL,
            ),
        )

    def query_client(self, client_id):
        client = OAuthClient.objects.filter(client_id=client_id).first()
        if client is not None:
            return client
        machine = (
            PlatformUser.objects.filter(client_id=client_id, user_type__in=MACHINE_USER_TYPES, is_active=True)
            .select_related("organization")
            .first()
        )
        return MachineClient(machine) if machine is not None else None

    def save_token(self, token, request):
        client = request.client
        user = request.user or getattr(client, "user", None)
        if request.authorization_code is not None:
            family_id = request.authorization_code.family_id
        elif request.refresh_token is not None:
            family_id = request.refresh_token.family_id
        else:
            family_id = None
        item = OAuth2Token(
            client_id=client.get_client_id(),
            user=user,
            token_type=token["token_type"],
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            scope=token.get("scope", ""),
            issued_at=int(time.time()),
            expires_in=token["expires_in"],
        )
        if family_id is not None:
            item.family_id = family_id
        item.save()
        return item


class ActiveBearerValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        if "\x00" in token_string:  # PostgreSQL cannot even compare text with NUL
            return None
        return OAuth2Token.objects.select_related("user", "user__organization").filter(
            access_token=token_string
        ).first()


server = ProviderServer()
server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), OIDCCode(require_nonce=False)])
server.register_grant(RefreshTokenGrant)
server.register_grant(ClientCredentialsGrant)
server.register_grant(DeviceGrant)
server.register_endpoint(DeviceEndpoint)
server.register_endpoint(Revocation)
server.register_endpoint(EndSession)

require_oauth = ResourceProtector()
require_oauth.register_token_validator(ActiveBearerValidator(OAuth2Token))
