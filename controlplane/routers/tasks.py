"""TasksV1Api: the eleven task endpoints (seeds/TasksV1Api.md).

Mutations validate eagerly (unknown model/connector → 404, a connector that is not engine_internal
→ 400, rules the engine would refuse → 422) and enqueue exactly one job for the task's data plane.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Router, Status
from ninja.errors import HttpError, ValidationError

from arthur_api.rules import validate_rules
from controlplane import rbac, schemas
from controlplane.crypto import decrypt_secret, encrypt_secret
from controlplane.jobs import enqueue_job
from controlplane.models import (
    Connector,
    ConnectorType,
    JobKind,
    PlatformModel,
    TaskConnectionInfo,
    TaskStateCache,
)
from controlplane.routers.common import load_project, load_task_model

router = Router(tags=["tasks"])

MSG_NOT_ENGINE_INTERNAL = "The connector must be an engine internal connector."
MSG_BLANK_TASK_NAME = "Task names cannot contain only white space characters"


def check_engine_rules(rules: list[schemas.NewRuleRequest] | None) -> list[dict[str, Any]]:
    """The one call site of the engine's rule constraints (arthur_api.rules): raises a 422 listing
    every problem the engine would report for `rules`; returns the rules as plain dicts."""
    raw = [rule.model_dump(exclude_unset=True) for rule in rules or []]
    problems = validate_rules(raw, loc=("body", "rules_to_add"))
    if problems:
        raise ValidationError([problem.as_detail() for problem in problems])
    return raw


def _engine_internal_connector(project_id: uuid.UUID, connector_id: uuid.UUID) -> Connector:
    connector = Connector.objects.select_related("data_plane").filter(id=connector_id, project_id=project_id).first()
    if connector is None:
        raise HttpError(404, "Connector not found")
    if connector.connector_type != ConnectorType.ENGINE_INTERNAL:
        raise HttpError(400, MSG_NOT_ENGINE_INTERNAL)
    return connector


@router.post("/projects/{project_id}/tasks", response=schemas.TaskMutationResponse, summary="Create A Task.")
def project_create_model_task(request: HttpRequest, project_id: uuid.UUID, body: schemas.PostTaskRequest):
    """Submits a job to create a task in the project. Requires project_create_model_task."""
    project = load_project(request.auth, project_id, rbac.PROJECT_CREATE_MODEL_TASK)
    connector = _engine_internal_connector(project.id, body.connector_id)
    if not body.name.strip():
        raise HttpError(400, MSG_BLANK_TASK_NAME)
    rules = check_engine_rules(body.rules_to_add)
    job = enqueue_job(
        kind=JobKind.CREATE_MODEL_TASK,
        spec={
            "connector_id": str(connector.id),
            "task_name": body.name,
            "onboarding_identifier": body.onboarding_identifier,
            "initial_rules": rules,
            "initial_metrics": [],
            "agent_metadata": body.agent_metadata.model_dump() if body.agent_metadata else None,
        },
        project=project,
        data_plane=connector.data_plane,
        triggered_by=request.auth,
    )
    return {"job_id": job.id}


@router.post(
    "/projects/{project_id}/link_task",
    response=schemas.TaskMutationResponse,
    summary="Link An Existing Task To A New Model.",
)
def project_create_model_link_task(request: HttpRequest, project_id: uuid.UUID, body: schemas.PostLinkTaskRequest):
    """Submits a job to link an existing task to a new model. Requires project_create_model_link_task."""
    project = load_project(request.auth, project_id, rbac.PROJECT_CREATE_MODEL_LINK_TASK)
    connector = _engine_internal_connector(project.id, body.connector_id)
    job = enqueue_job(
        kind=JobKind.CREATE_MODEL_LINK_TASK,
        spec={
            "task_id": str(body.task_id),
            "connector_id": str(connector.id),
            "onboarding_identifier": body.onboarding_identifier,
        },
        project=project,
        data_plane=connector.data_plane,
        triggered_by=request.auth,
    )
    return {"job_id": job.id}


@router.get("/models/{model_id}/task", response=schemas.TaskReadResponse, summary="Get Cached Task State")
def get_task_state_cache(request: HttpRequest, model_id: uuid.UUID):
    """The task state cached in the control plane (nulls until the first upload). Requires model_task_read."""
    # The stored task is already the schema's JSON (validated and dumped when it was uploaded), and
    # hundreds of rules long: the database hands it over as text, which goes into the answer as it
    # is. Decoding, validating and encoding it again on every read was most of this endpoint's cost
    # (make bench); only the small envelope goes through the schema.
    model = load_task_model(request.auth, model_id, rbac.MODEL_TASK_READ, "task_cache", shape=_task_as_text)
    try:
        cache = model.task_cache
    except TaskStateCache.DoesNotExist:
        return {"scope_model_id": model.id}
    envelope = schemas.TaskReadResponse(
        last_synced_at=cache.last_synced_at,
        scope_model_id=model.id,
        evals=cache.evals,
        continuous_evals=cache.continuous_evals,
        transforms=cache.transforms,
    ).model_dump(exclude={"task"})
    from controlplane.api import api  # the API imports this router: import its renderer late

    rendered = api.renderer.render(request, envelope, response_status=200)
    body = f'{rendered[:-1]}, "task": {model.task_json}}}'  # the envelope is a non-empty object
    return HttpResponse(body, content_type=api.get_content_type())


def _task_as_text(query: QuerySet) -> QuerySet:
    """The model query with its cached task's JSON as text (``task_json``) instead of decoded."""
    return query.defer("task_cache__task").annotate(task_json=Cast("task_cache__task", TextField()))


def _model_job(request: HttpRequest, model: PlatformModel, kind: str, **spec: Any) -> dict[str, uuid.UUID]:
    job = enqueue_job(
        kind=kind,
        spec={"scope_model_id": str(model.id), **spec},
        project=model.project,
        data_plane=model.data_plane,
        triggered_by=request.auth,
        model=model,
    )
    return {"job_id": job.id}


@router.patch("/models/{model_id}/task", response=schemas.TaskMutationResponse, summary="Update A Task")
def patch_task(request: HttpRequest, model_id: uuid.UUID, body: schemas.PatchTaskRequest):
    """Submits a job to change the task's rules. Requires model_task_update."""
    model = load_task_model(request.auth, model_id, rbac.MODEL_TASK_UPDATE, "data_plane")
    rules = check_engine_rules(body.rules_to_add)
    return _model_job(
        request,
        model,
        JobKind.UPDATE_MODEL_TASK_RULES,
        rules_to_enable=[str(rule_id) for rule_id in body.rules_to_enable or []],
        rules_to_disable=[str(rule_id) for rule_id in body.rules_to_disable or []],
        rules_to_archive=[str(rule_id) for rule_id in body.rules_to_archive or []],
        rules_to_add=rules,
    )


@router.delete("/models/{model_id}/task", response=schemas.TaskMutationResponse, summary="Delete A Task")
def delete_task(request: HttpRequest, model_id: uuid.UUID):
    """Submits a job to delete the task and its platform model. Requires model_task_delete."""
    model = load_task_model(request.auth, model_id, rbac.MODEL_TASK_DELETE, "data_plane")
    return _model_job(request, model, JobKind.DELETE_MODEL_TASK)


@router.post("/models/{model_id}/task/sync", response=schemas.TaskMutationResponse, summary="Sync A Task")
def sync_task(request: HttpRequest, model_id: uuid.UUID):
    """Submits a job to fetch the latest task state. Requires model_task_sync."""
    model = load_task_model(request.auth, model_id, rbac.MODEL_TASK_SYNC, "data_plane")
    return _model_job(request, model, JobKind.FETCH_MODEL_TASK)


@router.post(
    "/models/{model_id}/task/regenerate_validation_key",
    response=schemas.TaskMutationResponse,
    summary="Regenerate Task Validation Key",
)
def post_regenerate_validation_key(request: HttpRequest, model_id: uuid.UUID):
    """Submits a job to replace the task's validation key. Requires model_task_regenerate_validation_key."""
    model = load_task_model(request.auth, model_id, rbac.MODEL_TASK_REGENERATE_VALIDATION_KEY, "data_plane")
    return _model_job(request, model, JobKind.REGENERATE_TASK_VALIDATION_KEY)


def _connection_info_out(info: TaskConnectionInfo) -> dict[str, Any]:
    return {
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "validation_key": {"id": info.key_id, "name": info.key_name, "key": decrypt_secret(info.key_ciphertext)},
        "api_host": info.api_host,
    }


@router.get(
    "/models/{model_id}/task/connection_info",
    response=schemas.TaskConnectionInfo,
    summary="Get Task Connection Info",
)
def get_task_connection_info(request: HttpRequest, model_id: uuid.UUID):
    """The task's host and validation key; 404 when none is stored. Requires model_task_get_connection_info."""
    # Joined to the model's own read: one query fewer on every task page.
    model = load_task_model(request.auth, model_id, rbac.MODEL_TASK_GET_CONNECTION_INFO, "connection_info")
    try:
        return _connection_info_out(model.connection_info)
    except TaskConnectionInfo.DoesNotExist:
        raise HttpError(404, "Connection info not found") from None


@router.put(
    "/models/{model_id}/task/connection_info",
    response=schemas.TaskConnectionInfo,
    summary="Upload Task Connection Info",
)
def put_task_connection_info(request: HttpRequest, model_id: uuid.UUID, body: schemas.PutTaskConnectionInfo):
    """Store (replace) the task's connection info; the key is encrypted at rest.
    Requires model_task_put_connection_info."""
    model = load_task_model(request.auth, model_id, rbac.MODEL_TASK_PUT_CONNECTION_INFO)
    info, _ = TaskConnectionInfo.objects.update_or_create(
        model=model,
        defaults={
            "api_host": body.api_host,
            "key_id": body.validation_key.id,
            "key_name": body.validation_key.name,
            "key_ciphertext": encrypt_secret(body.validation_key.key),
        },
    )
    return _connection_info_out(info)


@router.delete("/models/{model_id}/task/connection_info", response={204: None}, summary="Delete Connection Info.")
def delete_connection_info(request: HttpRequest, model_id: uuid.UUID):
    """Forget the task's connection info; 404 when none is stored. Requires model_task_delete_connection_info."""
    model = load_task_model(request.auth, model_id, rbac.MODEL_TASK_DELETE_CONNECTION_INFO)
    deleted, _ = TaskConnectionInfo.objects.filter(model=model).delete()
    if not deleted:
        raise HttpError(404, "Connection info not found")
    return Status(204, None)


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@router.put("/models/{model_id}/task/cache", response={204: None}, summary="Upload Task State")
def put_task_state_cache(request: HttpRequest, model_id: uuid.UUID, body: schemas.PutTaskStateCacheRequest):
    """Replace the cached copy of the task's state. Requires model_task_put_state_cache.

    400 when the uploaded task is not the model's task.
    """
    model = load_task_model(request.auth, model_id, rbac.MODEL_TASK_PUT_STATE_CACHE)
    if _as_uuid(body.task.id) != model.task_id:
        raise HttpError(400, "The uploaded task is not the task of this model")
    with transaction.atomic():
        TaskStateCache.objects.update_or_create(
            model=model,
            defaults={
                "task": body.task.model_dump(mode="json"),
                "evals": body.evals,
                "continuous_evals": body.continuous_evals,
                "transforms": body.transforms,
                "last_synced_at": timezone.now(),
            },
        )
    return Status(204, None)
