"""Local Arthur's identity data: tenants, the platform's users, OAuth clients and tokens.

One ``PlatformUser`` table holds the three kinds of platform user the official ``User`` shape knows
(``user``, ``service_account``, ``data_plane``): people sign in with a password, service accounts and
data planes with client credentials. Every secret is stored as a Django password hash and checked in
constant time by ``check_password``; none is ever logged.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.utils import timezone


class TimestampedModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


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


class PlatformUser(TimestampedModel):
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
    secret_hash = models.CharField(max_length=256, blank=True, default="")
    is_active = models.BooleanField(default=True)

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

    def set_secret(self, raw: str) -> None:
        """Store a password (people) or client secret (machines) as a salted hash."""
        self.secret_hash = make_password(raw)

    def check_secret(self, raw: str) -> bool:
        """Constant-time comparison against the stored hash; False when no secret is set."""
        if not self.secret_hash or not raw:
            return False
        return check_password(raw, self.secret_hash)

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or str(self)


class OAuthClient(TimestampedModel):
    """A registered OAuth client (the dashboard, ``scope-cli-client``, machine clients)."""

    client_id = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=200)
    secret_hash = models.CharField(max_length=256, blank=True, default="")
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

    def set_secret(self, raw: str) -> None:
        self.secret_hash = make_password(raw)

    def check_secret(self, raw: str) -> bool:
        if not self.secret_hash or not raw:
            return False
        return check_password(raw, self.secret_hash)


class OAuth2Token(models.Model):
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
