"""The project skeleton: health, settings discipline and the app shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_healthz_answers_when_database_answers(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_healthz_reports_database_failure(client, monkeypatch) -> None:
    from django.db.backends.utils import CursorWrapper

    def broken(self, sql, params=None):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(CursorWrapper, "execute", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


@pytest.mark.django_db
def test_shell_renders_with_csrf_header_and_csp(client) -> None:
    # "/" needs sign-in; the sign-in page is the shell an anonymous visitor sees.
    response = client.get("/accounts/login")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<title>Sign in · Arthur Tasks</title>" in body
    assert 'hx-headers=\'{"x-csrftoken": "' in body
    assert "htmx" in body
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def _settings_probe(env: dict[str, str], expr: str) -> subprocess.CompletedProcess:
    code = f"import django; django.setup(); from django.conf import settings; print({expr})"
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DASHBOARD_", "ARTHUR_")) and k != "PYTEST_VERSION"
    }
    clean.update({"DJANGO_SETTINGS_MODULE": "dashboard.settings", **env})
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_production_mode_refuses_to_start_without_secrets() -> None:
    result = _settings_probe({"DASHBOARD_MODE": "production"}, "settings.SECRET_KEY")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_mode_has_debug_off_and_secure_cookies() -> None:
    env = {
        "DASHBOARD_MODE": "production",
        "DJANGO_SECRET_KEY": "x" * 60,
        "ARTHUR_CLIENT_SECRET": "s",
        "LOCAL_ARTHUR_ENCRYPTION_KEY": "k",
        "DATAPLANE_CLIENT_SECRET": "d",
    }
    expr = "settings.DEBUG, settings.SESSION_COOKIE_SECURE, settings.DATABASES['default']['ENGINE']"
    result = _settings_probe(env, expr)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "django.db.backends.sqlite3"]


def test_database_url_selects_postgresql() -> None:
    env = {"DASHBOARD_MODE": "test", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/example"}
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "d = settings.DATABASES['default']; print(d['ENGINE'], d['NAME'], d['HOST'])"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DASHBOARD_"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "dashboard.settings", **env})
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "example", "127.0.0.1"]


def test_env_example_lists_every_setting_read_by_settings() -> None:
    import re

    source = (ROOT / "dashboard" / "settings.py").read_text()
    names = set(re.findall(r'env(?:_bool|_int|_list)?\(\s*"([A-Z_]+)"', source))
    names |= set(re.findall(r'secret\(\s*"([A-Z_]+)"', source))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', source))
    listed = set(re.findall(r"^#?\s*([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert names, "settings read no variables?"
    assert sorted(names - listed - {"PYTEST_VERSION"}) == []
