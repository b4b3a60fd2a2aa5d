"""Tenancy over every API operation: another tenant's ids answer 404 (never 200, never a 403 that
would confirm the resource exists).

The test walks the OpenAPI document, so a new operation is covered (or fails) without editing it.
Two kinds of "other tenant" are built next to the demo data:

- ``other_org``: a second organization with its own workspace, data plane, project, connector,
  dataset, task model (with connection info), job, run, logs and errors;
- ``hidden``: inside the demo organization, a project nobody but organization admins is bound to,
  whose resources live on a second data plane (so the demo data plane does not reach them either).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import hypothesis
import pytest
import requests
import schemathesis
from django.utils import timezone

# Operations with no tenant-scoped id in their path, and why they cannot reach another tenant:
NO_TENANT_ID = {
    # The caller's own identity (no id at all).
    "get_users_me",
    # Lists the caller's own organization only (the organization comes from the token).
    "get_workspaces",
    # Ids travel in the body; unknown or foreign resources answer allowed=false (asserted below).
    "check_permissions",
}
# For the `hidden` target the caller stays inside its own organization: organization-level ids
# (workspaces, data planes) belong to the caller's tenant, which members may navigate by design
# (rbac.permissions_on); only project-scoped resources must disappear.
ORGANIZATION_LEVEL_PARAMS = {"workspace_id", "data_plane_id"}


@dataclass(frozen=True)
class Target:
    """Ids of one other tenant's resources, by path-parameter name."""

    ids: dict[str, str]


def build_tenant(*, organization, workspace, data_plane_name: str, project_name: str) -> Target:
    from controlplane.crypto import encrypt_secret
    from controlplane.identity.models import DataPlane
    from controlplane.models import (
        Connector,
        ConnectorType,
        Dataset,
        Job,
        JobError,
        JobKind,
        JobLog,
        JobRun,
        ModelProblemType,
        PlatformModel,
        Project,
        TaskConnectionInfo,
    )

    data_plane = DataPlane.objects.create(workspace=workspace, name=data_plane_name)
    project = Project.objects.create(workspace=workspace, name=project_name)
    connector = Connector.objects.create(
        project=project, data_plane=data_plane, connector_type=ConnectorType.ENGINE_INTERNAL, name="engine"
    )
    task_id = uuid.uuid4()
    dataset = Dataset.objects.create(
        project=project,
        connector=connector,
        data_plane=data_plane,
        name="task",
        dataset_locator={"fields": [{"key": "task_id", "value": str(task_id)}]},
        model_problem_type=ModelProblemType.ARTHUR_SHIELD,
    )
    model = PlatformModel.objects.create(project=project, data_plane=data_plane, name="secret-task", task_id=task_id)
    model.datasets.add(dataset)
    TaskConnectionInfo.objects.create(
        model=model, api_host="https://engine.invalid", key_id="k", key_name="k", key_ciphertext=encrypt_secret("vk")
    )
    job = Job.objects.create(
        kind=JobKind.FETCH_MODEL_TASK,
        job_spec={"job_type": "fetch_model_task", "scope_model_id": str(model.id)},
        project=project,
        data_plane=data_plane,
        model_id=model.id,
    )
    run = JobRun.objects.create(job=job, job_attempt=1, lease_expires_at=timezone.now() + timedelta(hours=1))
    JobLog.objects.create(run=run, log_level="INFO", log="secret", log_timestamp=timezone.now())
    JobError.objects.create(run=run, error="secret")
    return Target(
        {
            "workspace_id": str(workspace.id),
            "data_plane_id": str(data_plane.id),
            "project_id": str(project.id),
            "connector_id": str(connector.id),
            "dataset_id": str(dataset.id),
            "model_id": str(model.id),
            "job_id": str(job.id),
            "job_run_id": str(run.id),
        }
    )


def other_org() -> Target:
    from controlplane.identity.models import Organization, Workspace

    organization = Organization.objects.create(name="Other Org")
    workspace = Workspace.objects.create(organization=organization, name="Elsewhere")
    return build_tenant(
        organization=organization, workspace=workspace, data_plane_name="Other Engine", project_name="Secret"
    )


def hidden_project() -> Target:
    from controlplane.identity.models import Organization, Workspace

    organization = Organization.objects.get(name="Demo Org")
    workspace = Workspace.objects.create(organization=organization, name="Hidden")
    return build_tenant(
        organization=organization, workspace=workspace, data_plane_name="Hidden Engine", project_name="Hidden"
    )


def valid_case(operation) -> schemathesis.Case:
    """One request the document allows (valid body and query), drawn deterministically."""
    drawn: list[schemathesis.Case] = []

    @hypothesis.settings(
        database=None,
        derandomize=True,
        max_examples=1,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy())
    def draw(case) -> None:
        drawn.append(case)

    draw()
    return drawn[0]


CALLERS = [
    ("admin@example.com", other_org),
    ("viewer@example.com", other_org),
    ("viewer@example.com", hidden_project),
    ("data-plane-demo", other_org),
    ("data-plane-demo", hidden_project),
    ("arthur-sa-demo", other_org),
]


@pytest.mark.parametrize(("identity", "make_target"), CALLERS, ids=[f"{c}-{t.__name__}" for c, t in CALLERS])
def test_another_tenants_ids_are_404_on_every_operation(local_arthur, api_token, identity, make_target) -> None:
    target = make_target()
    headers = {"Authorization": f"Bearer {api_token(identity)}"}
    schema = schemathesis.openapi.from_url(f"{local_arthur}/api/v1/openapi.json")
    answers: dict[str, int] = {}
    walked = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        operation_id = operation.definition.raw["operationId"]
        walked.add(operation_id)
        names = {p.name for p in operation.path_parameters}
        if operation_id in NO_TENANT_ID:
            assert not names, f"{operation_id} is allow-listed but has path ids {names}"
            continue
        if make_target is hidden_project and names <= ORGANIZATION_LEVEL_PARAMS:
            continue
        case = valid_case(operation)
        for name in names:
            case.path_parameters[name] = target.ids[name]
        if case.query and "job_run_id" in case.query:
            case.query["job_run_id"] = target.ids["job_run_id"]
        response = case.call(base_url=local_arthur, headers=headers, timeout=30)
        answers[f"{operation.method.upper()} {operation.path}"] = response.status_code
    assert walked >= NO_TENANT_ID  # the allow-list names real operations
    assert len(answers) >= 25, answers
    wrong = {label: status for label, status in answers.items() if status != 404}
    assert wrong == {}, wrong


@pytest.mark.parametrize("identity", ["admin@example.com", "viewer@example.com", "data-plane-demo"])
def test_lists_and_permission_checks_never_show_another_tenant(local_arthur, api_token, identity) -> None:
    target = other_org()
    hidden = hidden_project()
    headers = {"Authorization": f"Bearer {api_token(identity)}"}
    workspaces = requests.get(f"{local_arthur}/api/v1/organization/workspaces", headers=headers, timeout=10)
    assert workspaces.status_code in (200, 403), workspaces.text  # data planes may not list workspaces
    assert target.ids["workspace_id"] not in workspaces.text
    questions = [
        {"permission_name": "model_read", "resource_kind": "model", "resource_id": t.ids["model_id"]}
        for t in (target, hidden)
    ] + [{"permission_name": "project_read", "resource_kind": "project", "resource_id": target.ids["project_id"]}]
    if identity == "admin@example.com":
        questions.pop(1)  # an organization admin may read the hidden project: it is in his organization
    answer = requests.post(
        f"{local_arthur}/api/v1/permissions/check", json={"permissions": questions}, headers=headers, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert [item["allowed"] for item in answer.json()["permissions"]] == [False] * len(questions)
