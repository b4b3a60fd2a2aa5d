"""Every TasksV1Api method against a live Local Arthur, with the official arthur-client as the client."""

from __future__ import annotations

import uuid

import pytest
import requests
from arthur_client.api_bindings import (
    Config,
    JobsV1Api,
    KeywordsConfig,
    NewRuleRequest,
    PatchTaskRequest,
    PostLinkTaskRequest,
    PostTaskRequest,
    PostTaskValidationAPIKey,
    PutTaskConnectionInfo,
    PutTaskStateCacheRequest,
    RegexConfig,
    TaskResponse,
    TasksV1Api,
    ToxicityConfig,
)
from arthur_client.api_bindings.exceptions import ApiException, BadRequestException, NotFoundException
from arthur_client.api_bindings.models.http_validation_error import HTTPValidationError

from controlplane.models import Job, TaskConnectionInfo
from controlplane.seed_platform import DEMO_TASKS, demo_uuid

pytestmark = pytest.mark.django_db(transaction=True)

SUPPORT = next(task for task in DEMO_TASKS if task.key == "support-bot")
ARCHIVED = next(task for task in DEMO_TASKS if task.archived)
SUPPORT_PROJECT = demo_uuid("project", "Customer Support")
SUPPORT_CONNECTOR = demo_uuid("connector", "Customer Support")


@pytest.fixture
def tasks(arthur) -> TasksV1Api:
    return TasksV1Api(arthur("admin@example.com"))


def _job(arthur, job_id: str):
    return JobsV1Api(arthur("admin@example.com")).get_job(job_id)


def test_get_task_state_cache_returns_the_seeded_task(tasks):
    state = tasks.get_task_state_cache(str(SUPPORT.model_id))

    assert state.scope_model_id == str(SUPPORT.model_id)
    assert state.task.id == str(SUPPORT.task_id)
    assert state.task.name == "support-bot"
    assert isinstance(state.task.created_at, int) and state.task.created_at > 1_700_000_000_000
    assert {rule.scope.value for rule in state.task.rules} == {"default", "task"}
    assert state.last_synced_at is not None
    assert state.evals == [] and state.transforms == []


def test_archived_task_is_served_as_archived(tasks):
    assert tasks.get_task_state_cache(str(ARCHIVED.model_id)).task.is_archived is True


def test_unknown_model_is_not_found_with_platform_body(tasks):
    with pytest.raises(NotFoundException) as caught:
        tasks.get_task_state_cache(str(uuid.uuid4()))
    assert caught.value.data.detail == "Model not found"


def test_malformed_model_id_is_422_in_fastapi_form(local_arthur, api_token):
    response = requests.get(
        f"{local_arthur}/api/v1/models/not-a-uuid/task",
        headers={"Authorization": f"Bearer {api_token('admin@example.com')}"},
        timeout=10,
    )
    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert item["loc"] == ["path", "model_id"] and item["type"] == "uuid_parsing"


def test_create_task_enqueues_one_job_with_its_spec(tasks, arthur):
    before = Job.objects.count()
    result = tasks.project_create_model_task(
        str(SUPPORT_PROJECT),
        PostTaskRequest(
            name="new-bot",
            connector_id=str(SUPPORT_CONNECTOR),
            onboarding_identifier="ext-42",
            rules_to_add=[
                NewRuleRequest(
                    name="kw",
                    type="KeywordRule",
                    apply_to_prompt=True,
                    apply_to_response=False,
                    config=Config(KeywordsConfig(keywords=["x"])),
                )
            ],
        ),
    )

    assert Job.objects.count() == before + 1
    job = _job(arthur, result.job_id)
    assert job.kind.value == "create_model_task" and job.state.value == "queued"
    spec = job.job_spec.actual_instance
    assert spec.job_type == "create_model_task"
    assert spec.task_name == "new-bot" and spec.onboarding_identifier == "ext-42"
    assert [rule.name for rule in spec.initial_rules] == ["kw"]
    assert job.triggered_by_user.email == "admin@example.com"


def test_create_task_rejects_rules_the_engine_would_refuse(tasks):
    body = PostTaskRequest(
        name="bad-rules",
        connector_id=str(SUPPORT_CONNECTOR),
        rules_to_add=[
            NewRuleRequest(name="pi", type="PromptInjectionRule", apply_to_prompt=True, apply_to_response=True),
            NewRuleRequest(
                name="re",
                type="RegexRule",
                apply_to_prompt=True,
                apply_to_response=True,
                config=Config(RegexConfig(regex_patterns=["("])),
            ),
        ],
    )
    before = Job.objects.count()
    with pytest.raises(ApiException) as caught:
        tasks.project_create_model_task(str(SUPPORT_PROJECT), body)

    assert caught.value.status == 422
    assert isinstance(caught.value.data, HTTPValidationError)
    messages = {tuple(part.actual_instance for part in item.loc): item.msg for item in caught.value.data.detail}
    assert messages[("body", "rules_to_add", 0, "apply_to_response")].startswith("PromptInjectionRule can only")
    assert messages[("body", "rules_to_add", 1, "config", "regex_patterns", 0)] == "Invalid regex: ("
    assert Job.objects.count() == before


def test_create_task_bad_body_is_unprocessable(local_arthur, api_token):
    response = requests.post(
        f"{local_arthur}/api/v1/projects/{SUPPORT_PROJECT}/tasks",
        json={"connector_id": str(SUPPORT_CONNECTOR)},
        headers={"Authorization": f"Bearer {api_token('admin@example.com')}"},
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json() == {"detail": [{"type": "missing", "loc": ["body", "name"], "msg": "Field required"}]}


def test_create_task_on_a_connector_that_is_not_engine_internal_is_400(tasks):
    from controlplane.models import Connector

    s3 = Connector.objects.create(
        project_id=SUPPORT_PROJECT,
        data_plane_id=Connector.objects.get(id=SUPPORT_CONNECTOR).data_plane_id,
        connector_type="S3",
        name="bucket",
    )
    with pytest.raises(BadRequestException) as caught:
        tasks.project_create_model_task(str(SUPPORT_PROJECT), PostTaskRequest(name="x", connector_id=str(s3.id)))
    assert caught.value.data.detail == "The connector must be an engine internal connector."


def test_create_task_on_unknown_project_or_connector_is_404(tasks):
    with pytest.raises(NotFoundException):
        tasks.project_create_model_task(str(uuid.uuid4()), PostTaskRequest(name="x", connector_id=str(uuid.uuid4())))
    with pytest.raises(NotFoundException):
        tasks.project_create_model_task(str(SUPPORT_PROJECT), PostTaskRequest(name="x", connector_id=str(uuid.uuid4())))


def test_link_task_enqueues_link_job(tasks, arthur):
    task_id = str(uuid.uuid4())
    result = tasks.project_create_model_link_task(
        str(SUPPORT_PROJECT), PostLinkTaskRequest(task_id=task_id, connector_id=str(SUPPORT_CONNECTOR))
    )
    job = _job(arthur, result.job_id)
    assert job.kind.value == "create_model_link_task"
    assert job.job_spec.actual_instance.job_type == "link_model_task"
    assert job.job_spec.actual_instance.task_id == task_id


def test_patch_task_enqueues_update_job(tasks, arthur):
    rule_id = str(demo_uuid("rule", "support-toxicity"))
    result = tasks.patch_task(
        str(SUPPORT.model_id),
        PatchTaskRequest(
            rules_to_disable=[rule_id],
            rules_to_add=[
                NewRuleRequest(
                    name="tox",
                    type="ToxicityRule",
                    apply_to_prompt=True,
                    apply_to_response=True,
                    config=Config(ToxicityConfig(threshold=0.9)),
                )
            ],
        ),
    )
    job = _job(arthur, result.job_id)
    spec = job.job_spec.actual_instance
    assert job.kind.value == "update_model_task_rules" and spec.job_type == "update_model_task_rules"
    assert spec.scope_model_id == str(SUPPORT.model_id)
    assert spec.rules_to_disable == [rule_id] and spec.rules_to_enable == [] and len(spec.rules_to_add) == 1


def test_patch_task_with_invalid_rule_is_422(tasks):
    with pytest.raises(ApiException) as caught:
        tasks.patch_task(
            str(SUPPORT.model_id),
            PatchTaskRequest(
                rules_to_add=[
                    NewRuleRequest(
                        name="tox",
                        type="ToxicityRule",
                        apply_to_prompt=True,
                        apply_to_response=True,
                        config=Config(ToxicityConfig(threshold=3)),
                    )
                ]
            ),
        )
    assert caught.value.status == 422
    assert caught.value.data.detail[0].msg == '"threshold" must be between 0 and 1'


def test_patch_unknown_model_is_404(tasks):
    with pytest.raises(NotFoundException):
        tasks.patch_task(str(uuid.uuid4()), PatchTaskRequest(rules_to_enable=[]))


@pytest.mark.parametrize(
    ("method", "kind", "job_type"),
    [
        ("delete_task", "delete_model_task", "delete_model_task"),
        ("sync_task", "fetch_model_task", "fetch_model_task"),
        ("post_regenerate_validation_key", "regenerate_task_validation_key", "regenerate_validation_key"),
    ],
)
def test_model_jobs(tasks, arthur, method, kind, job_type):
    result = getattr(tasks, method)(str(SUPPORT.model_id))
    job = _job(arthur, result.job_id)
    assert job.kind.value == kind
    assert job.job_spec.actual_instance.job_type == job_type
    assert job.job_spec.actual_instance.scope_model_id == str(SUPPORT.model_id)
    with pytest.raises(NotFoundException):
        getattr(tasks, method)(str(uuid.uuid4()))


def test_connection_info_round_trip_keeps_the_key_encrypted_at_rest(tasks):
    model_id = str(SUPPORT.model_id)
    seeded = tasks.get_task_connection_info(model_id)
    assert seeded.validation_key.name == SUPPORT.validation_key_name

    put = tasks.put_task_connection_info(
        model_id,
        PutTaskConnectionInfo(
            api_host="https://engine.example",
            validation_key=PostTaskValidationAPIKey(id="key-2", name="Task Validation Key - x", key="s3cret-value"),
        ),
    )
    assert put.api_host == "https://engine.example"
    got = tasks.get_task_connection_info(model_id)
    assert got.validation_key.key.get_secret_value() == "s3cret-value"
    stored = TaskConnectionInfo.objects.get(model_id=model_id)
    assert "s3cret-value" not in stored.key_ciphertext

    assert tasks.delete_connection_info(model_id) is None
    with pytest.raises(NotFoundException):
        tasks.get_task_connection_info(model_id)
    with pytest.raises(NotFoundException):
        tasks.delete_connection_info(model_id)


def test_delete_connection_info_answers_204_with_empty_body(local_arthur, api_token):
    response = requests.delete(
        f"{local_arthur}/api/v1/models/{SUPPORT.model_id}/task/connection_info",
        headers={"Authorization": f"Bearer {api_token('admin@example.com')}"},
        timeout=10,
    )
    assert response.status_code == 204 and response.content == b""


def test_put_task_state_cache_replaces_the_cache(tasks):
    model_id = str(SUPPORT.model_id)
    before = tasks.get_task_state_cache(model_id)
    task = TaskResponse.from_dict({**SUPPORT.task_response(), "name": "support-bot-renamed", "rules": []})

    assert tasks.put_task_state_cache(model_id, PutTaskStateCacheRequest(task=task, evals=[], transforms=[])) is None

    after = tasks.get_task_state_cache(model_id)
    assert after.task.name == "support-bot-renamed" and after.task.rules == []
    assert after.last_synced_at > before.last_synced_at


def test_put_task_state_cache_for_another_task_is_400(tasks):
    task = TaskResponse.from_dict({**SUPPORT.task_response(), "id": str(uuid.uuid4())})
    with pytest.raises(BadRequestException):
        tasks.put_task_state_cache(str(SUPPORT.model_id), PutTaskStateCacheRequest(task=task))


def test_put_task_state_cache_with_string_timestamps_is_422(local_arthur, api_token):
    body = {"task": {**SUPPORT.task_response(), "created_at": "2025-01-01T00:00:00Z"}}
    response = requests.put(
        f"{local_arthur}/api/v1/models/{SUPPORT.model_id}/task/cache",
        json=body,
        headers={"Authorization": f"Bearer {api_token('admin@example.com')}"},
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "task", "created_at"]


def test_cached_task_read_stays_within_three_queries(db, api_token, client):
    """The benchmark's hot path: token, model (+project, workspace, cache) and role bindings."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from controlplane.seed import seed_demo

    seed_demo(dashboard_url="http://testserver")
    headers = {"Authorization": f"Bearer {api_token('viewer@example.com')}"}
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/models/{SUPPORT.model_id}/task", headers=headers)
    assert response.status_code == 200 and response.json()["task"]["id"] == str(SUPPORT.task_id)
    assert len(queries) <= 3, [query["sql"] for query in queries]
