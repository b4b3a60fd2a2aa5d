"""The provider's id_token signing key under concurrent first use.

Found by tests/reliability/test_load.py: on a fresh bin/serve, people signing in at the same moment
each stored a signing key of their own and signed their id_token with it, while the JWKS published
only the oldest key, so the dashboard could not verify their id_token (sign-in failed with 400
"Arthur's answer could not be verified": InvalidKeyIdError).
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from controlplane.identity.keys import public_jwks, signing_key
from controlplane.identity.models import SigningKey

pytestmark = pytest.mark.django_db(transaction=True)

FIRST_USERS = 8


def test_concurrent_first_uses_store_one_key_that_every_signer_uses_and_the_jwks_publishes() -> None:
    SigningKey.objects.all().delete()
    start = threading.Barrier(FIRST_USERS)
    kids: list[str] = []
    failures: list[BaseException] = []

    def first_use() -> None:
        try:
            start.wait()
            kids.append(signing_key().kid)
        except BaseException as exc:  # surfaced in the main thread
            failures.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=first_use) for _ in range(FIRST_USERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures
    assert len(kids) == FIRST_USERS
    assert SigningKey.objects.count() == 1
    assert set(kids) == {key["kid"] for key in public_jwks()["keys"]}
