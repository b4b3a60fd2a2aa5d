"""Encryption at rest for secrets the control plane must give back (task validation keys).

The Fernet key is derived from ``settings.LOCAL_ARTHUR_ENCRYPTION_KEY`` (SHA-256 of the setting), so
rotating the setting makes stored secrets unreadable rather than silently wrong. Plaintexts are never
logged.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret could not be decrypted (the encryption key changed or the data is corrupt)."""


@lru_cache(maxsize=4)
def _fernet(setting: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(setting.encode()).digest()))


def encrypt_secret(plaintext: str) -> str:
    """The Fernet token (text) for `plaintext` under the configured key."""
    return _fernet(settings.LOCAL_ARTHUR_ENCRYPTION_KEY).encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    """The plaintext behind `token`; raises `SecretUnreadable` when it cannot be decrypted."""
    try:
        return _fernet(settings.LOCAL_ARTHUR_ENCRYPTION_KEY).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("stored secret cannot be decrypted with LOCAL_ARTHUR_ENCRYPTION_KEY") from exc
