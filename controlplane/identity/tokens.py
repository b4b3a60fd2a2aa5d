"""Bearer tokens: the one place the API resolves an access token to a platform user.

The OAuth grants (authorization code, refresh, client credentials, device code) mint tokens through
``issue_access_token``; the API's bearer auth calls ``resolve_access_token``.
"""

from __future__ import annotations

import secrets
import time

from django.conf import settings

from controlplane.identity.models import OAuth2Token, PlatformUser
from controlplane.rows import only_row


def resolve_access_token(raw: str) -> PlatformUser | None:
    """The active user behind an unexpired, unrevoked access token, or None."""
    if not raw or len(raw) > 255 or "\x00" in raw:  # PostgreSQL cannot even compare text with NUL
        return None
    token = only_row(OAuth2Token.objects.select_related("user").filter(access_token=raw))
    if token is None or not token.is_access_active(int(time.time())) or not token.user.is_active:
        return None
    return token.user


def issue_access_token(
    user: PlatformUser,
    *,
    client_id: str,
    scope: str = "openid email profile",
    expires_in: int | None = None,
    with_refresh: bool = False,
) -> OAuth2Token:
    """Mint and store a bearer token for `user` (tests and grants use this)."""
    return OAuth2Token.objects.create(
        client_id=client_id,
        user=user,
        access_token=secrets.token_urlsafe(32),
        refresh_token=secrets.token_urlsafe(48) if with_refresh else None,
        scope=scope,
        issued_at=int(time.time()),
        expires_in=expires_in if expires_in is not None else settings.LOCAL_ARTHUR_ACCESS_TOKEN_TTL,
    )
