"""Dashboard sign-in: start at Arthur's provider, come back to the callback, sign out.

The sign-in page's button is a POST (CSRF-protected) so a third-party page cannot start a sign-in
in someone's browser. Every provider failure renders ``accounts/error.html``, which says what
happened and offers to try again.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.common.urls import add_params_to_uri
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from joserfc.errors import JoseError

from accounts import oauth
from accounts.redirects import home_path, safe_next
from accounts.services import account_from_claims
from accounts.tokens import clear_tokens, store_tokens

logger = logging.getLogger(__name__)

NEXT_SESSION_PREFIX = "accounts.next."

# reason → (HTTP status, heading, explanation)
ERRORS: dict[str, tuple[int, str, str]] = {
    "access_denied": (
        403,
        "Sign-in was cancelled",
        "Arthur did not sign you in: the request was declined at Arthur's sign-in page.",
    ),
    "state": (
        400,
        "This sign-in could not be matched",
        "The answer from Arthur does not belong to a sign-in started in this browser, or it was "
        "already used or has expired. Nothing was changed.",
    ),
    "invalid_token": (
        400,
        "Arthur's answer could not be verified",
        "The identity token that came back failed its checks (signature, issuer, audience, expiry "
        "or nonce), so you were not signed in.",
    ),
    "provider_error": (
        400,
        "Arthur could not sign you in",
        "Arthur's sign-in service answered with an error.",
    ),
    "unreachable": (
        502,
        "Arthur's sign-in service cannot be reached",
        "The dashboard could not reach Arthur's sign-in service. It may be down or restarting.",
    ),
    "misconfigured": (
        502,
        "Sign-in is misconfigured",
        "Arthur's sign-in service does not match the dashboard's configuration (issuer or endpoints).",
    ),
    "inactive": (
        403,
        "This account is disabled",
        "Your Arthur identity is known here, but its dashboard account has been disabled.",
    ),
}


def _error(request: HttpRequest, reason: str, *, next_path: str, detail: str = "") -> HttpResponse:
    status, heading, explanation = ERRORS[reason]
    if detail:
        logger.info("sign-in failed (%s): %s", reason, detail)
    # The detail may come from the query string: keep it short (the template escapes it).
    context = {"heading": heading, "explanation": explanation, "detail": detail[:200], "next": next_path}
    return render(request, "accounts/error.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    next_path = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET":
        if request.user.is_authenticated:
            return redirect(next_path)
        context = {"next": next_path, "expired": request.GET.get("expired") == "1"}
        return render(request, "accounts/login.html", context)
    return _start_sign_in(request, next_path)


def _start_sign_in(request: HttpRequest, next_path: str) -> HttpResponse:
    try:
        oauth.metadata()
        response = oauth.provider().authorize_redirect(
            request, request.build_absolute_uri(reverse("accounts:callback"))
        )
    except oauth.ProviderError as exc:
        return _error(request, exc.reason, next_path=next_path, detail=exc.detail)
    except requests.RequestException as exc:
        return _error(request, "unreachable", next_path=next_path, detail=type(exc).__name__)
    # Remember where to go afterwards, keyed by this attempt's state (parallel sign-ins keep theirs).
    state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
    request.session[NEXT_SESSION_PREFIX + state] = next_path
    return response


def no_referrer(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The callback's URL carries the code and state: never send it on as a Referer (RFC 9700 §4.2)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapped


@never_cache
@require_GET
@no_referrer
def callback(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    next_path = safe_next(request, request.session.pop(NEXT_SESSION_PREFIX + state, None) if state else None)
    error = request.GET.get("error")
    if error:
        if state:
            oauth.provider().framework.clear_state_data(request.session, state)
        reason = "access_denied" if error == "access_denied" else "provider_error"
        return _error(request, reason, next_path=next_path, detail=error)
    try:
        oauth.metadata()
        token = oauth.provider().authorize_access_token(
            request, claims_options=oauth.id_token_claims_options(), leeway=oauth.ID_TOKEN_LEEWAY_SECONDS
        )
    except MismatchingStateError:
        return _error(request, "state", next_path=next_path)
    except OAuthError as exc:
        return _error(request, "provider_error", next_path=next_path, detail=exc.error or "")
    except oauth.ProviderError as exc:
        return _error(request, exc.reason, next_path=next_path, detail=exc.detail)
    except JoseError as exc:
        return _error(request, "invalid_token", next_path=next_path, detail=f"{type(exc).__name__}: {exc}")
    except (requests.RequestException, ValueError) as exc:
        return _error(request, "unreachable", next_path=next_path, detail=type(exc).__name__)

    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        return _error(request, "invalid_token", next_path=next_path, detail="no id_token, or one without a subject")
    account = account_from_claims(issuer=oauth.current_config().issuer, claims=claims)
    if not account.user.is_active:
        return _error(request, "inactive", next_path=next_path)
    auth_login(request, account.user)  # rotates the session key (fixation defence)
    store_tokens(account, token)
    return HttpResponseRedirect(next_path)


@never_cache
@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    cleared = clear_tokens(request.user) if request.user.is_authenticated else None
    auth_logout(request)
    try:
        document = oauth.metadata()
    except oauth.ProviderError as exc:
        # Signed out here; the provider's own session will end when it expires.
        logger.warning("sign-out could not reach the provider: %s", exc.detail)
        return redirect(home_path())
    if cleared and cleared.refresh_token and document.get("revocation_endpoint"):
        _revoke(document["revocation_endpoint"], cleared.refresh_token)
    if not document.get("end_session_endpoint"):
        return redirect(home_path())
    # Built here rather than with authlib's create_logout_url, which adds a `state` we could not
    # check anyway (the session is gone) and which would then trail on the home page's URL.
    params = {
        "post_logout_redirect_uri": request.build_absolute_uri(home_path()),
        "client_id": oauth.current_config().client_id,
    }
    if cleared and cleared.id_token:
        params["id_token_hint"] = cleared.id_token
    return HttpResponseRedirect(add_params_to_uri(document["end_session_endpoint"], params))


def _revoke(endpoint: str, refresh_token: str) -> None:
    """Best effort: an unrevoked refresh token is already gone from our store either way."""
    try:
        with oauth.token_session() as session:
            session.revoke_token(endpoint, token=refresh_token, token_type_hint="refresh_token")
    except (requests.RequestException, OAuthError, ValueError) as exc:
        logger.warning("revoking the refresh token at sign-out failed: %s", type(exc).__name__)
