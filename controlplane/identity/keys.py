"""The provider's id_token signing key: one persisted RS256 key, published as a JWKS."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from joserfc.jwk import KeySet, RSAKey

from controlplane.identity.models import SigningKey

ALGORITHM = "RS256"


def signing_key() -> RSAKey:
    """The current private signing key, generated and stored on first use.

    Two first requests racing each other both generate a key; the unique ``kid`` plus "oldest row
    wins" means every caller ends up signing with the same stored key.
    """
    row = SigningKey.objects.order_by("created_at", "id").first()
    if row is None:
        key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALGORITHM}, auto_kid=True)
        try:
            with transaction.atomic():
                SigningKey.objects.create(kid=key.kid, private_jwk=key.as_dict(private=True))
        except IntegrityError:
            pass
        row = SigningKey.objects.order_by("created_at", "id").first()
    return RSAKey.import_key(row.private_jwk)


def public_jwks() -> dict:
    """The JWKS document (public parts only) clients verify id_tokens with."""
    return KeySet([signing_key()]).as_dict(private=False)
