"""The server-side token store: refresh before expiry, one refresh at a time, sign-in again when refused."""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import connections

from accounts.models import ArthurAccount
from accounts.tokens import SignInRequired, access_token_for, user_client
from arthur_api.errors import ArthurUnavailable
from tests.accounts.conftest import HOST, TOKEN_URL
from tests.arthur_api import samples


def make_account(*, expires_in: int, refresh_token: str = "refresh-1", access_token: str = "access-1") -> ArthurAccount:
    user = get_user_model().objects.create(username="editor@example.com", first_name="Eddie")
    return ArthurAccount.objects.create(
        user=user,
        issuer="https://idp.test/api/v1/auth/oidc",
        subject="user-123",
        access_token=access_token,
        refresh_token=refresh_token,
        id_token="id-token",
        expires_at=int(time.time()) + expires_in,
    )


def rotating_token_endpoint(idp, *, delay: float = 0.0) -> list[str]:
    """A token endpoint that rotates refresh tokens and refuses a spent one, as Arthur does."""
    spent: list[str] = []
    lock = threading.Lock()

    def reply(request):
        import json

        form = parse_qs(request.body)
        presented = form["refresh_token"][0]
        time.sleep(delay)
        with lock:
            if presented in spent:
                return 400, {}, json.dumps({"error": "invalid_grant", "error_description": "reused"})
            spent.append(presented)
            n = len(spent) + 1
        body = {"access_token": f"access-{n}", "refresh_token": f"refresh-{n}", "expires_in": 300,
                "token_type": "Bearer"}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    idp.mock.add_callback("POST", TOKEN_URL, callback=reply)
    return spent


@pytest.mark.django_db
def test_a_fresh_token_is_used_as_is(idp) -> None:
    account = make_account(expires_in=300)
    assert access_token_for(account.user_id) == "access-1"
    assert idp.token_requests == []


@pytest.mark.django_db
def test_a_token_near_expiry_is_refreshed_and_the_rotated_token_stored(idp) -> None:
    account = make_account(expires_in=30)  # inside the 60 s leeway
    spent = rotating_token_endpoint(idp)

    assert access_token_for(account.user_id) == "access-2"

    assert spent == ["refresh-1"]
    account.refresh_from_db()
    assert (account.access_token, account.refresh_token) == ("access-2", "refresh-2")
    assert account.expires_at > time.time() + 200
    assert account.refresh_lease_until is None and account.id_token == "id-token"
    call = next(c for c in idp.mock.calls if c.request.url == TOKEN_URL)
    assert parse_qs(call.request.body)["grant_type"] == ["refresh_token"]
    assert call.request.headers["Authorization"].startswith("Basic ")


@pytest.mark.django_db
def test_a_refused_refresh_clears_the_tokens_and_asks_for_sign_in(idp) -> None:
    account = make_account(expires_in=-10)
    idp.answer_token({"error": "invalid_grant"}, status=400)
    with pytest.raises(SignInRequired):
        access_token_for(account.user_id)
    account.refresh_from_db()
    assert (account.access_token, account.refresh_token) == ("", "")
    with pytest.raises(SignInRequired):
        access_token_for(account.user_id)


@pytest.mark.django_db
def test_no_refresh_token_means_sign_in_again(idp) -> None:
    account = make_account(expires_in=-10, refresh_token="")
    with pytest.raises(SignInRequired):
        access_token_for(account.user_id)
    account.refresh_from_db()
    assert account.access_token == ""


@pytest.mark.django_db
def test_a_provider_outage_keeps_a_still_valid_token_and_the_refresh_token(idp) -> None:
    account = make_account(expires_in=30)
    idp.mock.add("POST", TOKEN_URL, body=requests.exceptions.ConnectionError())
    assert access_token_for(account.user_id) == "access-1"
    account.refresh_from_db()
    assert account.refresh_token == "refresh-1" and account.refresh_lease_until is None


@pytest.mark.django_db
def test_a_provider_outage_with_an_expired_token_is_unavailable(idp) -> None:
    account = make_account(expires_in=-5)
    idp.mock.add("POST", TOKEN_URL, status=503)
    with pytest.raises(ArthurUnavailable):
        access_token_for(account.user_id)
    account.refresh_from_db()
    assert account.refresh_token == "refresh-1"  # not spent: the person can still be refreshed later


@pytest.mark.django_db
def test_no_account_means_sign_in(idp) -> None:
    user = get_user_model().objects.create(username="nobody")
    with pytest.raises(SignInRequired):
        access_token_for(user.pk)


def run_concurrently(user_id: int, count: int) -> tuple[list[str], list[BaseException]]:
    results: list[str] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(count)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(access_token_for(user_id))
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, failures


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_spend_the_refresh_token_once(idp) -> None:
    account = make_account(expires_in=5)
    spent = rotating_token_endpoint(idp, delay=0.3)

    results, failures = run_concurrently(account.user_id, 6)

    assert failures == []
    assert results == ["access-2"] * 6
    assert spent == ["refresh-1"]
    account.refresh_from_db()
    assert account.refresh_token == "refresh-2"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_spend_the_refresh_token_once_on_postgres(idp) -> None:
    account = make_account(expires_in=5)
    spent = rotating_token_endpoint(idp, delay=0.3)
    results, failures = run_concurrently(account.user_id, 8)
    assert failures == []
    assert results == ["access-2"] * 8
    assert spent == ["refresh-1"]


@pytest.mark.django_db
def test_an_abandoned_lease_runs_out(idp, monkeypatch) -> None:
    account = make_account(expires_in=-5)
    ArthurAccount.objects.filter(pk=account.pk).update(refresh_lease_id="dead", refresh_lease_until=time.time() - 1)
    rotating_token_endpoint(idp)
    assert access_token_for(account.user_id) == "access-2"


# --- user_client: the signed-in person's ArthurClient ------------------------------------------


@pytest.mark.django_db
def test_user_client_calls_arthur_with_the_persons_token(idp) -> None:
    account = make_account(expires_in=300)
    idp.mock.add("GET", f"{HOST}/api/v1/users/me", json=samples.user())
    me = user_client(account.user).get_users_me()
    assert me.email == "editor@example.com"
    call = next(c for c in idp.mock.calls if c.request.url.endswith("/users/me"))
    assert call.request.headers["Authorization"] == "Bearer access-1"


@pytest.mark.django_db
def test_user_client_refreshes_after_a_401_and_retries_once(idp) -> None:
    account = make_account(expires_in=300)
    rotating_token_endpoint(idp)
    idp.mock.add("GET", f"{HOST}/api/v1/users/me", status=401)
    idp.mock.add("GET", f"{HOST}/api/v1/users/me", json=samples.user())
    assert user_client(account.user).get_users_me().first_name == "Eddie"
    calls = [c.request.headers["Authorization"] for c in idp.mock.calls if c.request.url.endswith("/users/me")]
    assert calls == ["Bearer access-1", "Bearer access-2"]


@pytest.mark.django_db
def test_user_client_refuses_anonymous(rf) -> None:
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/")
    request.user = AnonymousUser()
    with pytest.raises(SignInRequired):
        user_client(request)


# --- per-request cost: no lock for a good token, one read per client, one pooled session ---------


@pytest.mark.django_db
def test_a_fresh_token_is_one_plain_read_without_a_transaction(idp) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account = make_account(expires_in=300)
    with CaptureQueriesContext(connection) as queries:
        assert access_token_for(account.user_id) == "access-1"
    sql = [q["sql"].upper() for q in queries]
    assert len(sql) == 1, sql  # no SAVEPOINT/lock round trips around it
    assert sql[0].startswith("SELECT") and "FOR UPDATE" not in sql[0]


@pytest.mark.django_db
def test_one_client_reads_the_token_once_for_several_calls(idp) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account = make_account(expires_in=300)
    idp.mock.add("GET", f"{HOST}/api/v1/users/me", json=samples.user())
    client = user_client(account.user)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            client.get_users_me()
    assert len(queries) == 1
    calls = [c.request.headers["Authorization"] for c in idp.mock.calls if c.request.url.endswith("/users/me")]
    assert calls == ["Bearer access-1"] * 3


@pytest.mark.django_db
def test_user_clients_share_one_pooled_session_but_never_credentials(idp) -> None:
    first = make_account(expires_in=300, access_token="access-eddie")
    other_user = get_user_model().objects.create(username="viewer@example.com")
    ArthurAccount.objects.create(
        user=other_user, issuer="x", subject="user-456", access_token="access-vera", refresh_token="r",
        expires_at=int(time.time()) + 300,
    )
    idp.mock.add("GET", f"{HOST}/api/v1/users/me", json=samples.user(), headers={"Set-Cookie": "sid=eddie; Path=/"})

    eddie, eddie_again, vera = user_client(first.user), user_client(first.user), user_client(other_user)
    assert eddie.session is eddie_again.session is vera.session
    assert eddie.session.get_adapter(HOST) is vera.session.get_adapter(HOST)
    assert eddie.session.auth is None

    eddie.get_users_me()
    vera.get_users_me()
    eddie.close()  # a shared session outlives the client that used it
    eddie_again.get_users_me()

    sent = [c.request.headers for c in idp.mock.calls if c.request.url.endswith("/users/me")]
    assert [h["Authorization"] for h in sent] == ["Bearer access-eddie", "Bearer access-vera", "Bearer access-eddie"]
    assert all("Cookie" not in h for h in sent)  # one person's cookies never ride along with another's call
    assert len(vera.session.cookies) == 0
