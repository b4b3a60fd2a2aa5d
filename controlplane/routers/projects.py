"""WorkspacesV1Api / ProjectsV1Api: navigating the organization (only what the caller may see)."""

from __future__ import annotations

import uuid
from typing import Literal

from django.db.models import Count, QuerySet
from django.http import HttpRequest
from ninja import Router
from ninja.errors import HttpError

from controlplane import rbac, schemas
from controlplane.identity.models import Workspace
from controlplane.models import Project
from controlplane.routers.common import Page, PageSize, load_project, ordering, paginate
from controlplane.serializers import project_out, workspace_out

router = Router(tags=["projects"])

SortField = Literal["name", "created_at", "updated_at"]


def _visible_projects(request: HttpRequest) -> QuerySet[Project]:
    qs = Project.objects.filter(workspace__organization_id=request.auth.organization_id)
    restriction = rbac.visible_project_filter(request.auth)
    return qs if restriction is None else qs.filter(**restriction).distinct()


@router.get("/organization/workspaces", response=schemas.WorkspaceList, summary="Get Workspaces")
def get_workspaces(
    request: HttpRequest,
    sort: SortField = "name",
    order: schemas.SortOrder = "asc",
    name: str | None = None,
    page: int = Page,
    page_size: int = PageSize,
):
    """Workspaces of the caller's organization that hold a project it can see (all for organization
    admins). Requires organization_list_workspaces."""
    user = request.auth
    rbac.require(
        user,
        rbac.ORGANIZATION_LIST_WORKSPACES,
        organization_id=user.organization_id,
        project_id=None,
        data_plane_id=user.data_plane_id,
    )
    qs = Workspace.objects.filter(organization_id=user.organization_id)
    if rbac.visible_project_filter(user) is not None:
        qs = qs.filter(id__in=_visible_projects(request).values("workspace_id"))
    if name:
        qs = qs.filter(name__icontains=name)
    records, pagination = paginate(qs.order_by(*ordering(sort, order)), page, page_size)
    return {"records": [workspace_out(ws) for ws in records], "pagination": pagination}


@router.get("/workspaces/{workspace_id}/projects", response=schemas.ProjectList, summary="Get Projects")
def get_projects(
    request: HttpRequest,
    workspace_id: uuid.UUID,
    sort: SortField = "name",
    order: schemas.SortOrder = "desc",
    name: str | None = None,
    system_project: bool | None = None,
    page: int = Page,
    page_size: int = PageSize,
):
    """The workspace's projects the caller can see; 404 when it can see none of the workspace.
    Requires workspace_list_projects."""
    workspace = Workspace.objects.filter(id=workspace_id, organization_id=request.auth.organization_id).first()
    projects = _visible_projects(request).filter(workspace_id=workspace_id)
    if workspace is None or (rbac.visible_project_filter(request.auth) is not None and not projects.exists()):
        raise HttpError(404, "Workspace not found")
    if name:
        projects = projects.filter(name__icontains=name)
    if system_project is not None:
        projects = projects.filter(system_project=system_project)
    projects = projects.annotate(artifacts=Count("models", distinct=True)).order_by(*ordering(sort, order))
    records, pagination = paginate(projects, page, page_size)
    return {"records": [project_out(p, p.artifacts) for p in records], "pagination": pagination}


@router.get("/projects/{project_id}", response=schemas.Project, summary="Get Project")
def get_project(request: HttpRequest, project_id: uuid.UUID):
    """One project. Requires project_read."""
    project = load_project(request.auth, project_id, rbac.PROJECT_READ)
    return project_out(project, project.models.count())
