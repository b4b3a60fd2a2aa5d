"""Sign-in and refresh against Local Arthur's real provider, over real HTTP (no browser)."""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests
from django.db import connections

from accounts import oauth
from accounts.models import ArthurAccount
from accounts.tokens import SignInRequired, access_token_for, user_client

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def sign_in(base: str, email: str = "editor@example.com", password: str = "arthur-demo") -> requests.Session:
    """What the browser does: dashboard button → provider's form → callback → dashboard."""
    browser = requests.Session()
    page = browser.get(f"{base}/accounts/login", params={"next": "/"}, timeout=10)
    to_provider = browser.post(
        f"{base}/accounts/login",
        data={"csrfmiddlewaretoken": CSRF.search(page.text).group(1), "next": "/"},
        headers={"Referer": page.url},
        timeout=10,
    )
    assert "/api/v1/auth/oidc/login" in to_provider.url, to_provider.url
    landed = browser.post(
        to_provider.url,
        data={
            "csrfmiddlewaretoken": CSRF.search(to_provider.text).group(1),
            "email": email,
            "password": password,
            "next": re.search(r'name="next" value="([^"]*)"', to_provider.text).group(1).replace("&amp;", "&"),
        },
        headers={"Referer": to_provider.url},
        timeout=10,
    )
    assert landed.status_code == 200 and landed.url == f"{base}/", (landed.status_code, landed.url)
    return browser


@pytest.fixture
def signed_in(local_arthur) -> ArthurAccount:
    oauth.reset()
    sign_in(local_arthur)
    return ArthurAccount.objects.select_related("user").get(user__email="editor@example.com")


def test_the_signed_in_person_calls_arthur_as_themselves(signed_in) -> None:
    me = user_client(signed_in.user).get_users_me()
    assert (me.email, me.first_name, me.user_type) == ("editor@example.com", "Eddie", "user")
    assert signed_in.subject == me.id  # the id_token's sub is the platform user id


def test_concurrent_refreshes_against_the_real_provider_spend_the_refresh_token_once(signed_in) -> None:
    # Arthur rotates refresh tokens and revokes the whole family when a spent one comes back, so
    # a double spend here would end in SignInRequired for some thread and for the next refresh.
    ArthurAccount.objects.filter(pk=signed_in.pk).update(expires_at=int(time.time()) - 1)
    results: list[str] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(5)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(access_token_for(signed_in.user_id))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert len(set(results)) == 1 and results[0] != signed_in.access_token
    rotated = ArthurAccount.objects.get(pk=signed_in.pk)
    assert rotated.refresh_token != signed_in.refresh_token
    # The family is intact: the new token works and can be refreshed again.
    assert user_client(signed_in.user).get_users_me().email == "editor@example.com"
    ArthurAccount.objects.filter(pk=signed_in.pk).update(expires_at=int(time.time()) - 1)
    assert access_token_for(signed_in.user_id) not in {results[0], signed_in.access_token}


def test_a_refresh_token_revoked_at_the_provider_means_sign_in_again(signed_in, local_arthur) -> None:
    with oauth.token_session() as session:
        session.revoke_token(f"{local_arthur}/api/v1/auth/oidc/revoke", token=signed_in.refresh_token,
                             token_type_hint="refresh_token")
    ArthurAccount.objects.filter(pk=signed_in.pk).update(expires_at=int(time.time()) - 1)
    with pytest.raises(SignInRequired):
        access_token_for(signed_in.user_id)
