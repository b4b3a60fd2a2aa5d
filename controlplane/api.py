"""Local Arthur's JSON API under /api/v1 (django-ninja, one router per resource)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.security import HttpBearer

from controlplane.identity.models import PlatformUser
from controlplane.identity.tokens import resolve_access_token


class PlatformBearer(HttpBearer):
    """`Authorization: Bearer <access token>` → the PlatformUser (``request.auth``)."""

    def authenticate(self, request: HttpRequest, token: str) -> PlatformUser | None:
        return resolve_access_token(token)


api = NinjaAPI(
    title="Local Arthur",
    version="0.1.0",
    description="An Arthur-compatible control plane for demos and tests.",
    urls_namespace="local_arthur",
    auth=PlatformBearer(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)

# Routers: one per resource. Identity's own endpoints (users/me) come from controlplane.identity.
from controlplane.identity.api import router as users_router  # noqa: E402

api.add_router("/users", users_router)
