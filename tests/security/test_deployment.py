"""Deployment security: `check --deploy` is clean, and production responses carry secure, HttpOnly
cookies, HSTS and the strict CSP (with `frame-ancestors 'none'`) on every kind of response."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import include
from django.urls import path as url

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, *, embedded: bool) -> dict[str, str]:
    """A production environment with every required secret set (and nothing inherited that matters)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "ARTHUR_", "LOCAL_ARTHUR_", "DATAPLANE_", "DASHBOARD_", "DATABASE_URL"))
        and k not in {"PYTEST_VERSION", "REDIS_URL", "SQLITE_PATH", "AUTHLIB_INSECURE_TRANSPORT"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "DASHBOARD_MODE": "production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "dashboard.example.com",
            "ARTHUR_HOST": "https://dashboard.example.com" if embedded else "https://platform.example.com",
            "ARTHUR_EMBEDDED": "true" if embedded else "false",
            "ARTHUR_CLIENT_SECRET": secrets.token_urlsafe(24),
            "LOCAL_ARTHUR_ENCRYPTION_KEY": secrets.token_urlsafe(32),
            "DATAPLANE_CLIENT_SECRET": secrets.token_urlsafe(24),
            "DASHBOARD_VAR_DIR": str(tmp_path),
            "SQLITE_PATH": str(tmp_path / "production.sqlite3"),
            # Templates resolve {% static %} without a collectstatic step in the test.
            "DJANGO_STATIC_MANIFEST": "false",
        }
    )
    return env


@pytest.mark.parametrize("embedded", [True, False])
def test_check_deploy_is_clean_with_production_settings(tmp_path, embedded) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path, embedded=embedded),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


# Runs inside a production-mode process: migrate, seed, then one request per kind of response,
# printing each response's status, security headers and cookies as JSON.
PROBE = r"""
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
embedded = __import__("django.conf", fromlist=["settings"]).settings.ARTHUR_EMBEDDED
if embedded:
    from controlplane.seed import seed_demo
    seed_demo(dashboard_url="https://dashboard.example.com")
client = Client(HTTP_HOST="dashboard.example.com", raise_request_exception=False)
paths = [("GET", "/healthz"), ("GET", "/accounts/login"), ("GET", "/"), ("GET", "/no-such-page")]
if embedded:
    paths += [
        ("GET", "/api/v1/auth/oidc/login"),
        ("GET", "/api/v1/auth/oidc/authorize?client_id=nope"),
        ("GET", "/api/v1/docs"),
        ("GET", "/api/v1/users/me"),
        ("GET", "/api/v1/openapi.json"),
        ("POST", "/api/v1/auth/oidc/token"),
    ]
out = {}
for method, path in paths:
    response = getattr(client, method.lower())(path, secure=True)
    out[path] = {
        "status": response.status_code,
        "headers": {k.lower(): v for k, v in response.headers.items()},
        "cookies": {
            name: {"secure": bool(c["secure"]), "httponly": bool(c["httponly"]), "samesite": c["samesite"]}
            for name, c in response.cookies.items()
        },
    }
# Django's session cookie as production writes it (sign-in stores the OAuth state in the session).
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import RequestFactory
def touch_session(request):
    request.session["probe"] = 1
    return HttpResponse()
session = SessionMiddleware(touch_session)(RequestFactory().get("/", secure=True, HTTP_HOST="dashboard.example.com"))
def flags(cookies):
    return {name: {"secure": bool(c["secure"]), "httponly": bool(c["httponly"])} for name, c in cookies.items()}
out["session"] = flags(session.cookies)
plain = client.get("/healthz", secure=False)
out["http"] = {"status": plain.status_code, "location": plain.headers.get("Location", "")}
signin = client.post(
    "/api/v1/auth/oidc/login", {"email": "admin@example.com", "password": "arthur-demo"}, secure=True
) if embedded else None
if signin is not None:
    out["provider-sign-in"] = flags(signin.cookies)
print("PROBE" + json.dumps(out))
"""


def probe(tmp_path: Path, *, embedded: bool) -> dict:
    """Run PROBE in a production-mode process; its results by path (plus "http", "session" and,
    embedded, "provider-sign-in": the cookies a successful sign-in on the provider sets)."""
    env = production_env(tmp_path, embedded=embedded)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("PROBE"))
    return json.loads(line[len("PROBE") :])


@pytest.mark.parametrize("embedded", [True, False])
def test_production_responses_carry_hsts_csp_and_secure_cookies(tmp_path, embedded) -> None:
    results = probe(tmp_path, embedded=embedded)
    assert results.pop("http")["location"].startswith("https://dashboard.example.com/")
    assert results.pop("session") == {"sessionid": {"secure": True, "httponly": True}}
    if embedded:
        # The provider's own sign-in cookie, set by a successful sign-in (the test client skips CSRF).
        assert results.pop("provider-sign-in") == {"la_session": {"secure": True, "httponly": True}}
    cookies_seen = set()
    for path, result in results.items():
        headers = result["headers"]
        assert result["status"] < 500, (path, result)
        assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains", path
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        for name, cookie in result["cookies"].items():
            cookies_seen.add(name)
            assert cookie["secure"] and cookie["httponly"], (path, name, cookie)
    # The sign-in pages render CSRF-protected forms.
    assert "csrftoken" in cookies_seen, cookies_seen


def boom(request):
    raise RuntimeError("deliberate failure")


# This module doubles as a URLconf: the project's URLs plus one view that fails.
urlpatterns = [url("boom", boom), url("", include("dashboard.urls"))]


@override_settings(ROOT_URLCONF="tests.security.test_deployment", DEBUG=False)
@pytest.mark.django_db
def test_csp_is_on_server_error_pages(client) -> None:
    client.raise_request_exception = False
    response = client.get("/boom")
    assert response.status_code == 500
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
