"""Writes of the sign-in flow: the local user behind an Arthur identity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction

from accounts.models import ArthurAccount


def account_from_claims(*, issuer: str, claims: Mapping[str, Any]) -> ArthurAccount:
    """The account for the id_token's (issuer, sub), created on first sign-in, names refreshed each time.

    The local user gets no usable password: the dashboard signs people in only through Arthur.
    """
    subject = str(claims["sub"])
    with transaction.atomic():
        account = ArthurAccount.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        if account is None:
            user = get_user_model()(username=_free_username(claims))
            user.set_unusable_password()
            _copy_names(user, claims)
            user.save()
            account = ArthurAccount.objects.create(user=user, issuer=issuer, subject=subject)
        else:
            _copy_names(account.user, claims)
            account.user.save(update_fields=["email", "first_name", "last_name"])
    return account


def _copy_names(user: AbstractUser, claims: Mapping[str, Any]) -> None:
    user.email = str(claims.get("email") or "")[:254]
    given, family = claims.get("given_name"), claims.get("family_name")
    if not given and not family and claims.get("name"):
        given = claims["name"]
    user.first_name = str(given or "")[:150]
    user.last_name = str(family or "")[:150]


def _free_username(claims: Mapping[str, Any]) -> str:
    user_model = get_user_model()
    subject = str(claims["sub"])
    email = str(claims.get("email") or "")
    for candidate in (email, f"{email}+{subject[:8]}" if email else "", subject):
        candidate = candidate[:150]
        if candidate and not user_model.objects.filter(username=candidate).exists():
            return candidate
    return f"arthur-{subject}"[:150]
