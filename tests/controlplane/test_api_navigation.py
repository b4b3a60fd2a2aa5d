"""Workspaces, projects, models, connectors, datasets, permission checks, health and the API docs,
against a live Local Arthur with the official client."""

from __future__ import annotations

import uuid

import pytest
import requests
from arthur_client.api_bindings import (
    AuthorizationV1Api,
    ConnectorsV1Api,
    ConnectorType,
    DatasetsV1Api,
    DefaultApi,
    ModelProblemType,
    ModelsV1Api,
    PermissionName,
    PermissionRequestItem,
    PermissionsRequest,
    PostDataset,
    PostModel,
    ProjectsV1Api,
    ResourceKind,
    TasksV1Api,
    UsersV1Api,
    WorkspacesV1Api,
)
from arthur_client.api_bindings.exceptions import NotFoundException
from arthur_client.api_bindings.models.dataset_locator import DatasetLocator
from arthur_client.api_bindings.models.dataset_locator_field import DatasetLocatorField

from controlplane.identity.models import DataPlane, Workspace
from controlplane.seed_platform import DEMO_TASKS, demo_uuid

pytestmark = pytest.mark.django_db(transaction=True)

SUPPORT = next(task for task in DEMO_TASKS if task.key == "support-bot")
SUPPORT_PROJECT = str(demo_uuid("project", "Customer Support"))
SUPPORT_CONNECTOR = str(demo_uuid("connector", "Customer Support"))


def test_workspaces_and_projects(arthur):
    client = arthur("admin@example.com")
    workspaces = WorkspacesV1Api(client).get_workspaces()
    assert [ws.name for ws in workspaces.records] == ["Production", "Research"]
    assert workspaces.pagination.total_records == 2

    production = workspaces.records[0].id
    projects = ProjectsV1Api(client).get_projects(production)
    assert [p.name for p in projects.records] == ["Customer Support", "Claims Automation"]  # name desc
    assert projects.pagination.total_pages == 1 and projects.pagination.total_records == 2
    support = next(p for p in projects.records if p.name == "Customer Support")
    assert support.total_artifacts == 2 and support.system_project is False

    searched = ProjectsV1Api(client).get_projects(production, name="claims", page_size=1)
    assert [p.name for p in searched.records] == ["Claims Automation"]
    assert ProjectsV1Api(client).get_project(SUPPORT_PROJECT).name == "Customer Support"


def test_models_list_and_filters(arthur):
    models = ModelsV1Api(arthur("viewer@example.com"))
    listed = models.get_models(SUPPORT_PROJECT)
    assert {m.name for m in listed.records} == {"support-bot", "legacy-faq-bot"}
    model = next(m for m in listed.records if m.name == "support-bot")
    assert model.model_problem_types == [ModelProblemType.ARTHUR_SHIELD]
    assert model.datasets[0].dataset_connector_type == ConnectorType.ENGINE_INTERNAL
    assert model.data_plane.name == "Demo Engine" and model.project_name == "Customer Support"

    by_identifier = models.get_models(SUPPORT_PROJECT, onboarding_identifier="demo:support-bot")
    assert [m.id for m in by_identifier.records] == [str(SUPPORT.model_id)]
    assert models.get_models(SUPPORT_PROJECT, name="LEGACY").records[0].name == "legacy-faq-bot"
    assert models.get_models(SUPPORT_PROJECT, model_problem_type=ModelProblemType.REGRESSION).records == []
    assert models.get_model(str(SUPPORT.model_id)).id == str(SUPPORT.model_id)
    excluded = models.get_models(
        SUPPORT_PROJECT,
        exclude_model_problem_types=[ModelProblemType.REGRESSION, ModelProblemType.ARTHUR_SHIELD],
    )
    assert excluded.records == [] and excluded.pagination.total_records == 0


def test_connectors_list_filter_and_sensitive_view(arthur):
    connectors = ConnectorsV1Api(arthur("editor@example.com"))
    listed = connectors.get_connectors(SUPPORT_PROJECT, connector_type=ConnectorType.ENGINE_INTERNAL, page_size=1)
    assert [c.id for c in listed.records] == [SUPPORT_CONNECTOR]
    assert connectors.get_connectors(SUPPORT_PROJECT, connector_type=ConnectorType.S3).records == []

    engine = ConnectorsV1Api(arthur("data-plane-demo"))
    assert engine.get_sensitive_connector(SUPPORT_CONNECTOR).connector_type == ConnectorType.ENGINE_INTERNAL


def test_agent_creates_dataset_and_model_then_deletes_them(arthur):
    """The create_model_task executor's control-plane steps, as the data plane does them."""
    client = arthur("data-plane-demo")
    task_id = str(uuid.uuid4())
    dataset = DatasetsV1Api(client).post_connector_dataset(
        SUPPORT_CONNECTOR,
        PostDataset(
            name="fresh-task",
            dataset_locator=DatasetLocator(fields=[DatasetLocatorField(key="task_id", value=task_id)]),
            model_problem_type=ModelProblemType.ARTHUR_SHIELD,
        ),
    )
    assert dataset.connector.connector_type == ConnectorType.ENGINE_INTERNAL
    model = ModelsV1Api(client).post_model(
        dataset.project_id, PostModel(name="fresh-task", onboarding_identifier="ext-1", dataset_ids=[dataset.id])
    )
    assert model.datasets[0].dataset_id == dataset.id

    read = TasksV1Api(arthur("admin@example.com")).get_task_state_cache(model.id)
    assert read.scope_model_id == model.id and read.task is None and read.last_synced_at is None

    assert DatasetsV1Api(client).get_dataset(dataset.id).dataset_locator.fields[0].value == task_id
    ModelsV1Api(client).delete_model(model.id)
    DatasetsV1Api(client).delete_dataset(dataset.id)
    with pytest.raises(NotFoundException):
        ModelsV1Api(client).get_model(model.id)
    with pytest.raises(NotFoundException):
        DatasetsV1Api(client).get_dataset(dataset.id)


def test_check_permissions(arthur):
    items = [
        PermissionRequestItem(
            resource_kind=ResourceKind.MODEL,
            resource_id=str(SUPPORT.model_id),
            permission_name=PermissionName.MODEL_TASK_UPDATE,
        ),
        PermissionRequestItem(
            resource_kind=ResourceKind.MODEL,
            resource_id=str(SUPPORT.model_id),
            permission_name=PermissionName.MODEL_TASK_READ,
        ),
        PermissionRequestItem(
            resource_kind=ResourceKind.PROJECT,
            resource_id=SUPPORT_PROJECT,
            permission_name=PermissionName.PROJECT_CREATE_MODEL_TASK,
        ),
        PermissionRequestItem(
            resource_kind=ResourceKind.MODEL, resource_id=str(uuid.uuid4()), permission_name=PermissionName.MODEL_READ
        ),
    ]
    viewer = AuthorizationV1Api(arthur("viewer@example.com")).check_permissions(PermissionsRequest(permissions=items))
    assert [item.allowed for item in viewer.permissions] == [False, True, False, False]
    assert viewer.permissions[0].permission_name == PermissionName.MODEL_TASK_UPDATE
    editor = AuthorizationV1Api(arthur("editor@example.com")).check_permissions(PermissionsRequest(permissions=items))
    assert [item.allowed for item in editor.permissions] == [True, True, True, False]


def test_check_permissions_takes_1_to_100_items(local_arthur, api_token):
    headers = {"Authorization": f"Bearer {api_token('viewer@example.com')}"}
    item = {"resource_kind": "project", "resource_id": SUPPORT_PROJECT, "permission_name": "project_read"}
    url = f"{local_arthur}/api/v1/permissions/check"
    assert requests.post(url, json={"permissions": []}, headers=headers, timeout=10).status_code == 422
    assert requests.post(url, json={"permissions": [item] * 101}, headers=headers, timeout=10).status_code == 422
    full = requests.post(url, json={"permissions": [item] * 100}, headers=headers, timeout=10)
    assert full.status_code == 200 and all(entry["allowed"] for entry in full.json()["permissions"])


def test_users_me_for_a_data_plane(arthur):
    me = UsersV1Api(arthur("data-plane-demo")).get_users_me()
    assert me.data_plane_id == str(DataPlane.objects.get(name="Demo Engine").id)


def test_health_openapi_and_docs(local_arthur, arthur):
    assert DefaultApi(arthur("admin@example.com")).health_check_api_health_get().message == "ok"
    schema = requests.get(f"{local_arthur}/api/v1/openapi.json", timeout=10)
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/models/{model_id}/task" in paths and "/api/v1/data_planes/{data_plane_id}/jobs/next" in paths
    docs = requests.get(f"{local_arthur}/api/v1/docs", timeout=10)
    assert docs.status_code == 200 and "openapi.json" in docs.text
    # Served from our own static files: the CSP allows no CDN.
    assert "/static/ninja/swagger-ui-bundle.js" in docs.text
    assert requests.get(f"{local_arthur}/static/ninja/swagger-ui-bundle.js", timeout=10).status_code == 200


def test_unauthenticated_calls_are_401(local_arthur):
    response = requests.get(f"{local_arthur}/api/v1/models/{SUPPORT.model_id}/task", timeout=10)
    assert response.status_code == 401


def test_workspace_listing_is_tenant_scoped(arthur):
    research = str(Workspace.objects.get(name="Research").id)
    assert [p.name for p in ProjectsV1Api(arthur("viewer@example.com")).get_projects(research).records] == [
        "People Operations"
    ]


def test_malformed_json_is_422_like_fastapi(local_arthur, api_token):
    response = requests.post(
        f"{local_arthur}/api/v1/permissions/check",
        data="{not json",
        headers={"Authorization": f"Bearer {api_token('viewer@example.com')}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_health_needs_no_token(local_arthur):
    response = requests.get(f"{local_arthur}/api/health", timeout=10)
    assert response.status_code == 200 and response.json()["message"] == "ok"


def test_every_operation_is_named_after_an_official_client_method(local_arthur):
    import inspect

    from arthur_client.api_bindings import api as client_apis

    client_methods = {
        name
        for _, api_class in inspect.getmembers(client_apis, inspect.isclass)
        for name in vars(api_class)
        if not name.startswith("_")
    }
    paths = requests.get(f"{local_arthur}/api/v1/openapi.json", timeout=10).json()["paths"]
    operation_ids = {op["operationId"] for ops in paths.values() for op in ops.values()}
    assert operation_ids - client_methods == set()
