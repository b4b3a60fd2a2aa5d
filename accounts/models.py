"""The server-side token store: who a dashboard user is at Arthur, and their tokens.

Tokens live here, in the database, never in a cookie. There is one row per person, so every
browser session of that person shares one token set, and refreshing it is serialized per person
(see ``accounts.tokens``). Signing out in one browser therefore ends the others' access to Arthur
too: their next call sends them to sign in again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ArthurAccount(models.Model):
    """A dashboard user's Arthur identity (issuer + subject) and their current tokens."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="arthur_account")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    access_token = models.TextField(blank=True, default="")
    refresh_token = models.TextField(blank=True, default="")
    # Kept for RP-initiated logout (`id_token_hint`).
    id_token = models.TextField(blank=True, default="")
    token_type = models.CharField(max_length=40, blank=True, default="Bearer")
    scope = models.CharField(max_length=500, blank=True, default="")
    # Unix seconds; None means the provider did not say (treated as "refresh now").
    expires_at = models.BigIntegerField(null=True, blank=True)
    # While a request refreshes the tokens it holds this lease (unix seconds) so no other request
    # spends the same refresh token; an abandoned lease simply runs out.
    refresh_lease_until = models.FloatField(null=True, blank=True)
    refresh_lease_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="arthur_account_identity_unique")]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"

    @property
    def has_tokens(self) -> bool:
        return bool(self.access_token)

    def clear_tokens(self) -> None:
        """Forget every token and any refresh lease (the caller saves)."""
        self.access_token = ""
        self.refresh_token = ""
        self.id_token = ""
        self.expires_at = None
        self.refresh_lease_until = None
        self.refresh_lease_id = ""
