"""The provider's id_token signing key: one persisted RS256 key, published as a JWKS."""

from __future__ import annotations

from django.db import connection, transaction
from joserfc.jwk import KeySet, RSAKey

from controlplane.identity.models import SigningKey

ALGORITHM = "RS256"
# PostgreSQL advisory lock id serializing the first key's creation ("SIGNKEY").
_CREATION_LOCK = 0x5349474E4B4559


def signing_key() -> RSAKey:
    """The current private signing key, generated and stored on first use.

    The first use is serialized (PostgreSQL: an advisory lock; SQLite: its IMMEDIATE transactions
    already serialize writers) and looks again under the lock, so requests racing on a fresh
    database store one key and all sign with it. Unserialized, each stored a key of its own and
    some signed id_tokens with a key the JWKS (the oldest) did not publish: sign-in failed.
    """
    row = SigningKey.objects.order_by("created_at", "id").first()
    if row is None:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CREATION_LOCK])
            row = SigningKey.objects.order_by("created_at", "id").first()
            if row is None:
                key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALGORITHM}, auto_kid=True)
                row = SigningKey.objects.create(kid=key.kid, private_jwk=key.as_dict(private=True))
    return RSAKey.import_key(row.private_jwk)


def public_jwks() -> dict:
    """The JWKS document (public parts only) clients verify id_tokens with."""
    return KeySet([signing_key()]).as_dict(private=False)
