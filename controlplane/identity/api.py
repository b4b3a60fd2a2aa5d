"""Identity endpoints on the JSON API (`/api/v1/users/...`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema

from controlplane.identity.models import PlatformUser

router = Router(tags=["users"])


class UserOut(Schema):
    """The platform's ``User`` shape (arthur-platform.md §1.4)."""

    created_at: datetime
    updated_at: datetime
    organization_id: str
    id: str
    first_name: str
    last_name: str | None
    email: str | None = None
    picture: str | None = None
    user_type: Literal["user", "service_account", "data_plane"]
    data_plane_id: str | None = None
    client_id: str | None = None
    organization_name: str


def user_out(user: PlatformUser) -> UserOut:
    """Serialize a platform user. ``client_id`` is set only for service accounts and
    ``data_plane_id`` only for data planes, as on the platform."""
    return UserOut(
        created_at=user.created_at,
        updated_at=user.updated_at,
        organization_id=str(user.organization_id),
        id=str(user.id),
        first_name=user.first_name,
        last_name=user.last_name,
        email=user.email,
        user_type=user.user_type,
        data_plane_id=str(user.data_plane_id) if user.user_type == PlatformUser.UserType.DATA_PLANE else None,
        client_id=user.client_id if user.user_type == PlatformUser.UserType.SERVICE_ACCOUNT else None,
        organization_name=user.organization.name,
    )


@router.get("/me", response=UserOut, summary="Get Users Me")
def get_users_me(request: HttpRequest) -> UserOut:
    """The identity behind the bearer token."""
    return user_out(request.auth)
