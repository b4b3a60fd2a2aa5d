"""ConnectorsV1Api and DatasetsV1Api: the parts the dashboard and the data-plane agent use."""

from __future__ import annotations

import uuid
from typing import Literal

from django.http import HttpRequest
from ninja import Router, Status
from ninja.errors import HttpError

from controlplane import rbac, schemas
from controlplane.models import TASK_CONNECTOR_TYPES, Connector, Dataset
from controlplane.routers.common import Page, PageSize, load_connector, load_project, ordering, paginate
from controlplane.serializers import connector_out, dataset_out

router = Router(tags=["connectors"])


@router.get("/projects/{project_id}/connectors", response=schemas.ConnectorList, summary="Get Connectors")
def get_connectors(
    request: HttpRequest,
    project_id: uuid.UUID,
    sort: Literal["created_at", "updated_at", "name"] = "created_at",
    order: schemas.SortOrder = "desc",
    connector_type: schemas.ConnectorTypeName | None = None,
    name: str | None = None,
    data_plane_id: uuid.UUID | None = None,
    include_temporary_connectors: bool = False,
    page: int = Page,
    page_size: int = PageSize,
):
    """The project's connectors (sensitive values masked). Requires project_list_connectors."""
    project = load_project(request.auth, project_id, rbac.PROJECT_LIST_CONNECTORS)
    qs = Connector.objects.filter(project=project)
    if rbac.is_data_plane(request.auth):
        qs = qs.filter(data_plane_id=request.auth.data_plane_id)
    if connector_type:
        qs = qs.filter(connector_type=connector_type)
    if name:
        qs = qs.filter(name__icontains=name)
    if data_plane_id:
        qs = qs.filter(data_plane_id=data_plane_id)
    if not include_temporary_connectors:
        qs = qs.filter(temporary=False)
    records, pagination = paginate(qs.order_by(*ordering(sort, order)), page, page_size)
    return {"records": [connector_out(c) for c in records], "pagination": pagination}


@router.get("/connectors/{connector_id}", response=schemas.ConnectorSpec, summary="Get Connector")
def get_connector(request: HttpRequest, connector_id: uuid.UUID):
    """One connector, sensitive values masked. Requires connector_read."""
    return connector_out(load_connector(request.auth, connector_id, rbac.CONNECTOR_READ))


@router.get("/connectors/{connector_id}/sensitive", response=schemas.ConnectorSpec, summary="Get Sensitive Connector")
def get_sensitive_connector(request: HttpRequest, connector_id: uuid.UUID):
    """One connector with its sensitive values. Requires connector_get_sensitive_fields."""
    return connector_out(
        load_connector(request.auth, connector_id, rbac.CONNECTOR_GET_SENSITIVE_FIELDS), sensitive=True
    )


@router.post("/connectors/{connector_id}/datasets", response=schemas.Dataset, summary="Post Connector Dataset")
def post_connector_dataset(request: HttpRequest, connector_id: uuid.UUID, body: schemas.PostDataset):
    """Create a dataset on the connector. On a task connector the locator must hold exactly one
    ``task_id`` (a UUID), else 400. Requires connector_create_dataset."""
    connector = load_connector(request.auth, connector_id, rbac.CONNECTOR_CREATE_DATASET)
    locator = body.dataset_locator.model_dump() if body.dataset_locator else None
    dataset = Dataset(
        project_id=connector.project_id,
        connector=connector,
        data_plane_id=connector.data_plane_id,
        name=body.name,
        dataset_locator=locator,
        dataset_schema=_schema_with_column_ids(body.dataset_schema),
        model_problem_type=body.model_problem_type,
        is_static=body.is_static,
    )
    if connector.connector_type in TASK_CONNECTOR_TYPES and not _is_uuid(dataset.task_id):
        raise HttpError(400, "A task dataset's locator must hold exactly one task_id field with a task UUID")
    dataset.save()
    return dataset_out(Dataset.objects.select_related("connector").get(id=dataset.id))


def _schema_with_column_ids(schema: schemas.PutDatasetSchema | None) -> dict:
    """The stored schema; the platform assigns an id to every column that has none."""
    if schema is None:
        return {"alias_mask": {}, "columns": []}
    columns = [{**column, "id": column.get("id") or str(uuid.uuid4())} for column in schema.columns]
    return {"alias_mask": schema.alias_mask, "columns": columns}


def _is_uuid(value: str | None) -> bool:
    try:
        uuid.UUID(value or "")
    except ValueError:
        return False
    return True


def _load_dataset(request: HttpRequest, dataset_id: uuid.UUID, permission: str) -> Dataset:
    dataset = Dataset.objects.select_related("project__workspace", "connector").filter(id=dataset_id).first()
    if dataset is None:
        raise HttpError(404, "Dataset not found")
    rbac.require(
        request.auth,
        permission,
        organization_id=dataset.project.workspace.organization_id,
        project_id=dataset.project_id,
        data_plane_id=dataset.data_plane_id,
        not_found="Dataset not found",
    )
    return dataset


@router.get("/datasets/{dataset_id}", response=schemas.Dataset, summary="Get Dataset", tags=["datasets"])
def get_dataset(request: HttpRequest, dataset_id: uuid.UUID):
    """One dataset. Requires dataset_read."""
    return dataset_out(_load_dataset(request, dataset_id, rbac.DATASET_READ))


@router.delete("/datasets/{dataset_id}", response={204: None}, summary="Delete Dataset", tags=["datasets"])
def delete_dataset(request: HttpRequest, dataset_id: uuid.UUID):
    """Delete a dataset. Requires dataset_delete."""
    _load_dataset(request, dataset_id, rbac.DATASET_DELETE).delete()
    return Status(204, None)
