"""ORM rows → wire dicts (the shapes in controlplane.schemas). Callers select_related what is read."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from controlplane.identity.models import DataPlane, PlatformUser, Workspace
from controlplane.models import Connector, Dataset, Job, JobRun, PlatformModel, Project

SENSITIVE_PLACEHOLDER = "********"


def user_out(user: PlatformUser | None) -> dict[str, Any] | None:
    """The ``User`` shape (needs ``organization`` loaded)."""
    if user is None:
        return None
    return {
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "organization_id": user.organization_id,
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "picture": None,
        "user_type": user.user_type,
        "data_plane_id": user.data_plane_id,
        "client_id": user.client_id if user.user_type != PlatformUser.UserType.USER else None,
        "organization_name": user.organization.name,
    }


def workspace_out(workspace: Workspace) -> dict[str, Any]:
    return {
        "created_at": workspace.created_at,
        "updated_at": workspace.updated_at,
        "id": workspace.id,
        "name": workspace.name,
        "organization_id": workspace.organization_id,
    }


def project_out(project: Project, total_artifacts: int) -> dict[str, Any]:
    return {
        "created_at": project.created_at,
        "updated_at": project.updated_at,
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "workspace_id": project.workspace_id,
        "total_artifacts": total_artifacts,
        "system_project": project.system_project,
    }


def data_plane_out(data_plane: DataPlane) -> dict[str, Any]:
    try:
        user_id = data_plane.credential_user.id
    except ObjectDoesNotExist:
        # A data plane registered without credentials yet: its own id stands in for the user id.
        user_id = data_plane.id
    return {
        "created_at": data_plane.created_at,
        "updated_at": data_plane.updated_at,
        "id": data_plane.id,
        "name": data_plane.name,
        "workspace_id": data_plane.workspace_id,
        "description": data_plane.description,
        "user_id": user_id,
        "infrastructure": data_plane.infrastructure,
        "last_check_in_time": data_plane.last_check_in_time,
        "capabilities": {"gen_ai_enabled": data_plane.gen_ai_enabled, "discovery_source_test": False},
    }


def connector_out(connector: Connector, *, sensitive: bool = False) -> dict[str, Any]:
    """`sensitive=False` masks the values of sensitive fields (only /sensitive reveals them)."""
    fields = [
        {
            "key": item["key"],
            "value": item["value"] if sensitive or not item.get("is_sensitive") else SENSITIVE_PLACEHOLDER,
            "d_type": item.get("d_type", "string"),
            "is_sensitive": bool(item.get("is_sensitive")),
        }
        for item in connector.fields or []
    ]
    return {
        "created_at": connector.created_at,
        "updated_at": connector.updated_at,
        "id": connector.id,
        "connector_type": connector.connector_type,
        "name": connector.name,
        "temporary": connector.temporary,
        "fields": fields,
        "last_updated_by_user": None,
        "connector_check_result": None,
        "project_id": connector.project_id,
        "data_plane_id": connector.data_plane_id,
    }


def dataset_out(dataset: Dataset) -> dict[str, Any]:
    schema = dataset.dataset_schema or {}
    columns = schema.get("columns") or []
    return {
        "created_at": dataset.created_at,
        "updated_at": dataset.updated_at,
        "id": dataset.id,
        "name": dataset.name,
        "dataset_locator": dataset.dataset_locator,
        "dataset_schema": {
            "alias_mask": schema.get("alias_mask") or {},
            "columns": columns,
            "column_names": {col["id"]: col.get("source_name", "") for col in columns if col.get("id")},
        },
        "data_plane_id": dataset.data_plane_id,
        "connector": (
            {
                "id": dataset.connector.id,
                "name": dataset.connector.name,
                "connector_type": dataset.connector.connector_type,
            }
            if dataset.connector
            else None
        ),
        "project_id": dataset.project_id,
        "join_spec": None,
        "model_problem_type": dataset.model_problem_type,
        "is_static": dataset.is_static,
    }


def model_out(model: PlatformModel) -> dict[str, Any]:
    """The ``Model`` shape; expects project, data_plane(+credential_user) and datasets(+connector) loaded."""
    datasets = list(model.datasets.all())
    return {
        "created_at": model.created_at,
        "updated_at": model.updated_at,
        "id": model.id,
        "project_id": model.project_id,
        "name": model.name,
        "description": model.description,
        "onboarding_identifier": model.onboarding_identifier,
        "last_updated_by_user": None,
        "metric_config": {"id": model.metric_config_id, "aggregation_specs": []},
        "schedule": None,
        "model_problem_types": sorted({dataset.model_problem_type for dataset in datasets}),
        "datasets": [
            {
                "dataset_id": dataset.id,
                "dataset_name": dataset.name or "",
                "dataset_connector_type": dataset.connector.connector_type if dataset.connector else None,
            }
            for dataset in datasets
        ],
        "data_plane_id": model.data_plane_id,
        "data_plane": data_plane_out(model.data_plane),
        "agent_id": None,
        "project_name": model.project.name,
    }


def job_out(job: Job) -> dict[str, Any]:
    """The ``Job`` shape; expects ``triggered_by_user__organization`` loaded."""
    return {
        "id": job.id,
        "kind": job.kind,
        "job_spec": job.job_spec,
        "state": job.state,
        "project_id": job.project_id,
        "data_plane_id": job.data_plane_id,
        "queued_at": job.queued_at,
        "ready_at": job.ready_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "duration_sec": job.duration_sec,
        "error_count": job.error_count,
        "trigger_type": job.trigger_type,
        "triggered_by_user": user_out(job.triggered_by_user),
        "schedule_id": job.schedule_id,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "nonce": job.nonce,
        "memory_requirements_mb": job.memory_requirements_mb,
        "job_priority": job.job_priority,
    }


def run_out(run: JobRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "job_id": run.job_id,
        "state": run.state,
        "job_attempt": run.job_attempt,
        "start_timestamp": run.start_timestamp,
        "end_timestamp": run.end_timestamp,
    }
