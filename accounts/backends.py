"""The dashboard's authentication backend: Django's ModelBackend with a brief per-process memo of
the signed-in person's row.

Every signed-in request loads its user (``request.user``) by id. For the most frequent request, a job
tracker's poll, that database round trip was the largest single cost (about 0.6 of 1.5 ms
in-process; ``make bench``). The memo keeps the row's *values* for ``USER_MEMO_SECONDS`` and builds
a new instance from them for every request, so no request ever shares a mutable user object with
another. What stays as it was:

- ``django.contrib.auth`` still checks the session's auth hash against the returned user on every
  request, and ``is_active`` is still checked here;
- signing in and out, and saving or deleting the row, drop the person's memo (in this process; a
  signed-out session is gone everywhere, so other processes' memos have nothing left to serve);
- dashboard accounts are local mirrors of Arthur people without passwords: what a person may see
  is decided by Arthur on every call, with their token.

A row changed behind the dashboard's back (an operator deactivating an account in the database) is
seen by every process within ``USER_MEMO_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.contrib.auth import get_user_model, user_logged_in, user_logged_out
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

USER_MEMO_SECONDS = 30.0
USER_MEMO_SIZE = 10_000

_memo: dict[str, tuple[float, str, tuple[str, ...], tuple[Any, ...]]] = {}
_lock = threading.Lock()


class MemoizedModelBackend(ModelBackend):
    """``ModelBackend`` whose ``get_user`` reads a person's row at most once per ``USER_MEMO_SECONDS``."""

    def get_user(self, user_id: Any) -> AbstractBaseUser | None:
        key = str(user_id)
        entry = _memo.get(key)
        if entry is not None and entry[0] > time.monotonic():
            _, db, names, values = entry
            user = get_user_model().from_db(db, names, values)
        else:
            user = super().get_user(user_id)
            if user is None:
                forget_user(user_id)
                return None
            _remember(key, user)
        return user if self.user_can_authenticate(user) else None


def _remember(key: str, user: AbstractBaseUser) -> None:
    names = tuple(field.attname for field in user._meta.concrete_fields)
    values = tuple(getattr(user, name) for name in names)
    with _lock:
        if len(_memo) >= USER_MEMO_SIZE:
            _memo.clear()  # a bound, not an LRU: a full memo just starts again
        _memo[key] = (time.monotonic() + USER_MEMO_SECONDS, user._state.db or "default", names, values)


def forget_user(user_id: Any) -> None:
    """Drop a person's memo (they signed in or out, or their row is gone)."""
    with _lock:
        _memo.pop(str(user_id), None)


@receiver(user_logged_in)
@receiver(user_logged_out)
def _forget_on_sign_in_or_out(sender: Any, request: Any, user: AbstractBaseUser | None, **kwargs: Any) -> None:
    if user is not None:
        forget_user(user.pk)


@receiver(post_save)
@receiver(post_delete)
def _forget_on_row_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    if sender is get_user_model():
        forget_user(instance.pk)


def clear_memo() -> None:
    """Forget everyone (tests: rolled-back databases reuse ids)."""
    with _lock:
        _memo.clear()
