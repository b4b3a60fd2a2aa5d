"""Local Arthur's identity data: tenants, the platform's users, OAuth clients and tokens.

One ``PlatformUser`` table holds the three kinds of platform user the official ``User`` shape knows
(``user``, ``service_account``, ``data_plane``): people sign in with a password, service accounts and
data planes with client credentials. Every secret is stored as a Django password hash and checked in
constant time by ``check_password``; none is ever logged.
"""

from __future__ import annotations

import time
import uuid

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.utils import timezone

# Token-endpoint auth methods a confidential client may use interchangeably (RFC 6749 §2.3.1).
CONFIDENTIAL_AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post"})


class TimestampedModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class HashedSecretModel(models.Model):
    """A row that authenticates with a secret (password or client secret), kept only as a salted hash."""

    secret_hash = models.CharField(max_length=256, blank=True, default="")

    class Meta:
        abstract = True

    def set_secret(self, raw: str) -> None:
        """Store a password (people) or client secret (machines) as a salted hash."""
        self.secret_hash = make_password(raw)

    def check_secret(self, raw: str) -> bool:
        """Constant-time comparison against the stored hash; False when no secret is set."""
        if not self.secret_hash or not raw:
            return False
        return check_password(raw, self.secret_hash)


class Organization(TimestampedModel):
    name = models.CharField(max_length=200, unique=True)

    def __str__(self) -> str:
        return self.name


class Workspace(TimestampedModel):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="workspaces")
    name = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="workspace_name_unique")]

    def __str__(self) -> str:
        return self.name


class DataPlane(TimestampedModel):
    """An engine ("data plane" is the platform's legacy name) registered in a workspace."""

    class Infrastructure(models.TextChoices):
        AWS = "AWS"
        AZURE = "Azure"
        GCP = "GCP"
        DOCKER = "Docker"
        KUBERNETES = "Kubernetes"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="data_planes")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    infrastructure = models.CharField(max_length=20, choices=Infrastructure, default=Infrastructure.DOCKER)
    last_check_in_time = models.DateTimeField(null=True, blank=True)
    gen_ai_enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name


class PlatformUser(HashedSecretModel, TimestampedModel):
    """A platform identity: a person, a service account or a data plane's credentials."""

    class UserType(models.TextChoices):
        USER = "user"
        SERVICE_ACCOUNT = "service_account"
        DATA_PLANE = "data_plane"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="users")
    user_type = models.CharField(max_length=20, choices=UserType)
    # People: email + password. Machines: client_id + secret (both hashed into `secret_hash`).
    email = models.EmailField(null=True, blank=True, unique=True)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150, null=True, blank=True)
    client_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    data_plane = models.OneToOneField(
        DataPlane, null=True, blank=True, on_delete=models.CASCADE, related_name="credential_user"
    )
    is_active = models.BooleanField(default=True)
    # Hash of the demo password the seed last applied: lets a re-seed tell "the demo password setting
    # changed" (apply it) from "the person changed their password" (keep it). Empty: not seeded.
    seeded_password_hash = models.CharField(max_length=256, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(user_type="user") | models.Q(email__isnull=False),
                name="person_has_email",
            ),
            models.CheckConstraint(
                condition=models.Q(user_type="user") | models.Q(client_id__isnull=False),
                name="machine_has_client_id",
            ),
        ]

    def __str__(self) -> str:
        return self.email or self.client_id or str(self.id)

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or str(self)


class OAuthClient(ClientMixin, HashedSecretModel, TimestampedModel):
    """A registered OAuth client (the dashboard, ``scope-cli-client``).

    Service accounts and data planes are not rows here: the provider resolves their client ids to
    ``PlatformUser`` rows (see ``controlplane.identity.server.MachineClient``).
    """

    client_id = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=200)
    # Exact-match list; never a substring or prefix comparison.
    redirect_uris = models.JSONField(default=list, blank=True)
    post_logout_redirect_uris = models.JSONField(default=list, blank=True)
    grant_types = models.JSONField(default=list, blank=True)
    response_types = models.JSONField(default=list, blank=True)
    scope = models.CharField(max_length=500, default="openid email profile")
    token_endpoint_auth_method = models.CharField(max_length=40, default="client_secret_basic")
    # For client-credentials clients: whose identity the tokens carry.
    user = models.ForeignKey(PlatformUser, null=True, blank=True, on_delete=models.CASCADE)

    def __str__(self) -> str:
        return self.client_id

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    # --- authlib ClientMixin -------------------------------------------------------------------
    @property
    def client_metadata(self) -> dict:
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # Never guess: every authorization request must name one of the registered URIs.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.scope.split()
        if not scope:
            return " ".join(allowed)
        return " ".join(item for item in scope.split() if item in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match against the registered list (RFC 9700 §2.1): no prefix, no normalising.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.check_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        registered = self.token_endpoint_auth_method
        if registered in CONFIDENTIAL_AUTH_METHODS:
            return method in CONFIDENTIAL_AUTH_METHODS
        return method == registered

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class OAuth2Token(TokenMixin, models.Model):
    """An issued access token (and refresh token, for grants that get one)."""

    client_id = models.CharField(max_length=200, db_index=True)
    user = models.ForeignKey(PlatformUser, on_delete=models.CASCADE, related_name="tokens")
    token_type = models.CharField(max_length=40, default="Bearer")
    access_token = models.CharField(max_length=255, unique=True)
    refresh_token = models.CharField(max_length=255, unique=True, null=True, blank=True)
    scope = models.TextField(default="")
    issued_at = models.IntegerField()
    expires_in = models.IntegerField()
    access_token_revoked_at = models.IntegerField(default=0)
    refresh_token_revoked_at = models.IntegerField(default=0)
    # Rotation bookkeeping: every token minted from one original grant shares a family.
    family_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    rotated = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"token for {self.user_id} via {self.client_id}"

    def is_access_active(self, now: int) -> bool:
        return not self.access_token_revoked_at and self.issued_at + self.expires_in > now

    def is_refresh_active(self, now: int) -> bool:
        """A refresh token lives until rotated or revoked, or until it sits unused for the refresh TTL."""
        return (
            bool(self.refresh_token)
            and not self.rotated
            and not self.refresh_token_revoked_at
            and self.issued_at + settings.LOCAL_ARTHUR_REFRESH_TOKEN_TTL > now
        )

    # --- authlib TokenMixin --------------------------------------------------------------------
    def check_client(self, client) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return self.issued_at + self.expires_in <= int(time.time())

    def is_revoked(self) -> bool:
        return bool(self.access_token_revoked_at) or not self.user.is_active

    def get_user(self) -> PlatformUser:
        return self.user


class AuthorizationCode(AuthorizationCodeMixin, models.Model):
    """An authorization code. Kept after redemption (``used``) so a second redemption can be detected
    and the tokens of the first one revoked (RFC 6749 §4.1.2); ``family_id`` links those tokens."""

    code = models.CharField(max_length=120, unique=True)
    client_id = models.CharField(max_length=200, db_index=True)
    user = models.ForeignKey(PlatformUser, on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.TextField()
    scope = models.TextField(default="")
    nonce = models.CharField(max_length=255, null=True, blank=True)
    code_challenge = models.CharField(max_length=128, default="")
    code_challenge_method = models.CharField(max_length=10, default="")
    auth_time = models.IntegerField()
    expires_at = models.IntegerField()
    used = models.BooleanField(default=False)
    family_id = models.UUIDField(default=uuid.uuid4)

    class Meta:
        indexes = [models.Index(fields=["client_id", "nonce"], name="authcode_client_nonce")]

    def __str__(self) -> str:
        return f"code for {self.user_id} via {self.client_id}"

    def is_expired(self) -> bool:
        return self.expires_at <= int(time.time())

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


class DeviceCode(models.Model):
    """An RFC 8628 device authorization: pending until a signed-in person approves or denies it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DENIED = "denied"

    device_code = models.CharField(max_length=120, unique=True)
    user_code = models.CharField(max_length=20, unique=True)
    client_id = models.CharField(max_length=200)
    scope = models.TextField(default="")
    expires_at = models.IntegerField()
    interval = models.IntegerField()
    last_polled_at = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    user = models.ForeignKey(PlatformUser, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Set once tokens were issued: a device code mints tokens at most once.
    consumed = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"device code {self.user_code} ({self.status})"

    def is_expired(self) -> bool:
        return self.expires_at <= int(time.time())

    # --- authlib DeviceCredentialMixin ---------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_user_code(self) -> str:
        return self.user_code


class SigningKey(models.Model):
    """The provider's RS256 id_token signing key (private JWK), generated on first use."""

    kid = models.CharField(max_length=100, unique=True)
    private_jwk = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.kid


class ProviderSession(models.Model):
    """A person signed in on the provider's own pages (cookie ``la_session``), separate from the
    dashboard's Django session. Only a SHA-256 of the cookie's random key is stored."""

    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(PlatformUser, on_delete=models.CASCADE, related_name="+")
    auth_time = models.IntegerField()
    expires_at = models.IntegerField()

    def __str__(self) -> str:
        return f"provider session of {self.user_id}"
