"""Tokens for the signed-in person: stored after sign-in, refreshed before they expire, cleared on sign-out.

Refresh is serialized per person. Arthur rotates refresh tokens (spending one twice revokes the
whole family), so two concurrent requests (an HTMX poll and a form post, say) must never both
refresh with the same token. The first request takes a short *lease* on the person's token row
inside a transaction that locks the row (``select_for_update`` on PostgreSQL; SQLite's IMMEDIATE
transactions serialize writers), commits, and refreshes; the others wait for the new token. The
lock is not held across the HTTP call on purpose: with SQLite a held write lock would stop an
embedded identity provider, which writes to the same database, from answering the refresh.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.http import HttpRequest

from accounts import oauth
from accounts.models import ArthurAccount
from arthur_api.auth import BearerTokenAuth
from arthur_api.client import ArthurClient, new_session
from arthur_api.errors import ArthurUnauthenticated, ArthurUnavailable

logger = logging.getLogger(__name__)

# Refresh this long before the access token expires, so a call never leaves with a dying token.
REFRESH_LEEWAY_SECONDS = 60
# How long one request may hold the refresh lease before others may take over.
LEASE_SECONDS = 20.0
POLL_SECONDS = 0.05
# OAuth errors that mean "this refresh token is no good": the person must sign in again.
REFRESH_REFUSED = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"})


class SignInRequired(ArthurUnauthenticated):
    """The person has no usable tokens (never signed in, signed out, or refresh refused)."""


def store_tokens(account: ArthurAccount, token: Mapping[str, Any]) -> None:
    """Save a token response on the account (after sign-in or a refresh) and release any lease.

    A response without a new refresh token keeps the old one (RFC 6749 §6 allows that).
    """
    account.access_token = token["access_token"]
    if token.get("refresh_token"):
        account.refresh_token = token["refresh_token"]
    if token.get("id_token"):
        account.id_token = token["id_token"]
    account.token_type = token.get("token_type") or "Bearer"
    account.scope = token.get("scope") or account.scope
    account.expires_at = _expires_at(token)
    account.refresh_lease_until = None
    account.refresh_lease_id = ""
    account.save()


@dataclass(frozen=True)
class ClearedTokens:
    """What sign-out still needs after the tokens are gone: the id_token hint and the refresh token."""

    id_token: str = ""
    refresh_token: str = ""


def clear_tokens(user: AbstractBaseUser) -> ClearedTokens:
    """Forget the person's tokens (sign-out). Returns the ones sign-out still has a use for."""
    with transaction.atomic():
        account = ArthurAccount.objects.select_for_update().filter(user=user).first()
        if account is None:
            return ClearedTokens()
        cleared = ClearedTokens(id_token=account.id_token, refresh_token=account.refresh_token)
        account.clear_tokens()
        account.save()
    return cleared


def access_token_for(user_id: int, *, rejected: str | None = None) -> str:
    """A valid access token for the user, refreshed first when it is about to expire.

    ``rejected`` is a token Arthur just answered 401 to: it is refreshed even if not yet expired.
    Raises ``SignInRequired`` when there is no token or the provider refuses the refresh token
    (the tokens are then cleared), and ``ArthurUnavailable`` when the provider cannot be reached and
    the current token has already expired.
    """
    deadline = time.monotonic() + LEASE_SECONDS + settings.ARTHUR_HTTP_TIMEOUT
    while True:
        outcome = _take_token_or_lease(user_id, rejected)
        if isinstance(outcome, str):
            return outcome
        if isinstance(outcome, _Lease):
            return _refresh(user_id, outcome)
        if outcome is _EXPIRED:
            raise SignInRequired("not signed in, or the sign-in has expired")
        # Another request is refreshing right now: wait for its result instead of refreshing too.
        if time.monotonic() > deadline:
            raise ArthurUnavailable("refreshing the sign-in is taking too long")
        time.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class _Lease:
    lease_id: str
    refresh_token: str
    # The current access token when it has not expired yet: usable if the provider is down.
    fallback: str | None


_WAIT = object()  # another request holds the lease
_EXPIRED = object()  # no refresh token left: sign in again


def _usable(account: ArthurAccount | None, rejected: str | None, now: float) -> str | None:
    """The account's access token when it is neither rejected nor about to expire."""
    if account is None or not account.access_token or account.access_token == rejected:
        return None
    if (account.expires_at or 0) - REFRESH_LEEWAY_SECONDS > now:
        return account.access_token
    return None


def _take_token_or_lease(user_id: int, rejected: str | None) -> str | _Lease | object:
    """The current token if usable, else (under the row lock) a new lease, else _WAIT or _EXPIRED.

    The common case, a token that is still good, is a plain read: the lock only guards the refresh
    decision, so it is taken only when a refresh looks due (and the check is repeated under it).
    """
    current = ArthurAccount.objects.filter(user_id=user_id).only("access_token", "expires_at").first()
    token = _usable(current, rejected, time.time())
    if token is not None:
        return token
    with transaction.atomic():
        account = ArthurAccount.objects.select_for_update().filter(user_id=user_id).first()
        if account is None or not account.access_token:
            return _EXPIRED
        now = time.time()
        expires_at = account.expires_at or 0
        token = _usable(account, rejected, now)
        if token is not None:
            return token
        if not account.refresh_token:
            account.clear_tokens()
            account.save()
            return _EXPIRED
        if account.refresh_lease_until and account.refresh_lease_until > now:
            return _WAIT
        account.refresh_lease_id = uuid.uuid4().hex
        account.refresh_lease_until = now + LEASE_SECONDS
        account.save(update_fields=["refresh_lease_id", "refresh_lease_until", "updated_at"])
        usable = account.access_token != rejected and expires_at > now
        return _Lease(account.refresh_lease_id, account.refresh_token, account.access_token if usable else None)


def _refresh(user_id: int, lease: _Lease) -> str:
    lease_id, refresh_token, fallback = lease.lease_id, lease.refresh_token, lease.fallback
    try:
        token_endpoint = oauth.metadata()["token_endpoint"]
        with oauth.token_session() as session:
            token = session.refresh_token(token_endpoint, refresh_token=refresh_token)
        if not token.get("access_token"):
            raise ValueError("token response without access_token")
    except OAuthError as exc:
        if exc.error in REFRESH_REFUSED:
            logger.info("refresh refused for user %s: %s", user_id, exc.error)
            _finish(user_id, lease_id, token=None)
            raise SignInRequired("the sign-in has expired") from exc
        _finish(user_id, lease_id, token=None, keep=True)
        return _fallback_or_unavailable(fallback, f"the identity provider refused to refresh: {exc.error}", exc)
    except (requests.RequestException, ValueError, oauth.ProviderError) as exc:
        _finish(user_id, lease_id, token=None, keep=True)
        return _fallback_or_unavailable(fallback, "cannot reach the identity provider", exc)
    _finish(user_id, lease_id, token=token)
    return token["access_token"]


def _finish(user_id: int, lease_id: str, *, token: Mapping[str, Any] | None, keep: bool = False) -> None:
    """Store the refreshed tokens (or clear them, or just release the lease) if the lease is still ours."""
    with transaction.atomic():
        account = ArthurAccount.objects.select_for_update().filter(user_id=user_id).first()
        if account is None or account.refresh_lease_id != lease_id:
            # Our lease ran out and someone else took over (or the person signed out): their result wins.
            return
        if token is not None:
            store_tokens(account, token)
            return
        if not keep:
            account.clear_tokens()
        account.refresh_lease_until = None
        account.refresh_lease_id = ""
        account.save()


def _fallback_or_unavailable(fallback: str | None, message: str, exc: Exception) -> str:
    logger.warning("token refresh failed: %s (%s)", message, type(exc).__name__)
    if fallback:
        return fallback
    raise ArthurUnavailable(message) from exc


def _expires_at(token: Mapping[str, Any]) -> int | None:
    if isinstance(token.get("expires_at"), int | float):
        return int(token["expires_at"])
    if isinstance(token.get("expires_in"), int | float):
        return int(time.time() + token["expires_in"])
    return None


class UserTokenProvider:
    """Hands ``BearerTokenAuth`` the person's token and refreshes it after a 401.

    A provider lives for one client, i.e. one request: the token it read is reused for
    ``REUSE_SECONDS`` instead of being read from the database for every upstream call. That is safe
    because a stored token is only handed out while it has more than ``REFRESH_LEEWAY_SECONDS`` to
    live; the rare exceptions (a fallback while the provider is down, a token issued with a lifetime
    shorter than the reuse window) end in a 401, which still forces a fresh read and refresh through
    ``refresh_after_401``.
    """

    REUSE_SECONDS = REFRESH_LEEWAY_SECONDS / 2

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self._last: str | None = None
        self._read_at = 0.0

    def token(self) -> str:
        if self._last is not None and time.monotonic() - self._read_at < self.REUSE_SECONDS:
            return self._last
        return self._remember(access_token_for(self.user_id))

    def refresh_after_401(self) -> bool:
        """Refresh the token Arthur just refused; False when that is not possible."""
        try:
            self._remember(access_token_for(self.user_id, rejected=self._last))
        except SignInRequired:
            return False
        return True

    def _remember(self, token: str) -> str:
        self._last, self._read_at = token, time.monotonic()
        return token


def user_client(request_or_user: HttpRequest | AbstractBaseUser) -> ArthurClient:
    """An ``ArthurClient`` acting as the signed-in person, with their token refreshed as needed.

    Calls made with it raise ``SignInRequired`` (an ``ArthurUnauthenticated``) when the person has
    to sign in again; ``accounts.middleware.SignInMiddleware`` turns that into a sign-in redirect.
    """
    user = getattr(request_or_user, "user", request_or_user)
    if isinstance(user, AnonymousUser) or not getattr(user, "is_authenticated", False):
        raise SignInRequired("not signed in")
    provider = UserTokenProvider(user.pk)
    auth = BearerTokenAuth(provider.token, on_unauthorized=provider.refresh_after_401)
    return ArthurClient(
        settings.ARTHUR_HOST, auth, timeout=settings.ARTHUR_HTTP_TIMEOUT, session=_shared_session(settings.ARTHUR_HOST)
    )


# One pooled session per Arthur host, shared by every request of this process, so page views reuse
# open (TLS) connections. It carries no credentials: each client passes its person's auth per call.
_sessions: dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()


def _shared_session(host: str) -> requests.Session:
    with _sessions_lock:
        session = _sessions.get(host)
        if session is None:
            session = _sessions[host] = new_session(settings.ARTHUR_HTTP_TIMEOUT)
        return session
