"""Helpers shared by the routers: pagination, sorting, loading a resource under RBAC."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet
from ninja import Query
from ninja.errors import HttpError

from controlplane import rbac
from controlplane.identity.models import PlatformUser
from controlplane.models import Connector, Job, PlatformModel, Project
from controlplane.rows import only_row

Page = Query(1, ge=1)
PageSize = Query(20, ge=1, le=1000)


# SQL's OFFSET is a signed 64-bit integer: a page past it is empty rather than a database error.
_MAX_OFFSET = 2**63 - 1


def page_of(qs: QuerySet, page: int, page_size: int) -> list[Any]:
    """The rows of one page of `qs` (empty beyond the last row, however large `page` is)."""
    start = (page - 1) * page_size
    if start + page_size > _MAX_OFFSET:
        return []
    return list(qs[start : start + page_size])


def paginate(qs: QuerySet, page: int, page_size: int) -> tuple[list[Any], dict[str, int]]:
    """One page of `qs` and the classic ``Pagination`` (with totals)."""
    total = qs.count()
    records = page_of(qs, page, page_size)
    return records, {
        "page": page,
        "page_size": page_size,
        "total_pages": math.ceil(total / page_size),
        "total_records": total,
    }


def ordering(sort: str, order: str) -> list[str]:
    """``order_by`` arguments for a sort field and asc/desc, with the id as a stable tie-breaker."""
    prefix = "-" if order == "desc" else ""
    return [f"{prefix}{sort}", f"{prefix}id"]


def aware(value: datetime) -> datetime:
    """Naive timestamps (the ml-engine posts ``datetime.now()``) are taken as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load_project(user: PlatformUser, project_id: uuid.UUID, permission: str) -> Project:
    """The project, if the caller may use `permission` on it (404 outside tenancy, 403 otherwise)."""
    project = only_row(Project.objects.select_related("workspace").filter(id=project_id))
    if project is None:
        raise HttpError(404, "Project not found")
    data_plane_id = None
    if (
        rbac.is_data_plane(user)
        and Connector.objects.filter(project=project, data_plane_id=user.data_plane_id).exists()
    ):
        data_plane_id = user.data_plane_id
    rbac.require_project(user, permission, project, data_plane_id=data_plane_id)
    return project


def authorize_in_project(user: PlatformUser, resource: Any, permission: str, label: str) -> None:
    """`permission` on a project-scoped resource (model, job, connector): 404 outside tenancy or for
    another data plane's resource, 403 when bound but lacking the permission."""
    rbac.require(
        user,
        permission,
        organization_id=resource.project.workspace.organization_id,
        project_id=resource.project_id,
        data_plane_id=resource.data_plane_id,
        not_found=f"{label} not found",
    )


def authorize_model(user: PlatformUser, model: PlatformModel, permission: str) -> None:
    authorize_in_project(user, model, permission, "Model")


def _load_in_project[T](
    model_class: type[T],
    user: PlatformUser,
    object_id: uuid.UUID,
    permission: str,
    label: str,
    *related: str,
    shape: Callable[[QuerySet], QuerySet] | None = None,
) -> T:
    query = model_class.objects.select_related("project__workspace", *related)
    if shape is not None:
        query = shape(query)
    found = only_row(query.filter(id=object_id))
    if found is None:
        raise HttpError(404, f"{label} not found")
    authorize_in_project(user, found, permission, label)
    return found


def load_model(
    user: PlatformUser,
    model_id: uuid.UUID,
    permission: str,
    *related: str,
    shape: Callable[[QuerySet], QuerySet] | None = None,
) -> PlatformModel:
    """The model (with project/workspace and `related` joined, and the query changed by `shape`, e.g.
    deferring or annotating columns) under `permission`."""
    return _load_in_project(PlatformModel, user, model_id, permission, "Model", *related, shape=shape)


def load_task_model(
    user: PlatformUser,
    model_id: uuid.UUID,
    permission: str,
    *related: str,
    shape: Callable[[QuerySet], QuerySet] | None = None,
) -> PlatformModel:
    """A scope model (one that represents a task); 404 for models that are not task models."""
    model = load_model(user, model_id, permission, *related, shape=shape)
    if model.task_id is None:
        raise HttpError(404, "Model is not a task model")
    return model


def load_job(user: PlatformUser, job_id: uuid.UUID, permission: str, *related: str) -> Job:
    """The job under `permission`; a data plane only ever sees its own jobs."""
    return _load_in_project(Job, user, job_id, permission, "Job", *related)


def load_connector(user: PlatformUser, connector_id: uuid.UUID, permission: str) -> Connector:
    return _load_in_project(Connector, user, connector_id, permission, "Connector")
