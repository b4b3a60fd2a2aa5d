"""The dashboard's OIDC client: an authlib registry pointed at Arthur's discovery document.

Settings are read at call time, not import time: tests (and ``manage.py demo``) set
``ARTHUR_HOST`` after start-up, and a changed host, client or issuer gets a fresh authlib client
(authlib caches the discovery document per client for the life of the process).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.django_client import OAuth
from authlib.integrations.django_client.apps import DjangoOAuth2App
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings

DISCOVERY_PATH = "/api/v1/auth/oidc/.well-known/openid-configuration"
SCOPE = "openid email profile"
NAME = "arthur"
# Clock skew tolerated on id_token exp/iat (authlib's default is 120 s; a minute is plenty here).
ID_TOKEN_LEEWAY_SECONDS = 60


class ProviderError(Exception):
    """Signing in cannot work right now; ``reason`` is a short code the error page explains."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ProviderConfig:
    host: str
    client_id: str
    client_secret: str
    issuer: str
    timeout: float

    @property
    def discovery_url(self) -> str:
        return self.host + DISCOVERY_PATH


def current_config() -> ProviderConfig:
    """The provider settings as they are now (``ARTHUR_ISSUER`` defaults to the platform's path)."""
    host = settings.ARTHUR_HOST.rstrip("/")
    return ProviderConfig(
        host=host,
        client_id=settings.ARTHUR_CLIENT_ID,
        client_secret=settings.ARTHUR_CLIENT_SECRET,
        issuer=(settings.ARTHUR_ISSUER or f"{host}/api/v1/auth/oidc").rstrip("/"),
        timeout=settings.ARTHUR_HTTP_TIMEOUT,
    )


_lock = threading.Lock()
_clients: dict[ProviderConfig, DjangoOAuth2App] = {}


def provider() -> DjangoOAuth2App:
    """The authlib client for the configured provider: PKCE S256, state and nonce, timeouts everywhere."""
    config = current_config()
    with _lock:
        client = _clients.get(config)
        if client is None:
            # A config change (tests point ARTHUR_HOST at a new live server) drops the old clients
            # and with them their cached discovery documents and keys.
            _clients.clear()
            registry = OAuth()
            client = registry.register(
                NAME,
                client_id=config.client_id,
                client_secret=config.client_secret,
                server_metadata_url=config.discovery_url,
                client_kwargs={
                    "scope": SCOPE,
                    "code_challenge_method": "S256",
                    "default_timeout": config.timeout,
                },
                user_agent="arthur-tasks-dashboard/0.1",
            )
            _clients[config] = client
        return client


def reset() -> None:
    """Forget every client and cached discovery document (tests; a provider that changed its keys)."""
    with _lock:
        _clients.clear()


def metadata() -> dict[str, Any]:
    """The provider's discovery document, fetched once and checked.

    Raises ``ProviderError("unreachable")`` when it cannot be fetched and
    ``ProviderError("misconfigured")`` when its issuer is not the configured one (OIDC Discovery
    §4.3; authlib does not check this) or it lacks an endpoint sign-in needs.
    """
    client = provider()
    config = current_config()
    try:
        document = client.load_server_metadata()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderError("unreachable", f"cannot read {config.discovery_url}: {type(exc).__name__}") from exc
    if document.get("issuer", "").rstrip("/") != config.issuer:
        reset()
        raise ProviderError(
            "misconfigured", f"the provider's issuer {document.get('issuer')!r} is not {config.issuer!r}"
        )
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not document.get(key):
            reset()
            raise ProviderError("misconfigured", f"the discovery document has no {key}")
    return document


def id_token_claims_options() -> dict[str, Any]:
    """Claims the id_token must carry: our issuer and our client id as audience (authlib checks neither
    by default once options are passed, so both are spelled out)."""
    config = current_config()
    return {
        "iss": {"essential": True, "value": config.issuer},
        "aud": {"essential": True, "value": config.client_id},
    }


def token_session() -> OAuth2Session:
    """A requests session that authenticates as the dashboard client at the token endpoints."""
    config = current_config()
    session = OAuth2Session(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scope=SCOPE,
        default_timeout=config.timeout,
    )
    session.headers["User-Agent"] = "arthur-tasks-dashboard/0.1"
    return session
