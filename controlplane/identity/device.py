"""The person's side of the device flow (RFC 8628 §3.3): find a user code, approve or deny it."""

from __future__ import annotations

import re
import time

from django.core.cache import cache

from controlplane.identity.models import DeviceCode, OAuthClient, PlatformUser

# RFC 8628 §5.1: with ~34.5 bits of user-code entropy, a handful of guesses per person is the budget.
MAX_LOOKUP_FAILURES = 5
LOOKUP_WINDOW = 10 * 60
_NOT_CODE_CHARS = re.compile(r"[^A-Z]")


def normalize_user_code(raw: str) -> str:
    """``bcdf-ghjk``, ``BCDFGHJK`` and ``bcdf ghjk`` all become ``BCDF-GHJK``."""
    letters = _NOT_CODE_CHARS.sub("", (raw or "").upper())
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else letters


def _lookup_key(who: str) -> str:
    return f"la-device-lookup-fail:{who}"


def lookup_throttled(who: str) -> bool:
    """True when `who` (a person or address) guessed wrong too often recently."""
    return cache.get(_lookup_key(who), 0) >= MAX_LOOKUP_FAILURES


def record_lookup_failure(who: str) -> None:
    key = _lookup_key(who)
    cache.add(key, 0, LOOKUP_WINDOW)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, LOOKUP_WINDOW)


def pending_device(user_code: str) -> tuple[DeviceCode, str] | None:
    """The pending, unexpired device authorization for this user code and its client's display
    name, or None (unknown, expired, already decided)."""
    item = DeviceCode.objects.filter(
        user_code=normalize_user_code(user_code), status=DeviceCode.Status.PENDING, expires_at__gt=int(time.time())
    ).first()
    if item is None:
        return None
    client = OAuthClient.objects.filter(client_id=item.client_id).first()
    return item, (client.name if client else item.client_id)


def decide_device(*, user_code: str, user: PlatformUser, approve: bool) -> DeviceCode | None:
    """Approve or deny a pending device authorization on behalf of `user`.

    Returns the decided row, or None when the code is unknown, expired or already decided (a
    decision is final: only a pending row is updated).
    """
    found = pending_device(user_code)
    if found is None:
        return None
    item, _ = found
    status = DeviceCode.Status.APPROVED if approve else DeviceCode.Status.DENIED
    updated = DeviceCode.objects.filter(pk=item.pk, status=DeviceCode.Status.PENDING).update(
        status=status, user=user
    )
    if not updated:
        return None
    item.refresh_from_db()
    return item
