"""AuthorizationV1Api.check_permissions: may the caller do X on resource Y (1 to 100 questions)."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Router

from controlplane import rbac, schemas
from controlplane.identity.models import DataPlane, PlatformUser, Workspace
from controlplane.models import Connector, Dataset, PlatformModel, Project

router = Router(tags=["authorization"])

# resource kind → (model, path to its project id or None, path to its organization id, data plane id path)
_RESOURCES = {
    "project": (Project, "id", "workspace__organization_id", None),
    "model": (PlatformModel, "project_id", "project__workspace__organization_id", "data_plane_id"),
    "connector": (Connector, "project_id", "project__workspace__organization_id", "data_plane_id"),
    "dataset": (Dataset, "project_id", "project__workspace__organization_id", "data_plane_id"),
    "workspace": (Workspace, None, "organization_id", None),
    "data_plane": (DataPlane, None, "workspace__organization_id", "id"),
}


Scope = dict[str, uuid.UUID | None]


def _allowed(
    user: PlatformUser, item: schemas.PermissionRequestItem, scopes: dict[tuple[str, uuid.UUID], Scope]
) -> bool:
    if item.resource_kind == "organization":
        scope = {"organization_id": _uuid(item.resource_id), "project_id": None, "data_plane_id": user.data_plane_id}
    elif item.resource_kind in _RESOURCES:
        scope = scopes.get((item.resource_kind, _uuid(item.resource_id)))
        if scope is None:
            return False
    else:
        return False
    permissions = rbac.permissions_on(user, **scope)
    return permissions is not None and item.permission_name in permissions


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _scopes(items: list[schemas.PermissionRequestItem]) -> dict[tuple[str, uuid.UUID], Scope]:
    """The scope of every existing resource the items name, keyed by (kind, id): one query per kind.

    A page asks several permissions on the same resource; each distinct resource is read once.
    Unknown or malformed ids are simply absent.
    """
    wanted: dict[str, set[uuid.UUID]] = {}
    for item in items:
        pk = _uuid(item.resource_id) if item.resource_kind in _RESOURCES else None
        if pk is not None:
            wanted.setdefault(item.resource_kind, set()).add(pk)
    scopes: dict[tuple[str, uuid.UUID], Scope] = {}
    for kind, ids in wanted.items():
        model, project_path, org_path, data_plane_path = _RESOURCES[kind]
        fields = [path for path in (project_path, org_path, data_plane_path) if path]
        for row in model.objects.filter(id__in=ids).values("id", *fields):
            scopes[(kind, row["id"])] = {
                "organization_id": row[org_path],
                "project_id": row[project_path] if project_path else None,
                "data_plane_id": row[data_plane_path] if data_plane_path else None,
            }
    return scopes


@router.post("/permissions/check", response=schemas.PermissionsResponse, summary="Check Permissions")
def check_permissions(request: HttpRequest, body: schemas.PermissionsRequest):
    """For each item, whether the caller holds the permission on the resource (unknown resources and
    resources outside the caller's tenancy answer false)."""
    scopes = _scopes(body.permissions)
    return {
        "permissions": [
            {**item.model_dump(), "allowed": _allowed(request.auth, item, scopes)} for item in body.permissions
        ]
    }
