"""The dashboard's authentication backend: a brief per-process memo of the signed-in person's row."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import backends
from accounts.backends import MemoizedModelBackend

pytestmark = pytest.mark.django_db


@pytest.fixture
def person():
    return get_user_model().objects.create_user(username="memo-person", email="memo@example.com")


def user_queries(queries: CaptureQueriesContext) -> int:
    table = get_user_model()._meta.db_table
    return sum(1 for query in queries.captured_queries if table in query["sql"])


def test_a_person_is_read_once_per_window_and_each_request_gets_its_own_instance(person) -> None:
    backend = MemoizedModelBackend()
    with CaptureQueriesContext(connection) as queries:
        first = backend.get_user(person.pk)
        second = backend.get_user(person.pk)
    assert user_queries(queries) == 1
    assert first == second == person and first is not second
    first.first_name = "changed in one request"
    assert backend.get_user(person.pk).first_name == ""


def test_a_saved_change_is_seen_at_once(person) -> None:
    backend = MemoizedModelBackend()
    assert backend.get_user(person.pk) is not None
    person.is_active = False
    person.save()
    assert backend.get_user(person.pk) is None


def test_a_change_behind_the_dashboards_back_is_seen_once_the_window_ends(person, monkeypatch) -> None:
    backend = MemoizedModelBackend()
    assert backend.get_user(person.pk) is not None
    get_user_model().objects.filter(pk=person.pk).update(is_active=False)  # no signal
    assert backend.get_user(person.pk) is not None  # inside the window
    now = backends.time.monotonic()
    monkeypatch.setattr(backends.time, "monotonic", lambda: now + backends.USER_MEMO_SECONDS + 1)
    assert backend.get_user(person.pk) is None


def test_signing_out_forgets_the_person(client, person) -> None:
    client.force_login(person)
    MemoizedModelBackend().get_user(person.pk)  # what a signed-in request does first
    assert str(person.pk) in backends._memo
    client.logout()
    assert str(person.pk) not in backends._memo


def test_an_unknown_id_is_no_one() -> None:
    assert MemoizedModelBackend().get_user(987654) is None
    assert "987654" not in backends._memo
