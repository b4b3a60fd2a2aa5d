"""People signing in on the provider's own pages.

The provider keeps its own cookie (``la_session``, path-scoped to the provider's URLs) backed by a
``ProviderSession`` row, never Django's session: the dashboard's session and the provider's sign-in
can be ended independently without corrupting each other. Repeated failures are throttled per
account and per client address (``dashboard.client_address``: the real client behind trusted
proxies) with Django's cache.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.http import url_has_allowed_host_and_scheme

from controlplane.identity.models import PlatformUser, ProviderSession

COOKIE_NAME = "la_session"
COOKIE_PATH = "/api/v1/auth/oidc/"
COOKIE_SALT = "controlplane.identity.la_session"
# Only addresses on the provider itself are valid places to return to after signing in.
RETURN_PREFIX = "/api/v1/auth/oidc/"
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
FAILURE_WINDOW = 15 * 60
# Hashing a throwaway password for unknown accounts keeps the response time of "no such person"
# the same as "wrong password".
_DUMMY_HASH = make_password(secrets.token_urlsafe(16))


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def current_session(request: HttpRequest) -> ProviderSession | None:
    """The live provider session of this browser, or None (no cookie, tampered, expired, inactive)."""
    raw = request.get_signed_cookie(COOKIE_NAME, default=None, salt=COOKIE_SALT)
    if not raw:
        return None
    session = (
        ProviderSession.objects.select_related("user", "user__organization")
        .filter(key_hash=_hash(raw), expires_at__gt=int(time.time()))
        .first()
    )
    if session is None or not session.user.is_active:
        return None
    return session


def start_session(response: HttpResponse, user: PlatformUser) -> ProviderSession:
    """Create a provider session for `user` and set its cookie on `response`."""
    raw = secrets.token_urlsafe(32)
    now = int(time.time())
    ProviderSession.objects.filter(expires_at__lte=now).delete()
    session = ProviderSession.objects.create(
        key_hash=_hash(raw), user=user, auth_time=now, expires_at=now + settings.SESSION_COOKIE_AGE
    )
    response.set_signed_cookie(
        COOKIE_NAME,
        raw,
        salt=COOKIE_SALT,
        max_age=settings.SESSION_COOKIE_AGE,
        path=COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return session


def end_session(request: HttpRequest, response: HttpResponse) -> None:
    """Delete this browser's provider session (if any) and its cookie."""
    raw = request.get_signed_cookie(COOKIE_NAME, default=None, salt=COOKIE_SALT)
    if raw:
        ProviderSession.objects.filter(key_hash=_hash(raw)).delete()
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, samesite="Lax")


def end_all_sessions(user_id: str) -> None:
    """End every provider session of one person (RP-initiated logout with an id_token_hint)."""
    ProviderSession.objects.filter(user_id=user_id).delete()


def _failure_keys(email: str, address: str) -> tuple[str, str]:
    return f"la-signin-fail:acct:{_hash(email.strip().lower())}", f"la-signin-fail:addr:{address}"


def is_throttled(email: str, address: str) -> bool:
    """True when this account or this address failed too often within the window."""
    account_key, address_key = _failure_keys(email, address)
    return (
        cache.get(account_key, 0) >= MAX_FAILURES_PER_ACCOUNT
        or cache.get(address_key, 0) >= MAX_FAILURES_PER_ADDRESS
    )


def record_failure(email: str, address: str) -> None:
    for key in _failure_keys(email, address):
        cache.add(key, 0, FAILURE_WINDOW)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, FAILURE_WINDOW)


def clear_account_failures(email: str) -> None:
    cache.delete(_failure_keys(email, "")[0])


def authenticate_person(email: str, password: str) -> PlatformUser | None:
    """The active person with this email and password, or None. Unknown emails cost the same time."""
    user = PlatformUser.objects.filter(
        email__iexact=email.strip(), user_type=PlatformUser.UserType.USER, is_active=True
    ).first()
    if user is None:
        check_password(password, _DUMMY_HASH)
        return None
    return user if user.check_secret(password) else None


def safe_return_to(request: HttpRequest, candidate: str | None) -> str | None:
    """`candidate` if it is a same-site path on the provider (authorize, device page), else None."""
    if not candidate or not candidate.startswith(RETURN_PREFIX):
        return None
    if not url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}, require_https=False):
        return None
    return candidate
