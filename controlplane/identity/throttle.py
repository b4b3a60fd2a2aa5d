"""Throttling failed client authentications at the provider's client-authenticating endpoints.

Only *failures* count: every successful token request of the dashboard (code exchanges and refreshes
for all its users) and of the agents comes from a handful of server addresses, so a limit on all
requests per address would throttle legitimate traffic first, while guessing a client secret is made
of failures by definition. Failures are counted per presented client id and per client address
(``dashboard.client_address``: the real client behind ``TRUSTED_PROXIES``) in fixed windows in
Django's cache; over either limit the endpoint answers 429 before it checks the credentials (so a
correct guess inside a locked window is not confirmed either).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import time
from urllib.parse import unquote

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse


def presented_client_id(request: HttpRequest) -> str:
    """The client id the request claims (HTTP Basic user or the ``client_id`` form field), or ""."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return unquote(decoded.partition(":")[0])
    return request.POST.get("client_id", "")


def _window() -> tuple[int, float]:
    """The current window's index and the seconds left in it."""
    length = settings.LOCAL_ARTHUR_TOKEN_FAILURE_WINDOW
    now = time.time()
    return int(now // length), length - (now % length)


def _keys(client_id: str, address: str, window: int) -> tuple[str, str]:
    # The client id is attacker-chosen text: hash it into a fixed-size, cache-safe key.
    client = hashlib.sha256(client_id.encode()).hexdigest()
    return f"la-client-auth-fail:client:{client}:{window}", f"la-client-auth-fail:addr:{address}:{window}"


def retry_after(client_id: str, address: str) -> int:
    """Seconds until this client id and address may try again; 0 when neither is over its limit."""
    window, remaining = _window()
    client_key, address_key = _keys(client_id, address, window)
    over = (client_id and cache.get(client_key, 0) >= settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_CLIENT) or (
        cache.get(address_key, 0) >= settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_ADDRESS
    )
    return max(1, math.ceil(remaining)) if over else 0


def record_failure(client_id: str, address: str) -> None:
    """Count one failed client authentication for the client id (if any) and the address."""
    window, _ = _window()
    timeout = settings.LOCAL_ARTHUR_TOKEN_FAILURE_WINDOW + 60
    for key in _keys(client_id, address, window)[0 if client_id else 1 :]:
        cache.add(key, 0, timeout)
        try:
            cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, timeout)


def is_client_auth_failure(response: HttpResponse) -> bool:
    """True for the endpoint's ``invalid_client`` answer (401 with Basic auth, 400 otherwise)."""
    if response.status_code not in (400, 401) or not response.get("Content-Type", "").startswith("application/json"):
        return False
    try:
        return json.loads(response.content).get("error") == "invalid_client"
    except (ValueError, AttributeError):
        return False


def too_many_failures(seconds: int) -> JsonResponse:
    """The 429 answer: an OAuth-style JSON error and ``Retry-After``."""
    response = JsonResponse(
        {
            "error": "temporarily_unavailable",
            "error_description": f"Too many failed client authentications. Retry after {seconds} seconds.",
        },
        status=429,
    )
    response["Retry-After"] = str(seconds)
    response["Cache-Control"] = "no-store"
    return response
