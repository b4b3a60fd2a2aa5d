"""The RBAC matrix over real HTTP with the official client: who may do what, and who sees nothing."""

from __future__ import annotations

import uuid

import pytest
from arthur_client.api_bindings import (
    JobDequeueParameters,
    JobsV1Api,
    ModelsV1Api,
    PatchTaskRequest,
    PostTaskRequest,
    ProjectsV1Api,
    TasksV1Api,
    WorkspacesV1Api,
)
from arthur_client.api_bindings.exceptions import ForbiddenException, NotFoundException

from controlplane import rbac
from controlplane.identity.models import DataPlane, PlatformUser
from controlplane.models import Project, Role, RoleBinding
from controlplane.seed_platform import DEMO_TASKS, demo_uuid

pytestmark = pytest.mark.django_db(transaction=True)

TASK = {task.key: task for task in DEMO_TASKS}
SUPPORT_MODEL = str(TASK["support-bot"].model_id)
HR_MODEL = str(TASK["hr-helpdesk"].model_id)
PROJECT = {name: str(demo_uuid("project", name)) for name in ("Customer Support", "People Operations")}


@pytest.fixture
def outsider() -> str:
    """A person who views one project of the Production workspace and nothing else."""
    demo_org = PlatformUser.objects.get(email="admin@example.com").organization
    user = PlatformUser.objects.create(
        organization=demo_org, user_type=PlatformUser.UserType.USER, email="outsider@example.com", first_name="Out"
    )
    RoleBinding.objects.create(
        user=user, role=Role.PROJECT_VIEWER, project=Project.objects.get(id=PROJECT["Customer Support"])
    )
    return "outsider@example.com"


def test_viewer_patching_is_forbidden_naming_the_permission(arthur):
    with pytest.raises(ForbiddenException) as caught:
        TasksV1Api(arthur("viewer@example.com")).patch_task(SUPPORT_MODEL, PatchTaskRequest(rules_to_enable=[]))
    assert caught.value.status == 403
    assert '"detail": "Missing permission: model_task_update"' in caught.value.body


@pytest.mark.parametrize(
    ("identity", "model_key", "allowed"),
    [
        ("admin@example.com", "support-bot", True),
        ("arthur-sa-demo", "support-bot", True),
        ("editor@example.com", "support-bot", True),
        ("editor@example.com", "hr-helpdesk", False),  # viewer there
        ("viewer@example.com", "support-bot", False),
    ],
)
def test_sync_matrix(arthur, identity, model_key, allowed):
    tasks = TasksV1Api(arthur(identity))
    if allowed:
        assert tasks.sync_task(str(TASK[model_key].model_id)).job_id
    else:
        with pytest.raises(ForbiddenException) as caught:
            tasks.sync_task(str(TASK[model_key].model_id))
        assert "model_task_sync" in caught.value.body


def test_every_reader_reads_and_only_editors_see_the_key(arthur):
    for identity in ("admin@example.com", "editor@example.com", "viewer@example.com", "arthur-sa-demo"):
        assert TasksV1Api(arthur(identity)).get_task_state_cache(SUPPORT_MODEL).task.name == "support-bot"
    assert TasksV1Api(arthur("editor@example.com")).get_task_connection_info(SUPPORT_MODEL).api_host
    with pytest.raises(ForbiddenException) as caught:
        TasksV1Api(arthur("viewer@example.com")).get_task_connection_info(SUPPORT_MODEL)
    assert "model_task_get_connection_info" in caught.value.body


def test_service_account_may_not_delete_tasks(arthur):
    """arthur-sa-demo is an organization admin in the seed; a plain service-account binding cannot delete."""
    user = PlatformUser.objects.get(client_id="arthur-sa-demo")
    RoleBinding.objects.filter(user=user).delete()
    RoleBinding.objects.create(
        user=user, role=Role.SERVICE_ACCOUNT, project=Project.objects.get(id=PROJECT["Customer Support"])
    )
    tasks = TasksV1Api(arthur("arthur-sa-demo"))
    assert tasks.sync_task(SUPPORT_MODEL).job_id
    with pytest.raises(ForbiddenException):
        tasks.delete_task(SUPPORT_MODEL)


def test_reads_across_workspaces_are_not_found(arthur, outsider):
    client = arthur(outsider)
    assert TasksV1Api(client).get_task_state_cache(SUPPORT_MODEL).task.name == "support-bot"
    with pytest.raises(NotFoundException):
        TasksV1Api(client).get_task_state_cache(HR_MODEL)
    with pytest.raises(NotFoundException):
        ProjectsV1Api(client).get_project(PROJECT["People Operations"])
    with pytest.raises(NotFoundException):
        ModelsV1Api(client).get_models(PROJECT["People Operations"])
    with pytest.raises(NotFoundException):
        JobsV1Api(client).get_job(str(demo_uuid("job", "create:hr-helpdesk")))
    with pytest.raises(NotFoundException):
        TasksV1Api(client).project_create_model_task(
            PROJECT["People Operations"], PostTaskRequest(name="x", connector_id=str(uuid.uuid4()))
        )
    assert [ws.name for ws in WorkspacesV1Api(client).get_workspaces().records] == ["Production"]


def test_people_cannot_act_as_the_data_plane(arthur):
    data_plane = str(DataPlane.objects.get(name="Demo Engine").id)
    with pytest.raises(ForbiddenException) as caught:
        JobsV1Api(arthur("editor@example.com")).post_dequeue_job(data_plane, JobDequeueParameters(memory_limit_mb=1))
    assert "data_plane_jobs_dequeue_next" in caught.value.body


def test_role_permission_sets_nest():
    assert rbac.VIEWER_PERMISSIONS < rbac.EDITOR_PERMISSIONS <= rbac.ALL_PERMISSIONS
    assert rbac.MODEL_TASK_DELETE not in rbac.SERVICE_ACCOUNT_PERMISSIONS
    assert rbac.DATA_PLANE_JOBS_DEQUEUE_NEXT not in rbac.EDITOR_PERMISSIONS
