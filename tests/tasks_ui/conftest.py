"""Fixtures for the dashboard page tests: a dashboard user signed in as a seeded Local Arthur identity."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.test import Client


@pytest.fixture
def sign_in(db, api_token) -> Callable[..., Client]:
    """``sign_in("editor@example.com")``: a test client whose dashboard user holds a real Arthur token.

    The token is minted for the seeded identity (no OAuth round trip) and stored where the sign-in
    flow stores it, so every page talks to Local Arthur exactly as after a browser sign-in.
    """
    from django.contrib.auth import get_user_model

    from accounts.models import ArthurAccount

    def make(identity: str, *, client: Client | None = None) -> Client:
        user, _ = get_user_model().objects.get_or_create(username=identity, defaults={"email": identity})
        ArthurAccount.objects.update_or_create(
            user=user,
            defaults={
                "issuer": "local-arthur-test",
                "subject": identity,
                "access_token": api_token(identity, expires_in=3600),
                "expires_at": int(time.time()) + 3600,
            },
        )
        client = client or Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def support_bot(local_arthur, api_token):
    """The ids of the demo's support-bot task model (Customer Support)."""
    from tests.tasks_ui.arthur import client_for, find_task

    return find_task(client_for(local_arthur, api_token("editor@example.com")), "Customer Support", "support-bot")


@pytest.fixture
def partly_broken(local_arthur):
    """`responses` in front of Local Arthur: calls registered in a test are answered by it, the rest go through."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(local_arthur)
        yield mock


@pytest.fixture
def arthur_calls(monkeypatch) -> list[tuple[str, str]]:
    """Every HTTP call ``arthur_api`` makes during the test, as ``(method, path)``, in order."""
    from arthur_api.client import ArthurClient

    calls: list[tuple[str, str]] = []
    original = ArthurClient._send

    def counting(self, method, url, params, json):
        from urllib.parse import urlsplit

        calls.append((method, urlsplit(url).path))
        return original(self, method, url, params, json)

    monkeypatch.setattr(ArthurClient, "_send", counting)
    return calls


# The data plane's own fixtures: a real agent thread executing jobs against the live server.
from tests.dataplane.conftest import dataplane_agent, start_agent  # noqa: E402, F401
