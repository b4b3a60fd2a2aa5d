"""Local Arthur's JSON API under /api/v1 (django-ninja, one router per resource).

Error bodies follow the platform (a FastAPI app): ``{"detail": "..."}`` for 400/403/404/500 and the
FastAPI list ``{"detail": [{"loc", "msg", "type"}]}`` for 422, with body locations written as
FastAPI does (``["body", "name"]``, not ninja's ``["body", "<argument>", "name"]``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.utils.datastructures import MultiValueDict
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError, ValidationErrorContext
from ninja.operation import Operation
from ninja.parser import Parser
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

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict | None = None) -> dict:
        """ninja's document plus the error answers every operation can give (ninja lists only the
        success response), so clients and schema fuzzers see the API as it behaves."""
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document_error_responses(schema)
        return schema

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


_HTTP_ERROR = {
    "title": "HTTPError",
    "type": "object",
    "properties": {"detail": {"title": "Detail", "type": "string"}},
    "required": ["detail"],
}
_VALIDATION_ERROR = {
    "title": "HTTPValidationError",
    "type": "object",
    "properties": {
        "detail": {
            "title": "Detail",
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
                "required": ["loc", "msg", "type"],
            },
        }
    },
    "required": ["detail"],
}
# Status → description of the errors any authenticated operation may answer; 400 and 413 only come
# from operations that take a body (a rule the engine refuses, a body over the size limit).
_AUTHENTICATED_ERRORS = {
    401: "Missing, expired or revoked bearer token",
    403: "The caller can see the resource but lacks the named permission",
    404: "Not found, or outside the caller's tenancy",
    422: "Invalid path, query or body",
}
_BODY_ERRORS = {400: "The request was understood but refused", 413: "The request body is too large"}


def document_error_responses(schema: dict) -> None:
    """Add the shared error responses (``HTTPError``, ``HTTPValidationError``) to every operation."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("HTTPError", _HTTP_ERROR)
    components.setdefault("HTTPValidationError", _VALIDATION_ERROR)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            errors = dict(_AUTHENTICATED_ERRORS) if operation.get("security") else {422: _AUTHENTICATED_ERRORS[422]}
            if "requestBody" in operation:
                errors |= _BODY_ERRORS
            responses = operation.setdefault("responses", {})
            for status, description in errors.items():
                name = "HTTPValidationError" if status == 422 else "HTTPError"
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                    },
                )


class NulFreeParser(Parser):
    """ninja's JSON parser, refusing NUL characters anywhere in the body or the query string.

    PostgreSQL text columns cannot hold NUL (psycopg raises before the query is sent), so a NUL
    would otherwise become a 500 deep inside a handler; here it is a 422 naming where it was.
    """

    def parse_body(self, request: HttpRequest) -> Any:
        data = super().parse_body(request)
        refuse_nul(data, ["body"])
        return data

    def parse_querydict(self, data: MultiValueDict, list_fields: list[str], request: HttpRequest) -> dict[str, Any]:
        result = super().parse_querydict(data, list_fields, request)
        refuse_nul(result, ["query"])
        return result


def refuse_nul(value: Any, loc: list[str | int]) -> None:
    """Raise a 422 ``ValidationError`` at the first string (or object key) in `value` holding NUL."""
    if isinstance(value, str):
        if "\x00" in value:
            detail = {"loc": loc, "msg": "String should not contain NUL characters", "type": "string_nul"}
            raise ValidationError([detail])
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key, [*loc, key])
            refuse_nul(item, [*loc, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_nul(item, [*loc, index])


# Every router names its JSON body argument `body` and a query-parameter schema `filters`.
_WRAPPER_ARGUMENT_NAMES = frozenset({"body", "filters"})

api = LocalArthurAPI(
    title="Local Arthur",
    version="0.1.0",
    description="An Arthur-compatible control plane for demos and tests.",
    urls_namespace="local_arthur",
    auth=PlatformBearer(),
    docs_url="/docs",
    parser=NulFreeParser(),
    openapi_url="/openapi.json",
)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, ValidationError):
        # ninja wraps every body-parser failure in a 400; a validation failure keeps its 422.
        return validation_error(request, exc.__cause__)
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        # FastAPI answers malformed JSON with a 422 json_invalid item.
        detail = [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]
        return api.create_response(request, {"detail": detail}, status=422)
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.errors}, status=422)


@api.exception_handler(RequestDataTooBig)
def body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE are refused before they are parsed.
    return api.create_response(request, {"detail": "Request body too large"}, status=413)


@api.exception_handler(SuspiciousOperation)
def suspicious_request(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    # What Django itself answers with 400 (too many fields, a bad host, ...) must not become a 500.
    logger.warning("suspicious request on %s %s: %s", request.method, request.path, type(exc).__name__)
    return api.create_response(request, {"detail": "Bad request"}, status=400)


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
