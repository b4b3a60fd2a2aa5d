"""ModelsV1Api: listing, reading, creating (the agent, for new task models) and deleting models."""

from __future__ import annotations

import uuid
from typing import Literal

from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.errors import HttpError

from controlplane import rbac, schemas
from controlplane.models import TASK_CONNECTOR_TYPES, Dataset, PlatformModel
from controlplane.routers.common import Page, PageSize, load_model, load_project, ordering, paginate
from controlplane.serializers import model_out

router = Router(tags=["models"])

MODEL_RELATED = ("project", "data_plane__credential_user")
# Declared as a query parameter: a bare list argument would be read from the body.
ProblemTypes = Query(None)


def _with_datasets(qs):
    return qs.select_related(*MODEL_RELATED).prefetch_related(
        Prefetch("datasets", queryset=Dataset.objects.select_related("connector").order_by("created_at"))
    )


@router.get("/projects/{project_id}/models", response=schemas.ModelList, summary="Get Models")
def get_models(
    request: HttpRequest,
    project_id: uuid.UUID,
    sort: Literal["created_at", "updated_at", "name"] = "created_at",
    order: schemas.SortOrder = "desc",
    dataset_id: uuid.UUID | None = None,
    name: str | None = None,
    onboarding_identifier: str | None = None,
    infrastructure: schemas.InfrastructureName | None = None,
    model_problem_type: schemas.ModelProblemTypeName | None = None,
    exclude_model_problem_types: list[schemas.ModelProblemTypeName] | None = ProblemTypes,
    page: int = Page,
    page_size: int = PageSize,
):
    """The project's models. `name` is a case-insensitive substring, `onboarding_identifier` an exact
    match. Requires project_list_models."""
    project = load_project(request.auth, project_id, rbac.PROJECT_LIST_MODELS)
    qs = PlatformModel.objects.filter(project=project)
    if rbac.is_data_plane(request.auth):
        qs = qs.filter(data_plane_id=request.auth.data_plane_id)
    if dataset_id:
        qs = qs.filter(datasets__id=dataset_id)
    if name:
        qs = qs.filter(name__icontains=name)
    if onboarding_identifier is not None:
        qs = qs.filter(onboarding_identifier=onboarding_identifier)
    if infrastructure:
        qs = qs.filter(data_plane__infrastructure=infrastructure)
    if model_problem_type:
        qs = qs.filter(datasets__model_problem_type=model_problem_type)
    if exclude_model_problem_types:
        qs = qs.exclude(datasets__model_problem_type__in=exclude_model_problem_types)
    qs = _with_datasets(qs.distinct().order_by(*ordering(sort, order)))
    records, pagination = paginate(qs, page, page_size)
    return {"records": [model_out(model) for model in records], "pagination": pagination}


@router.get("/models/{model_id}", response=schemas.Model, summary="Get Model")
def get_model(request: HttpRequest, model_id: uuid.UUID):
    """One model. Requires model_read."""
    load_model(request.auth, model_id, rbac.MODEL_READ)
    return model_out(_with_datasets(PlatformModel.objects.filter(id=model_id)).get())


@router.delete("/models/{model_id}", response={204: None}, summary="Delete Model")
def delete_model(request: HttpRequest, model_id: uuid.UUID):
    """Delete the model (its cached task state and connection info go with it). Requires model_delete."""
    model = load_model(request.auth, model_id, rbac.MODEL_DELETE)
    model.delete()
    return Status(204, None)


@router.post("/projects/{project_id}/models", response=schemas.Model, summary="Post Model")
def post_model(request: HttpRequest, project_id: uuid.UUID, body: schemas.PostModel):
    """Create a model over existing datasets of the project (all on one data plane); a model over one
    task dataset becomes that task's scope model. Requires project_create_model."""
    project = load_project(request.auth, project_id, rbac.PROJECT_CREATE_MODEL)
    datasets = list(Dataset.objects.select_related("connector").filter(id__in=body.dataset_ids, project=project))
    if not datasets or len(datasets) != len(set(body.dataset_ids)):
        raise HttpError(404, "Dataset not found")
    data_planes = {dataset.data_plane_id for dataset in datasets}
    if len(data_planes) != 1:
        raise HttpError(400, "A model's datasets must all be on one data plane")
    data_plane_id = data_planes.pop()
    if rbac.is_data_plane(request.auth) and data_plane_id != request.auth.data_plane_id:
        raise HttpError(404, "Dataset not found")
    task_datasets = [d for d in datasets if d.connector and d.connector.connector_type in TASK_CONNECTOR_TYPES]
    task_id = task_datasets[0].task_id if len(task_datasets) == 1 else None
    with transaction.atomic():
        model = PlatformModel.objects.create(
            project=project,
            data_plane_id=data_plane_id,
            name=body.name,
            description=body.description,
            onboarding_identifier=body.onboarding_identifier,
            last_updated_by_user=request.auth,
            task_id=uuid.UUID(task_id) if task_id else None,
        )
        model.datasets.set(datasets)
    return model_out(_with_datasets(PlatformModel.objects.filter(id=model.id)).get())
