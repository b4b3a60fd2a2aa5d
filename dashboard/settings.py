"""One env-driven settings module for every way the project runs.

``DASHBOARD_MODE`` picks the defaults: ``production`` (the default: no secret defaults, DEBUG off),
``demo`` (``manage.py demo``: throwaway secrets, SQLite under var/) and ``test`` (pytest). Every
variable is listed in ``.env.example``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DASHBOARD_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value is None or value == "" else int(value)


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# pytest (>= 8.2) announces itself with PYTEST_VERSION: a test run gets test defaults.
MODE = env("DASHBOARD_MODE", "test" if os.environ.get("PYTEST_VERSION") else "production")
if MODE not in {"production", "demo", "test"}:
    raise ImproperlyConfigured(f"DASHBOARD_MODE must be production, demo or test, not {MODE!r}")
THROWAWAY_SECRETS = MODE in {"demo", "test"}


def secret(name: str, demo_default: str) -> str:
    """A secret from the environment; only demo and test runs may fall back to a throwaway value."""
    value = env(name)
    if value:
        return value
    if THROWAWAY_SECRETS:
        return demo_default
    raise ImproperlyConfigured(f"{name} must be set when DASHBOARD_MODE=production")


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = secret("DJANGO_SECRET_KEY", "insecure-demo-only-secret-key-do-not-use-in-production-0123456789")
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if THROWAWAY_SECRETS else []
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --- Arthur -----------------------------------------------------------------------------------
# ARTHUR_EMBEDDED mounts Local Arthur (control plane + data plane) in this process. ARTHUR_HOST is
# the platform the dashboard talks to; in demo mode it defaults to the address `manage.py demo`
# serves (the command sets it before requests arrive).
ARTHUR_EMBEDDED = env_bool("ARTHUR_EMBEDDED", True)
ARTHUR_HOST = (env("ARTHUR_HOST", "http://127.0.0.1:8000" if THROWAWAY_SECRETS else "") or "").rstrip("/")
ARTHUR_CLIENT_ID = env("ARTHUR_CLIENT_ID", "arthur-tasks-dashboard")
ARTHUR_CLIENT_SECRET = secret("ARTHUR_CLIENT_SECRET", "dashboard-demo-secret")
# The issuer the dashboard expects in id_tokens; empty means "{ARTHUR_HOST}/api/v1/auth/oidc".
ARTHUR_ISSUER = (env("ARTHUR_ISSUER", "") or "").rstrip("/")
ARTHUR_HTTP_TIMEOUT = float(env("ARTHUR_HTTP_TIMEOUT", "10") or 10)
# Local Arthur's own secrets (used only when embedded).
LOCAL_ARTHUR_ENCRYPTION_KEY = secret(
    "LOCAL_ARTHUR_ENCRYPTION_KEY", "demo-only-encryption-key-for-connection-info"
)
LOCAL_ARTHUR_ACCESS_TOKEN_TTL = env_int("LOCAL_ARTHUR_ACCESS_TOKEN_TTL", 300)
# A refresh token unused for this long expires (each rotation starts the clock again).
LOCAL_ARTHUR_REFRESH_TOKEN_TTL = env_int("LOCAL_ARTHUR_REFRESH_TOKEN_TTL", 24 * 3600)
# Seconds a device-flow client must wait between polls (RFC 8628 `interval`).
LOCAL_ARTHUR_DEVICE_INTERVAL = env_int("LOCAL_ARTHUR_DEVICE_INTERVAL", 5)
LOCAL_ARTHUR_DEMO_PASSWORD = env("LOCAL_ARTHUR_DEMO_PASSWORD", "arthur-demo")
# Failed client authentications (wrong or unknown client secret) at the token, device and revocation
# endpoints allowed per client id and per client address in each window before answering 429.
LOCAL_ARTHUR_TOKEN_FAILURES_PER_CLIENT = env_int("LOCAL_ARTHUR_TOKEN_FAILURES_PER_CLIENT", 10)
LOCAL_ARTHUR_TOKEN_FAILURES_PER_ADDRESS = env_int("LOCAL_ARTHUR_TOKEN_FAILURES_PER_ADDRESS", 30)
LOCAL_ARTHUR_TOKEN_FAILURE_WINDOW = env_int("LOCAL_ARTHUR_TOKEN_FAILURE_WINDOW", 900)
# A job run whose agent reports nothing (dequeue, logs, errors, state) for this long is failed and retried.
LOCAL_ARTHUR_JOB_LEASE_SECONDS = env_int("LOCAL_ARTHUR_JOB_LEASE_SECONDS", 120)
DATAPLANE_CLIENT_ID = env("DATAPLANE_CLIENT_ID", "data-plane-demo")
DATAPLANE_CLIENT_SECRET = secret("DATAPLANE_CLIENT_SECRET", "data-plane-demo-secret")
DATAPLANE_POLL_INTERVAL = float(env("DATAPLANE_POLL_INTERVAL", "0.25") or 0.25)
# The engine's public address (the connection info's api_host); empty means "{ARTHUR_HOST}/engine".
DATAPLANE_ENGINE_URL = (env("DATAPLANE_ENGINE_URL", "") or "").rstrip("/")
TASK_STALE_AFTER_SECONDS = env_int("TASK_STALE_AFTER_SECONDS", 24 * 3600)

# --- Django ------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "dashboard",
    "accounts",
    "tasks_ui",
]
if ARTHUR_EMBEDDED:
    # "ninja" serves the API docs' Swagger UI from our own static files (the CSP forbids its CDN).
    INSTALLED_APPS += ["ninja", "controlplane.identity", "controlplane", "dataplane"]

MIDDLEWARE = [
    "dashboard.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After Htmx and Authentication: expired sign-ins go to sign-in (HTMX via a client redirect).
    "accounts.middleware.SignInMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    SQLITE_PATH = Path(env("SQLITE_PATH", str(VAR_DIR / "dashboard.sqlite3")))
    # SQLite cannot create its folder, and Django's system checks open the database before any
    # command runs: a fresh clone has no var/ yet.
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(SQLITE_PATH),
            # Several threads (web server, agent) share the file in demo: wait rather than fail.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
    if MODE == "test":
        # Live-server tests run the server, data-plane agents and the test itself in several threads.
        # Django's default in-memory test database uses SQLite's shared cache, whose table locks fail
        # at once ("database table is locked") instead of waiting out `timeout`; a file waits. One file
        # per process so concurrent pytest runs never share it (Django deletes it afterwards).
        import tempfile

        DATABASES["default"]["TEST"] = {
            "NAME": str(Path(tempfile.gettempdir()) / f"arthur-dashboard-test-{os.getpid()}.sqlite3")
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "dashboard.cache.RedisCache", "LOCATION": REDIS_URL}}
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_PASSWORD_VALIDATORS = []
# ModelBackend with a brief per-process memo of the signed-in person's row (accounts/backends.py).
AUTHENTICATION_BACKENDS = ["accounts.backends.MemoizedModelBackend"]
LOGIN_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Compressed, content-hashed static files (needs `collectstatic`): production, `make serve`, bench.
STATIC_MANIFEST = env_bool("DJANGO_STATIC_MANIFEST", MODE == "production")
if STATIC_MANIFEST:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
else:
    # Demo and tests serve straight from the source folders: no collectstatic step needed.
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = True

# --- Security ---------------------------------------------------------------------------------
SECURE_HTTPS = env_bool("DJANGO_SECURE_HTTPS", MODE == "production")
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", SECURE_HTTPS)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def _ip_networks(entries: list[str]) -> list[str]:
    """``entries`` if each is an IP address or network (CIDR), else ImproperlyConfigured."""
    import ipaddress

    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {entry!r} is not an IP address or network") from None
    return entries


# Reverse proxies (IPs or CIDRs) whose X-Forwarded-For is believed when they are the direct peer, so
# per-address throttles count the real client (dashboard.client_address). Empty: REMOTE_ADDR.
TRUSTED_PROXIES = _ip_networks(env_list("TRUSTED_PROXIES", []))

# HSTS preload is a commitment for the whole domain, made by submitting it to the browsers' list: it
# stays the operator's choice (DJANGO_HSTS_PRELOAD), so its advisory deploy check is silenced when off.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Strict CSP: scripts and styles come only from our own static files (htmx is configured through a
# <meta> tag so it never needs inline styles or eval).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
    # Sign-in and sign-out forms redirect to the provider; its endpoints live under the issuer's
    # origin, which differs from ARTHUR_HOST on the real platform (a separate auth host).
    "form-action": [
        CSP.SELF,
        *([ARTHUR_HOST] if ARTHUR_HOST else []),
        *([urlsplit(ARTHUR_ISSUER)._replace(path="").geturl()] if ARTHUR_ISSUER else []),
    ],
}

LOG_LEVEL = env("LOG_LEVEL", "INFO")
# json: one object per line (production default); plain: human-readable (demo and tests).
LOG_FORMAT = env("LOG_FORMAT", "json" if MODE == "production" else "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "dashboard.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "dashboard.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # authlib logs issued token dicts at DEBUG: never let secrets reach the logs.
        "authlib": {"level": "INFO"},
    },
}

if MODE == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Local Arthur's provider checks transport security; the Django test client uses http://testserver.
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
