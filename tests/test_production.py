"""Production wiring: a dashboard without Local Arthur, request ids, JSON logs, gunicorn sizing."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.observability import JsonFormatter, RequestIdFilter

ROOT = Path(__file__).resolve().parents[1]


def _run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ARTHUR_", "DATABASE_URL"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "dashboard.settings", "DASHBOARD_MODE": "test", **env})
    prog = "import django; django.setup()\n" + code
    return subprocess.run([sys.executable, "-c", prog], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_not_embedded_mounts_no_local_arthur_url() -> None:
    code = (
        "from django.urls import resolve, Resolver404\n"
        "from django.conf import settings\n"
        "missing = []\n"
        "for url in ('/api/v1/users/me', '/api/v1/openapi.json', '/api/v1/auth/oidc/.well-known/openid-configuration',"
        " '/api/health', '/api/v1/projects/x/tasks'):\n"
        "    try:\n"
        "        resolve(url)\n"
        "    except Resolver404:\n"
        "        missing.append(url)\n"
        "print(len(missing), any(a.startswith(('controlplane', 'dataplane')) for a in settings.INSTALLED_APPS))\n"
        "resolve('/healthz')\n"
        "from django.test import Client\n"
        "print(Client().get('/api/v1/users/me').status_code, Client().get('/api/v1/openapi.json').status_code)\n"
    )
    result = _run_django(code, ARTHUR_EMBEDDED="false", ARTHUR_HOST="https://platform.example.com")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["5", "False", "404", "404"]


def test_embedded_mounts_local_arthur() -> None:
    code = "from django.urls import resolve\nresolve('/api/v1/openapi.json')\nprint('ok')\n"
    result = _run_django(code, ARTHUR_EMBEDDED="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.django_db
def test_request_id_is_echoed_or_created(client) -> None:
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="req-0123456789")
    assert kept["X-Request-ID"] == "req-0123456789"
    hostile = client.get("/healthz", HTTP_X_REQUEST_ID="<script>alert(1)</script>")
    assert hostile["X-Request-ID"] != "<script>alert(1)</script>"
    assert len(hostile["X-Request-ID"]) == 32


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("arthur", logging.WARNING, __file__, 1, "upstream %s slow", ("jobs",), None)
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "upstream jobs slow"
    assert line["level"] == "WARNING"
    assert line["request_id"] == "-"


def test_gunicorn_config_sizes_from_cpu_count_and_env() -> None:
    code = (
        "import runpy, json\n"
        "c = runpy.run_path('dashboard/gunicorn.conf.py')\n"
        "print(json.dumps({k: c[k] for k in ('workers', 'threads', 'worker_class', 'graceful_timeout')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"WEB_CONCURRENCY", "GUNICORN_THREADS"}}
    default = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert default.returncode == 0, default.stderr
    values = json.loads(default.stdout)
    assert values["workers"] >= 2 and values["threads"] >= 4 and values["worker_class"] == "gthread"
    env["WEB_CONCURRENCY"] = "3"
    overridden = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert json.loads(overridden.stdout)["workers"] == 3


def test_readyz_is_ready_against_local_arthur(local_arthur, client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "arthur": "ok"}


@pytest.mark.django_db
def test_readyz_names_an_unreachable_arthur(client, settings) -> None:
    settings.ARTHUR_HOST = "http://127.0.0.1:9"  # discard port: nothing listens
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok" and body["cache"] == "ok"
    assert body["arthur"].startswith("unavailable: cannot reach Arthur")


@pytest.mark.django_db
def test_readyz_names_a_broken_cache(client, settings, monkeypatch) -> None:
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("redis is gone")

    settings.ARTHUR_HOST = "http://127.0.0.1:9"
    monkeypatch.setattr(cache, "set", down)
    body = client.get("/readyz").json()
    assert body["cache"] == "unavailable: ConnectionError"


def test_gunicorn_recycles_workers_with_a_jitter_of_half_max_requests() -> None:
    """Workers started together must not all restart together: the jitter spreads them out."""
    code = (
        "import runpy, json\n"
        "c = runpy.run_path('dashboard/gunicorn.conf.py')\n"
        "print(json.dumps({k: c[k] for k in ('max_requests', 'max_requests_jitter')}))\n"
    )

    def config(**overrides: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_MAX_REQUESTS")} | overrides
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert config() == {"max_requests": 2000, "max_requests_jitter": 1000}
    assert config(GUNICORN_MAX_REQUESTS="600") == {"max_requests": 600, "max_requests_jitter": 300}
    assert config(GUNICORN_MAX_REQUESTS_JITTER="50") == {"max_requests": 2000, "max_requests_jitter": 50}
