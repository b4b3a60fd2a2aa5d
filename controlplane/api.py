"""Local Arthur's JSON API under /api/v1 (django-ninja, one router per resource).

Error bodies follow the platform (a FastAPI app): ``{"detail": "..."}`` for 400/403/404/500 and the
FastAPI list ``{"detail": [{"loc", "msg", "type"}]}`` for 422, with body locations written as
FastAPI does (``["body", "name"]``, not ninja's ``["body", "<argument>", "name"]``).
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError, ValidationErrorContext
from ninja.operation import Operation
from ninja.security import HttpBearer

from controlplane.identity.models import PlatformUser
from controlplane.identity.tokens import resolve_access_token

logger = logging.getLogger(__name__)


class PlatformBearer(HttpBearer):
    """`Authorization: Bearer <access token>` → the PlatformUser (``request.auth``)."""

    def authenticate(self, request: HttpRequest, token: str) -> PlatformUser | None:
        return resolve_access_token(token)


class LocalArthurAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # Handlers are named after the official client's methods (e.g. get_task_state_cache).
        return operation.view_func.__name__

    def validation_error_from_error_contexts(self, error_contexts: list[ValidationErrorContext]) -> ValidationError:
        error = super().validation_error_from_error_contexts(error_contexts)
        for item in error.errors:
            loc = tuple(item["loc"])
            # A body argument or a query schema is nested under its Python name; FastAPI has no
            # such level.
            if len(loc) >= 2 and loc[0] in ("body", "query") and loc[1] in _WRAPPER_ARGUMENT_NAMES:
                item["loc"] = (loc[0], *loc[2:])
            item["loc"] = list(item["loc"])
            item.pop("url", None)
        return error


# Every router names its JSON body argument `body` and a query-parameter schema `filters`.
_WRAPPER_ARGUMENT_NAMES = frozenset({"body", "filters"})

api = LocalArthurAPI(
    title="Local Arthur",
    version="0.1.0",
    description="An Arthur-compatible control plane for demos and tests.",
    urls_namespace="local_arthur",
    auth=PlatformBearer(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        # FastAPI answers malformed JSON with a 422 json_invalid item.
        detail = [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]
        return api.create_response(request, {"detail": detail}, status=422)
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.errors}, status=422)


@api.exception_handler(Exception)
def unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return api.create_response(request, {"detail": "Internal server error"}, status=500)


# Routers: one per resource. Identity's own endpoints (users/me) come from controlplane.identity.
from controlplane.identity.api import router as users_router  # noqa: E402
from controlplane.routers import connectors, jobs, models, permissions, projects, tasks  # noqa: E402

api.add_router("/users", users_router)
api.add_router("", tasks.router)
api.add_router("", jobs.router)
api.add_router("", projects.router)
api.add_router("", models.router)
api.add_router("", connectors.router)
api.add_router("", permissions.router)
