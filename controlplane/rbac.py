"""Role-based access control with the platform's permission names (reference §1.3).

Roles are granted by `RoleBinding` rows on an organization or a project. A data-plane identity needs
no binding: it holds the data-plane role on resources that live on *its* data plane, and nothing else.

Tenancy comes before permissions: a caller with no binding that reaches a project (or a data plane
asking about another data plane's resource) gets 404, so existence does not leak; a caller who can
see the project but lacks the permission gets 403 naming it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ninja.errors import HttpError

from controlplane.identity.models import PlatformUser
from controlplane.models import Project, Role, RoleBinding

# --- Permission names (a subset of the platform's PermissionName enum) ----------------------
ORGANIZATION_READ = "organization_read"
ORGANIZATION_LIST_WORKSPACES = "organization_list_workspaces"
WORKSPACE_READ = "workspace_read"
WORKSPACE_LIST_PROJECTS = "workspace_list_projects"
PROJECT_READ = "project_read"
PROJECT_LIST_MODELS = "project_list_models"
PROJECT_CREATE_MODEL = "project_create_model"
PROJECT_LIST_CONNECTORS = "project_list_connectors"
PROJECT_LIST_JOBS = "project_list_jobs"
PROJECT_CREATE_MODEL_TASK = "project_create_model_task"
PROJECT_CREATE_MODEL_LINK_TASK = "project_create_model_link_task"
PROJECT_JOB_READ = "project_job_read"
PROJECT_JOB_UPDATE = "project_job_update"
PROJECT_JOB_PUT_STATE = "project_job_put_state"
PROJECT_JOB_READ_RUNS = "project_job_read_runs"
PROJECT_JOB_READ_LOGS = "project_job_read_logs"
PROJECT_JOB_APPEND_LOGS = "project_job_append_logs"
PROJECT_JOB_READ_ERRORS = "project_job_read_errors"
PROJECT_JOB_APPEND_ERRORS = "project_job_append_errors"
MODEL_READ = "model_read"
MODEL_DELETE = "model_delete"
MODEL_TASK_READ = "model_task_read"
MODEL_TASK_UPDATE = "model_task_update"
MODEL_TASK_DELETE = "model_task_delete"
MODEL_TASK_SYNC = "model_task_sync"
MODEL_TASK_PUT_STATE_CACHE = "model_task_put_state_cache"
MODEL_TASK_PUT_CONNECTION_INFO = "model_task_put_connection_info"
MODEL_TASK_GET_CONNECTION_INFO = "model_task_get_connection_info"
MODEL_TASK_DELETE_CONNECTION_INFO = "model_task_delete_connection_info"
MODEL_TASK_REGENERATE_VALIDATION_KEY = "model_task_regenerate_validation_key"
CONNECTOR_READ = "connector_read"
CONNECTOR_GET_SENSITIVE_FIELDS = "connector_get_sensitive_fields"
CONNECTOR_CREATE_DATASET = "connector_create_dataset"
DATASET_READ = "dataset_read"
DATASET_DELETE = "dataset_delete"
DATA_PLANE_READ = "data_plane_read"
DATA_PLANE_JOBS_DEQUEUE_NEXT = "data_plane_jobs_dequeue_next"

VIEWER_PERMISSIONS = frozenset(
    {
        ORGANIZATION_READ,
        ORGANIZATION_LIST_WORKSPACES,
        WORKSPACE_READ,
        WORKSPACE_LIST_PROJECTS,
        PROJECT_READ,
        PROJECT_LIST_MODELS,
        PROJECT_LIST_CONNECTORS,
        PROJECT_LIST_JOBS,
        PROJECT_JOB_READ,
        PROJECT_JOB_READ_RUNS,
        PROJECT_JOB_READ_LOGS,
        PROJECT_JOB_READ_ERRORS,
        MODEL_READ,
        MODEL_TASK_READ,
        CONNECTOR_READ,
        DATASET_READ,
        DATA_PLANE_READ,
    }
)
# Editors change tasks (through jobs) and may read the validation key; they manage no infrastructure.
EDITOR_PERMISSIONS = VIEWER_PERMISSIONS | {
    PROJECT_CREATE_MODEL_TASK,
    PROJECT_CREATE_MODEL_LINK_TASK,
    MODEL_TASK_UPDATE,
    MODEL_TASK_DELETE,
    MODEL_TASK_SYNC,
    MODEL_TASK_GET_CONNECTION_INFO,
    MODEL_TASK_REGENERATE_VALIDATION_KEY,
    PROJECT_JOB_UPDATE,
}
# Automation: an editor that cannot delete tasks (deleting is left to people).
SERVICE_ACCOUNT_PERMISSIONS = EDITOR_PERMISSIONS - {MODEL_TASK_DELETE}
# What a data plane needs to run task jobs (reference §2.3), only ever on its own resources.
DATA_PLANE_PERMISSIONS = frozenset(
    {
        PROJECT_READ,
        PROJECT_CREATE_MODEL,
        PROJECT_JOB_READ,
        PROJECT_JOB_PUT_STATE,
        PROJECT_JOB_READ_RUNS,
        PROJECT_JOB_READ_LOGS,
        PROJECT_JOB_APPEND_LOGS,
        PROJECT_JOB_READ_ERRORS,
        PROJECT_JOB_APPEND_ERRORS,
        MODEL_READ,
        MODEL_DELETE,
        MODEL_TASK_READ,
        MODEL_TASK_PUT_STATE_CACHE,
        MODEL_TASK_PUT_CONNECTION_INFO,
        MODEL_TASK_GET_CONNECTION_INFO,
        MODEL_TASK_DELETE_CONNECTION_INFO,
        CONNECTOR_READ,
        CONNECTOR_GET_SENSITIVE_FIELDS,
        CONNECTOR_CREATE_DATASET,
        DATASET_READ,
        DATASET_DELETE,
        DATA_PLANE_READ,
        DATA_PLANE_JOBS_DEQUEUE_NEXT,
    }
)
ALL_PERMISSIONS = EDITOR_PERMISSIONS | DATA_PLANE_PERMISSIONS
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.ORGANIZATION_ADMIN: ALL_PERMISSIONS,
    Role.PROJECT_EDITOR: EDITOR_PERMISSIONS,
    Role.PROJECT_VIEWER: VIEWER_PERMISSIONS,
    Role.SERVICE_ACCOUNT: SERVICE_ACCOUNT_PERMISSIONS,
}


@dataclass(frozen=True)
class Grants:
    """A caller's role bindings, read once per request."""

    organization_permissions: frozenset[str] = frozenset()
    project_permissions: dict[uuid.UUID, frozenset[str]] = field(default_factory=dict)

    @property
    def project_ids(self) -> frozenset[uuid.UUID]:
        return frozenset(self.project_permissions)


def grants_for(user: PlatformUser) -> Grants:
    """The caller's grants, memoised on the user object (which lives for one request)."""
    cached = user.__dict__.get("_controlplane_grants")
    if cached is not None:
        return cached
    org: set[str] = set()
    projects: dict[uuid.UUID, set[str]] = {}
    rows = RoleBinding.objects.filter(user=user).values_list("role", "organization_id", "project_id")
    for role, organization_id, project_id in rows:
        permissions = ROLE_PERMISSIONS.get(role, frozenset())
        if organization_id is not None:
            if organization_id == user.organization_id:
                org |= permissions
        else:
            projects.setdefault(project_id, set()).update(permissions)
    grants = Grants(frozenset(org), {pid: frozenset(perms) for pid, perms in projects.items()})
    user.__dict__["_controlplane_grants"] = grants
    return grants


def is_data_plane(user: PlatformUser) -> bool:
    return user.user_type == PlatformUser.UserType.DATA_PLANE


def permissions_on(
    user: PlatformUser, *, organization_id: uuid.UUID, project_id: uuid.UUID | None, data_plane_id: uuid.UUID | None
) -> frozenset[str] | None:
    """What `user` may do on a resource, or None when the resource is outside the caller's tenancy.

    `project_id` is the resource's project (None for organization-level resources); `data_plane_id`
    the data plane it lives on (only data-plane callers look at it).
    """
    if organization_id != user.organization_id:
        return None
    if is_data_plane(user):
        if user.data_plane_id is None or data_plane_id != user.data_plane_id:
            return None
        return DATA_PLANE_PERMISSIONS
    grants = grants_for(user)
    permissions = set(grants.organization_permissions)
    if project_id is not None:
        permissions |= grants.project_permissions.get(project_id, frozenset())
    elif grants.project_permissions:
        # Members of any project may see the organization and its workspaces to navigate to it.
        permissions |= {ORGANIZATION_READ, ORGANIZATION_LIST_WORKSPACES, WORKSPACE_READ, WORKSPACE_LIST_PROJECTS}
    return frozenset(permissions) or None


def require(
    user: PlatformUser,
    permission: str,
    *,
    organization_id: uuid.UUID,
    project_id: uuid.UUID | None,
    data_plane_id: uuid.UUID | None = None,
    not_found: str = "Resource not found",
) -> None:
    """Raise 404 (`not_found`) when the resource is outside the caller's tenancy, 403 naming
    `permission` when the caller can see it but lacks the permission; return otherwise."""
    permissions = permissions_on(
        user, organization_id=organization_id, project_id=project_id, data_plane_id=data_plane_id
    )
    if permissions is None:
        raise HttpError(404, not_found)
    if permission not in permissions:
        raise HttpError(403, forbidden_message(permission))


def require_project(user: PlatformUser, permission: str, project: Project, *, data_plane_id=None) -> None:
    """`require` for a resource of `project` (its workspace must be select_related)."""
    require(
        user,
        permission,
        organization_id=project.workspace.organization_id,
        project_id=project.id,
        data_plane_id=data_plane_id,
        not_found="Project not found",
    )


def forbidden_message(permission: str) -> str:
    """The 403 ``detail``: always ends with the missing permission's name."""
    return f"Missing permission: {permission}"


def visible_project_filter(user: PlatformUser) -> dict | None:
    """Queryset filter kwargs restricting projects to the caller's tenancy (None: sees every
    project of its organization). Data planes see the projects that have a connector on them."""
    if is_data_plane(user):
        return {"connectors__data_plane_id": user.data_plane_id}
    grants = grants_for(user)
    if grants.organization_permissions:
        return None
    return {"id__in": list(grants.project_ids)}
