"""The two ways ``ArthurClient`` authenticates: a signed-in person's token, or client credentials.

Both are ``requests`` auth objects that set ``Authorization: Bearer …``. ``ArthurClient`` calls
``on_unauthorized()`` after a 401: when it returns True the client retries the call once with a
fresh token (a 401 means the request was refused before anything ran, so repeating it is safe).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from arthur_api.errors import ArthurError, ArthurUnauthenticated, ArthurUnavailable

DISCOVERY_PATH = "/api/v1/auth/oidc/.well-known/openid-configuration"
SCOPE = "openid email profile"
# Fetch a new token this long before the old one expires (the official client uses 30 s too).
EXPIRY_LEEWAY_SECONDS = 30
# When a token response has no expires_in, assume a short life rather than forever.
ASSUMED_LIFETIME_SECONDS = 60


class ArthurAuth(AuthBase):
    """Base for Arthur auth objects: sets the bearer header; may refresh after a 401."""

    def token(self) -> str:
        raise NotImplementedError

    def on_unauthorized(self) -> bool:
        """Called after a 401. Return True if a fresh token is now available and a retry makes sense."""
        return False

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request


class NoAuth(ArthurAuth):
    """For the platform's few unauthenticated endpoints (discovery, health): sends no credentials."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class BearerTokenAuth(ArthurAuth):
    """A signed-in person's access token, supplied (and refreshed) by the caller's token provider.

    ``get_token`` returns a currently valid access token and raises ``ArthurUnauthenticated`` when the
    person must sign in again. ``on_unauthorized``, when given, forces a refresh after a 401 and
    returns True if a new token was obtained.
    """

    def __init__(self, get_token: Callable[[], str], *, on_unauthorized: Callable[[], bool] | None = None):
        self._get_token = get_token
        self._on_unauthorized = on_unauthorized

    def token(self) -> str:
        return self._get_token()

    def on_unauthorized(self) -> bool:
        return self._on_unauthorized() if self._on_unauthorized else False


class ClientCredentialsAuth(ArthurAuth):
    """Client credentials (service accounts, data planes): tokens from the discovery's token endpoint.

    The token endpoint is read from ``{base_url}/api/v1/auth/oidc/.well-known/openid-configuration``;
    the client authenticates with HTTP Basic (``client_secret_basic``), as the official client does.
    Tokens are cached and re-fetched ``EXPIRY_LEEWAY_SECONDS`` before they expire; one lock makes
    concurrent threads share a single fetch.

    Failures: ``ArthurUnavailable`` when discovery or the token endpoint cannot be reached or answers
    5xx; ``ArthurUnauthenticated`` when the credentials are refused (``invalid_client`` and friends);
    ``ArthurError`` for a malformed answer.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        base_url: str,
        *,
        timeout: float | tuple[float, float] = (3.05, 10.0),
        session: requests.Session | None = None,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._session = session or requests.Session()
        self._lock = threading.Lock()
        self._token_endpoint: str | None = None
        self._access_token: str | None = None
        self._expires_at = 0.0

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(client_id={self.client_id!r}, base_url={self.base_url!r})"

    def token(self) -> str:
        with self._lock:
            if self._access_token is None or time.time() >= self._expires_at - EXPIRY_LEEWAY_SECONDS:
                self._fetch_token()
            assert self._access_token is not None
            return self._access_token

    def on_unauthorized(self) -> bool:
        # The token may have been revoked before it expired: drop it so the next call fetches anew.
        with self._lock:
            self._access_token = None
        return True

    def _fetch_token(self) -> None:
        response = self._post_or_get(
            "POST",
            self._discover_token_endpoint(),
            data={"grant_type": "client_credentials", "scope": SCOPE},
            auth=HTTPBasicAuth(self.client_id, self._client_secret),
        )
        if response.status_code in {400, 401}:
            raise ArthurUnauthenticated(
                f"client credentials for {self.client_id} refused: {_oauth_error(response)}",
                status=response.status_code,
            )
        body = _json_object(response, "token endpoint")
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ArthurError("token endpoint answered without an access_token", status=response.status_code)
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else ASSUMED_LIFETIME_SECONDS
        self._access_token = access_token
        self._expires_at = time.time() + lifetime

    def _discover_token_endpoint(self) -> str:
        if self._token_endpoint is None:
            response = self._post_or_get("GET", self.base_url + DISCOVERY_PATH)
            endpoint = _json_object(response, "discovery").get("token_endpoint")
            if not isinstance(endpoint, str) or not endpoint:
                raise ArthurError("the discovery document has no token_endpoint", status=response.status_code)
            self._token_endpoint = endpoint
        return self._token_endpoint

    def _post_or_get(self, method: str, url: str, **kwargs: object) -> requests.Response:
        try:
            response = self._session.request(method, url, timeout=self._timeout, **kwargs)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise ArthurUnavailable(f"cannot reach the identity provider: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ArthurUnavailable(
                f"the identity provider answered {response.status_code}", status=response.status_code
            )
        return response


def _json_object(response: requests.Response, what: str) -> dict:
    if response.status_code != 200:
        raise ArthurError(f"{what} answered {response.status_code}", status=response.status_code)
    try:
        body = response.json()
    except ValueError as exc:
        raise ArthurError(f"{what} answered with something that is not JSON", status=200) from exc
    if not isinstance(body, dict):
        raise ArthurError(f"{what} answered with JSON that is not an object", status=200)
    return body


def _oauth_error(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return f"HTTP {response.status_code}"
