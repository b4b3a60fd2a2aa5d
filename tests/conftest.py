"""Suite-wide fixtures. Settings run in test mode (throwaway secrets): see DASHBOARD_MODE."""

from __future__ import annotations

import os

os.environ.setdefault("DASHBOARD_MODE", "test")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # PostgreSQL tests skip only when DATABASE_URL is unset (CI sets it).
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def local_arthur(live_server, settings):
    """A live server running Local Arthur with the demo data, and the dashboard pointed at it.

    Returns the base URL (``http://localhost:PORT``). ARTHUR_HOST is the live server, so the
    dashboard, the official client and the agent all talk to it over real HTTP.
    """
    from controlplane.seed import seed_demo

    settings.ARTHUR_HOST = live_server.url
    seed_demo(dashboard_url=live_server.url)
    return live_server.url


@pytest.fixture
def api_token(db):
    """Mint a bearer token for a seeded identity (email or client id) without an OAuth round trip."""
    from controlplane.identity.models import PlatformUser
    from controlplane.identity.tokens import issue_access_token

    def mint(identity: str, *, expires_in: int | None = None) -> str:
        user = PlatformUser.objects.get(email=identity) if "@" in identity else PlatformUser.objects.get(
            client_id=identity
        )
        return issue_access_token(user, client_id="test-fixture", expires_in=expires_in).access_token

    return mint


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: throttles, rate-limit counters and cached job states
    from one test must never decide another's outcome (the locmem cache lives for the process)."""
    from django.core.cache import cache

    from accounts.backends import clear_memo

    cache.clear()
    clear_memo()  # rolled-back databases reuse user ids
    yield
