"""HTTP views of the identity provider. Protocol work is authlib's (``server``); these views only
connect requests, the person's provider session and the pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from controlplane.identity import device, signin, throttle
from controlplane.identity.keys import ALGORITHM, public_jwks
from controlplane.identity.server import SCOPES, endpoint_url, issuer, require_oauth, server, user_info
from dashboard.client_address import client_address


def no_referrer(view):
    """RFC 9700 §4.2.4: the authorization endpoint's redirect must not pass its URL on as Referer.
    (Not used on pages with forms: browsers then send ``Origin: null`` and CSRF checks fail; the
    site-wide ``same-origin`` policy already keeps those URLs from third parties.)"""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapped


def _carries_nul(request: HttpRequest) -> bool:
    """True when a query or form parameter, or the presented client id, contains a NUL character."""
    for params in (request.GET, request.POST):
        for key, values in params.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return True
    return "\x00" in throttle.presented_client_id(request)


def refuse_nul(*, page: bool):
    """Refuse a request carrying NUL with ``invalid_request`` (an error page when `page`, else the
    JSON error) before anything is looked up: PostgreSQL text columns cannot hold NUL, so the lookup
    would fail with a 500 instead of a plain "no such client/person/code"."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if _carries_nul(request):
                error = InvalidRequestError("Parameters must not contain NUL characters.")
                return _error_page(request, error) if page else server.handle_error_response(None, error)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def _error_page(request: HttpRequest, error: OAuth2Error, status: int = 400) -> HttpResponse:
    return render(
        request,
        "identity/error.html",
        {"error": error.error, "description": error.get_error_description()},
        status=status,
    )


def _json_endpoint(respond: Callable[[], HttpResponse]) -> HttpResponse:
    """Run an authlib endpoint; an error authlib raises before its own handling (plain-http
    ``insecure_transport``) becomes the RFC's JSON error instead of a 500."""
    try:
        return respond()
    except OAuth2Error as error:
        return server.handle_error_response(None, error)


def _client_authenticating_endpoint(request: HttpRequest, respond: Callable[[], HttpResponse]) -> HttpResponse:
    """`respond` (an endpoint that authenticates the client) behind the failed-client-authentication
    throttle (``throttle``): 429 with Retry-After while the presented client id or this address is
    over its limit."""
    client_id = throttle.presented_client_id(request)
    address = client_address(request)
    wait = throttle.retry_after(client_id, address)
    if wait:
        return throttle.too_many_failures(wait)
    response = respond()
    if throttle.is_client_auth_failure(response):
        throttle.record_failure(client_id, address)
    return response


def _login_redirect(next_path: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse('identity:login')}?{urlencode({'next': next_path})}")


@require_GET
def discovery(request: HttpRequest) -> JsonResponse:
    """OpenID Provider metadata; every URL absolute and built from the issuer at request time."""
    return JsonResponse(
        {
            "issuer": issuer(),
            "authorization_endpoint": endpoint_url("authorize"),
            "token_endpoint": endpoint_url("token"),
            "device_authorization_endpoint": endpoint_url("device/code"),
            "userinfo_endpoint": endpoint_url("userinfo"),
            "jwks_uri": endpoint_url("jwks"),
            "end_session_endpoint": endpoint_url("logout"),
            "revocation_endpoint": endpoint_url("revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:device_code",
            ],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "scopes_supported": list(SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
                "name", "given_name", "family_name", "preferred_username", "email", "email_verified",
            ],
        }
    )


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    return JsonResponse(public_jwks())


@require_GET
@never_cache
@no_referrer
@refuse_nul(page=True)
def authorize(request: HttpRequest) -> HttpResponse:
    """Authorization endpoint. Invalid client or redirect URI → error page, never a redirect; other
    errors go back to the (validated) redirect URI as the RFC says. First-party clients only, so a
    signed-in person is not asked for consent."""
    session = signin.current_session(request)
    try:
        grant = server.get_consent_grant(request, end_user=session.user if session else None)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.handle_error_response(None, error)
        return _error_page(request, error)
    if session is None:
        return _login_redirect(request.get_full_path())
    grant.request.auth_time = session.auth_time
    return server.create_authorization_response(request, grant=grant, grant_user=session.user)


@csrf_exempt
@require_POST
@refuse_nul(page=False)
def token(request: HttpRequest) -> HttpResponse:
    """Token endpoint (client authentication, not cookies: no CSRF). One transaction per request so
    code and refresh-token claims serialize with the tokens they issue. Failed client
    authentications are throttled (429)."""

    def respond() -> HttpResponse:
        with transaction.atomic():
            return _json_endpoint(lambda: server.create_token_response(request))

    return _client_authenticating_endpoint(request, respond)


@csrf_exempt
@require_POST
@refuse_nul(page=False)
def device_authorization(request: HttpRequest) -> HttpResponse:
    return _client_authenticating_endpoint(
        request, lambda: _json_endpoint(lambda: server.create_endpoint_response("device_authorization", request))
    )


@csrf_exempt
@require_POST
@refuse_nul(page=False)
def revoke(request: HttpRequest) -> HttpResponse:
    return _client_authenticating_endpoint(
        request, lambda: _json_endpoint(lambda: server.create_endpoint_response("revocation", request))
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
@require_oauth("openid")
def userinfo(request: HttpRequest) -> JsonResponse:
    """OIDC UserInfo: the claims the bearer token's scope allows."""
    access = request.oauth_token
    response = JsonResponse(dict(user_info(access.user, access.scope)))
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@never_cache
@refuse_nul(page=True)
def login(request: HttpRequest) -> HttpResponse:
    """The person-facing sign-in form. CSRF-protected (Django's middleware), throttled, and returns
    only to an address on the provider itself."""
    return_to = signin.safe_return_to(request, request.POST.get("next") or request.GET.get("next"))
    context = {"next": return_to or "", "email": ""}
    if request.method == "GET":
        session = signin.current_session(request)
        if session is not None and return_to:
            return HttpResponseRedirect(return_to)
        context["session"] = session
        return render(request, "identity/login.html", context)

    email = request.POST.get("email", "").strip()
    password = request.POST.get("password", "")
    address = client_address(request)
    context["email"] = email
    if signin.is_throttled(email, address):
        context["error"] = "Too many failed attempts. Wait a few minutes and try again."
        return render(request, "identity/login.html", context, status=429)
    user = signin.authenticate_person(email, password)
    if user is None:
        signin.record_failure(email, address)
        context["error"] = "Email or password is not correct."
        return render(request, "identity/login.html", context, status=400)
    signin.clear_account_failures(email)
    response = HttpResponseRedirect(return_to or reverse("identity:login"))
    signin.end_session(request, response)  # a fresh key on every sign-in: no session fixation
    signin.start_session(response, user)
    return response


@require_http_methods(["GET", "POST"])
@never_cache
@refuse_nul(page=True)
def logout(request: HttpRequest) -> HttpResponse:
    """RP-initiated logout. With a valid id_token_hint the person is signed out at once and sent to
    a registered post-logout address; otherwise they confirm with a POST first."""
    try:
        end_request = server.validate_endpoint_request("end_session", request)
    except OAuth2Error as error:
        return _error_page(request, error)
    if end_request.needs_confirmation and request.method == "GET":
        return render(request, "identity/logout.html", {"client": end_request.client})
    response = server.create_endpoint_response("end_session", end_request) or render(
        request, "identity/logged_out.html"
    )
    signin.end_session(request, response)
    return response


@require_http_methods(["GET", "POST"])
@never_cache
@refuse_nul(page=True)
def device_verify(request: HttpRequest) -> HttpResponse:
    """Where a signed-in person enters a device flow's user code and approves or denies it."""
    session = signin.current_session(request)
    if session is None:
        return _login_redirect(request.get_full_path())
    who = f"{session.user_id}:{client_address(request)}"
    raw_code = request.POST.get("user_code") or request.GET.get("user_code") or ""
    context: dict = {"user_code": device.normalize_user_code(raw_code), "person": session.user}
    if not raw_code:
        return render(request, "identity/device.html", context)
    if device.lookup_throttled(who):
        context["error"] = "Too many wrong codes. Wait a few minutes and try again."
        return render(request, "identity/device.html", context, status=429)
    found = device.pending_device(raw_code)
    if found is None:
        device.record_lookup_failure(who)
        context["error"] = "That code is not valid or has expired."
        return render(request, "identity/device.html", context, status=400)
    context["client_name"] = found[1]
    if request.method == "GET" or request.POST.get("decision") not in {"approve", "deny"}:
        return render(request, "identity/device.html", context)
    approve = request.POST["decision"] == "approve"
    if device.decide_device(user_code=raw_code, user=session.user, approve=approve) is None:
        context["error"] = "That code is not valid or has expired."
        return render(request, "identity/device.html", context, status=400)
    context["decided"] = "approved" if approve else "denied"
    return render(request, "identity/device.html", context)
