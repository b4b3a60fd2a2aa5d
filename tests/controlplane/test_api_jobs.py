"""JobsV1Api against a live Local Arthur with the official client: the people's reads and the data
plane's pull-and-report cycle."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
import requests
from arthur_client.api_bindings import (
    JobDequeueParameters,
    JobErrors,
    JobKind,
    JobLog,
    JobLogs,
    JobState,
    JobsV1Api,
    PutJobState,
    SortOrder,
    TasksV1Api,
)
from arthur_client.api_bindings.exceptions import BadRequestException, NotFoundException
from arthur_client.api_bindings.models.job_error import JobError
from arthur_client.api_bindings.models.job_log_level import JobLogLevel
from arthur_client.api_bindings.models.job_trigger import JobTrigger

from controlplane.identity.models import DataPlane
from controlplane.seed_platform import DEMO_TASKS, demo_uuid

pytestmark = pytest.mark.django_db(transaction=True)

SUPPORT = next(task for task in DEMO_TASKS if task.key == "support-bot")
CLAIMS = next(task for task in DEMO_TASKS if task.key == "claims-assistant")
SUPPORT_PROJECT = str(demo_uuid("project", "Customer Support"))
CLAIMS_PROJECT = str(demo_uuid("project", "Claims Automation"))
ENGINE_MEMORY = JobDequeueParameters(memory_limit_mb=4096)


@pytest.fixture
def admin_jobs(arthur) -> JobsV1Api:
    return JobsV1Api(arthur("admin@example.com"))


@pytest.fixture
def engine(arthur) -> JobsV1Api:
    return JobsV1Api(arthur("data-plane-demo"))


@pytest.fixture
def data_plane_id() -> str:
    return str(DataPlane.objects.get(name="Demo Engine").id)


def test_seeded_finished_job_has_runs_logs_and_errors(admin_jobs):
    job_id = str(demo_uuid("job", "sync:claims-assistant"))
    job = admin_jobs.get_job(job_id)
    assert job.state == JobState.FAILED and job.error_count == 1 and job.duration_sec == 2
    assert job.triggered_by_user.email == "editor@example.com"

    runs = admin_jobs.get_job_runs(job_id)
    assert runs.pagination.total_records == 1
    [run] = runs.records
    assert run.job_attempt == 1 and run.end_timestamp is not None

    logs = admin_jobs.get_job_logs(job_id, run.id)
    assert logs.records[0].log.startswith(f"Starting job {job_id}")
    newest_first = admin_jobs.get_job_logs(job_id, run.id, order=SortOrder.DESC)
    assert [log.log for log in newest_first.records] == [log.log for log in reversed(logs.records)]

    errors = admin_jobs.get_job_errors(job_id, run.id)
    assert [error.error for error in errors.records] == ["engine unavailable (connection refused)"]


def test_get_jobs_filters_with_repeated_keys(admin_jobs, arthur):
    tasks = TasksV1Api(arthur("admin@example.com"))
    sync = tasks.sync_task(str(SUPPORT.model_id)).job_id
    regen = tasks.post_regenerate_validation_key(str(SUPPORT.model_id)).job_id

    everything = admin_jobs.get_jobs(SUPPORT_PROJECT)
    assert everything.pagination.page == 1 and everything.pagination.page_size == 20
    assert [job.id for job in everything.records][:2] == [regen, sync]  # newest first

    both = admin_jobs.get_jobs(
        SUPPORT_PROJECT, kinds=[JobKind.FETCH_MODEL_TASK, JobKind.REGENERATE_TASK_VALIDATION_KEY]
    )
    assert {job.id for job in both.records} == {sync, regen}
    only_queued_syncs = admin_jobs.get_jobs(
        SUPPORT_PROJECT, kinds=[JobKind.FETCH_MODEL_TASK], states=[JobState.QUEUED], model_id=str(SUPPORT.model_id)
    )
    assert [job.id for job in only_queued_syncs.records] == [sync]
    excluded = admin_jobs.get_jobs(
        SUPPORT_PROJECT,
        kinds=[JobKind.FETCH_MODEL_TASK, JobKind.REGENERATE_TASK_VALIDATION_KEY],
        exclude_kinds=[JobKind.FETCH_MODEL_TASK],
    )
    assert [job.id for job in excluded.records] == [regen]
    by_user = admin_jobs.get_jobs(
        SUPPORT_PROJECT, trigger_type=JobTrigger.USER, triggered_by_user_email="admin@example.com"
    )
    assert {job.id for job in by_user.records} == {sync, regen}
    oldest_first = admin_jobs.get_jobs(SUPPORT_PROJECT, order=SortOrder.ASC, page_size=1)
    assert len(oldest_first.records) == 1 and oldest_first.records[0].kind == JobKind.CREATE_MODEL_TASK
    second_page = admin_jobs.get_jobs(SUPPORT_PROJECT, order=SortOrder.ASC, page=2, page_size=1)
    assert second_page.pagination.page == 2 and second_page.records[0].id != oldest_first.records[0].id


def test_get_jobs_rejects_unknown_kind_with_422(local_arthur, api_token):
    response = requests.get(
        f"{local_arthur}/api/v1/projects/{SUPPORT_PROJECT}/jobs?kinds=fetch_model_task&kinds=nope",
        headers={"Authorization": f"Bearer {api_token('admin@example.com')}"},
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "kinds", 1]


def test_data_plane_pulls_runs_and_reports_a_job(admin_jobs, engine, data_plane_id, arthur):
    job_id = TasksV1Api(arthur("editor@example.com")).sync_task(str(CLAIMS.model_id)).job_id

    run = engine.post_dequeue_job(data_plane_id, ENGINE_MEMORY)
    assert run.job_id == job_id and run.state == JobState.RUNNING and run.job_attempt == 1
    assert engine.get_job(job_id).state == JobState.RUNNING
    assert engine.post_dequeue_job(data_plane_id, ENGINE_MEMORY) is None  # 204: nothing else queued

    naive_now = datetime.now()  # the ml-engine posts naive local timestamps
    assert (
        engine.post_job_logs(
            job_id,
            run.id,
            JobLogs(logs=[JobLog(log_level=JobLogLevel.INFO, log=f"Starting job {job_id}", log_timestamp=naive_now)]),
        )
        is None
    )
    assert engine.post_job_errors(job_id, run.id, JobErrors(errors=[JobError(error="warning only")])) is None
    finished = engine.put_job_state(job_id, run.id, PutJobState(job_state=JobState.COMPLETED))
    assert finished.state == JobState.COMPLETED and finished.finished_at is not None
    assert finished.error_count == 1 and finished.attempts == 1

    [logged] = admin_jobs.get_job_logs(job_id, run.id).records
    assert logged.log == f"Starting job {job_id}"
    assert admin_jobs.get_job_runs(job_id).records[0].state == JobState.COMPLETED
    with pytest.raises(BadRequestException):  # the run is closed
        engine.put_job_state(job_id, run.id, PutJobState(job_state=JobState.FAILED))


def test_dequeue_respects_memory_limit(engine, data_plane_id, arthur):
    TasksV1Api(arthur("admin@example.com")).sync_task(str(SUPPORT.model_id))
    assert engine.post_dequeue_job(data_plane_id, JobDequeueParameters(memory_limit_mb=10)) is None
    assert engine.post_dequeue_job(data_plane_id, ENGINE_MEMORY) is not None


def test_dequeue_answers_204_with_empty_body(local_arthur, api_token, data_plane_id):
    response = requests.post(
        f"{local_arthur}/api/v1/data_planes/{data_plane_id}/jobs/next",
        json={"memory_limit_mb": 1000},
        headers={"Authorization": f"Bearer {api_token('data-plane-demo')}"},
        timeout=10,
    )
    assert response.status_code == 204 and response.content == b""


def test_a_data_plane_sees_only_its_own_jobs(admin_jobs, arthur, data_plane_id):
    from controlplane.identity.models import PlatformUser, Workspace

    other_plane = DataPlane.objects.create(workspace=Workspace.objects.order_by("name").last(), name="Other Engine")
    PlatformUser.objects.create(
        organization=other_plane.workspace.organization,
        user_type=PlatformUser.UserType.DATA_PLANE,
        first_name="Other Engine",
        client_id="data-plane-other",
        data_plane=other_plane,
    )
    other = JobsV1Api(arthur("data-plane-other"))
    job_id = TasksV1Api(arthur("admin@example.com")).sync_task(str(SUPPORT.model_id)).job_id

    with pytest.raises(NotFoundException):
        other.get_job(job_id)
    with pytest.raises(NotFoundException):
        other.post_dequeue_job(data_plane_id, ENGINE_MEMORY)  # someone else's queue
    assert other.post_dequeue_job(str(other_plane.id), ENGINE_MEMORY) is None
    run = JobsV1Api(arthur("data-plane-demo")).post_dequeue_job(data_plane_id, ENGINE_MEMORY)
    with pytest.raises(NotFoundException):
        other.put_job_state(job_id, run.id, PutJobState(job_state=JobState.COMPLETED))
    with pytest.raises(NotFoundException):
        other.post_job_logs(
            job_id, run.id, JobLogs(logs=[JobLog(log_level=JobLogLevel.INFO, log="x", log_timestamp=datetime.now())])
        )


def test_unknown_job_and_run_are_404(admin_jobs):
    with pytest.raises(NotFoundException):
        admin_jobs.get_job(str(uuid.uuid4()))
    job_id = str(demo_uuid("job", "create:support-bot"))
    with pytest.raises(NotFoundException):
        admin_jobs.get_job_logs(job_id, str(uuid.uuid4()))
    with pytest.raises(NotFoundException):
        admin_jobs.put_job_state(job_id, str(uuid.uuid4()), PutJobState(job_state=JobState.COMPLETED))


def test_update_job_changes_max_attempts(admin_jobs, arthur):
    from arthur_client.api_bindings import PatchJob
    from arthur_client.api_bindings.exceptions import ForbiddenException

    job_id = TasksV1Api(arthur("admin@example.com")).sync_task(str(SUPPORT.model_id)).job_id
    assert admin_jobs.update_job(job_id, PatchJob(max_attempts=5)).max_attempts == 5
    with pytest.raises(ForbiddenException):
        JobsV1Api(arthur("viewer@example.com")).update_job(job_id, PatchJob(max_attempts=1))
