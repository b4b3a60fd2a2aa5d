"""Project-level endpoints that belong to no app: liveness and readiness."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from urllib3.util.retry import Retry

from arthur_api.auth import NoAuth
from arthur_api.client import ArthurClient
from arthur_api.errors import ArthurError

# Readiness must answer quickly even when Arthur hangs: a load balancer waits on it.
READINESS_TIMEOUT = (2.0, 3.0)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready", never a traceback
        return f"unavailable: {type(exc).__name__}"
    return "ok"


def _cache() -> str:
    key = f"readyz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=5)
        found = cache.get(key)
        cache.delete(key)
    except Exception as exc:  # a Redis outage surfaces as the backend's own exception class
        return f"unavailable: {type(exc).__name__}"
    return "ok" if found == "1" else "unavailable: value not read back"


def _arthur() -> str:
    if not settings.ARTHUR_HOST:
        return "unavailable: ARTHUR_HOST is not set"
    client = ArthurClient(settings.ARTHUR_HOST, NoAuth(), timeout=READINESS_TIMEOUT, retry=Retry(0))
    try:
        document = client.get_openid_configuration()
    except ArthurError as exc:
        return f"unavailable: {exc}"
    finally:
        client.close()
    return "ok" if document.get("token_endpoint") else "unavailable: discovery has no token_endpoint"


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 when the database answers a trivial query, 503 otherwise."""
    database = _database()
    if database != "ok":
        return JsonResponse({"status": "unavailable", "database": database}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database, cache and Arthur's discovery document all reachable (503 naming what is not)."""
    checks = {"database": _database(), "cache": _cache(), "arthur": _arthur()}
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)
