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


def _allowed(user: PlatformUser, item: schemas.PermissionRequestItem) -> bool:
    if item.resource_kind == "organization":
        scope = {"organization_id": _uuid(item.resource_id), "project_id": None, "data_plane_id": user.data_plane_id}
    elif item.resource_kind in _RESOURCES:
        scope = _scope(item.resource_kind, item.resource_id)
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


def _scope(kind: str, resource_id: str) -> dict | None:
    model, project_path, org_path, data_plane_path = _RESOURCES[kind]
    pk = _uuid(resource_id)
    if pk is None:
        return None
    fields = [path for path in (project_path, org_path, data_plane_path) if path]
    row = model.objects.filter(id=pk).values(*fields).first()
    if row is None:
        return None
    return {
        "organization_id": row[org_path],
        "project_id": row[project_path] if project_path else None,
        "data_plane_id": row[data_plane_path] if data_plane_path else None,
    }


@router.post("/permissions/check", response=schemas.PermissionsResponse, summary="Check Permissions")
def check_permissions(request: HttpRequest, body: schemas.PermissionsRequest):
    """For each item, whether the caller holds the permission on the resource (unknown resources and
    resources outside the caller's tenancy answer false)."""
    return {
        "permissions": [{**item.model_dump(), "allowed": _allowed(request.auth, item)} for item in body.permissions]
    }
