"""JobsV1Api: reading jobs (people) and pulling/reporting them (data planes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError

from controlplane import rbac, schemas
from controlplane.identity.models import DataPlane
from controlplane.jobs import JobConflict, append_errors, append_logs, dequeue_job, reap_expired_runs, set_job_state
from controlplane.models import Job, JobError, JobLog, JobRun
from controlplane.routers.common import (
    Page,
    PageSize,
    aware,
    load_job,
    load_project,
    ordering,
    page_of,
    paginate,
)
from controlplane.serializers import job_out, run_out

router = Router(tags=["jobs"])


class JobFilters(Schema):
    sort: Literal["queued_at", "started_at", "finished_at"] = "queued_at"
    order: schemas.SortOrder = "desc"
    kinds: list[schemas.JobKindName] | None = None
    exclude_kinds: list[schemas.JobKindName] | None = None
    states: list[schemas.JobStateName] | None = None
    model_id: uuid.UUID | None = None
    data_plane_id: uuid.UUID | None = None
    schedule_id: uuid.UUID | None = None
    trigger_type: schemas.JobTriggerName | None = None
    triggered_by_user_id: uuid.UUID | None = None
    triggered_by_user_email: str | None = None
    nonce: str | None = None
    error_count_above: schemas.Int32 | None = None
    duration_sec_greater_than: schemas.Int32 | None = None
    duration_sec_less_than: schemas.Int32 | None = None
    started_before: datetime | None = None
    started_after: datetime | None = None
    queued_before: datetime | None = None
    queued_after: datetime | None = None
    ready_before: datetime | None = None
    ready_after: datetime | None = None
    finished_before: datetime | None = None
    finished_after: datetime | None = None
    ready_before_current_time: bool = False
    ready_after_current_time: bool = False
    page: int = Field(1, ge=1)
    page_size: int = Field(20, ge=1, le=1000)


_RANGE_FILTERS = {
    "started_before": "started_at__lte",
    "started_after": "started_at__gte",
    "queued_before": "queued_at__lte",
    "queued_after": "queued_at__gte",
    "ready_before": "ready_at__lte",
    "ready_after": "ready_at__gte",
    "finished_before": "finished_at__lte",
    "finished_after": "finished_at__gte",
}


def _filter_jobs(qs, filters: JobFilters):
    simple = {
        "model_id": filters.model_id,
        "data_plane_id": filters.data_plane_id,
        "schedule_id": filters.schedule_id,
        "trigger_type": filters.trigger_type,
        "nonce": filters.nonce,
        "error_count__gte": filters.error_count_above,
        "duration_sec__gte": filters.duration_sec_greater_than,
        "duration_sec__lte": filters.duration_sec_less_than,
    }
    qs = qs.filter(**{key: value for key, value in simple.items() if value is not None})
    if filters.kinds:
        qs = qs.filter(kind__in=filters.kinds)
    if filters.exclude_kinds:  # takes precedence over kinds
        qs = qs.exclude(kind__in=filters.exclude_kinds)
    if filters.states:
        qs = qs.filter(state__in=filters.states)
    if filters.trigger_type == "user":
        if filters.triggered_by_user_id:
            qs = qs.filter(triggered_by_user_id=filters.triggered_by_user_id)
        if filters.triggered_by_user_email:
            qs = qs.filter(triggered_by_user__email=filters.triggered_by_user_email)
    for name, lookup in _RANGE_FILTERS.items():
        value = getattr(filters, name)
        if value is not None:
            qs = qs.filter(**{lookup: aware(value)})
    now = timezone.now()
    if filters.ready_before_current_time:
        qs = qs.filter(ready_at__lte=now)
    if filters.ready_after_current_time:
        qs = qs.filter(ready_at__gte=now)
    return qs


@router.get("/projects/{project_id}/jobs", response=schemas.JobList, summary="Get Jobs")
def get_jobs(request: HttpRequest, project_id: uuid.UUID, filters: Query[JobFilters]):
    """The project's jobs, newest first by default (infinite pagination). Requires project_list_jobs."""
    project = load_project(request.auth, project_id, rbac.PROJECT_LIST_JOBS)
    qs = Job.objects.filter(project=project).select_related("triggered_by_user__organization")
    if rbac.is_data_plane(request.auth):
        qs = qs.filter(data_plane_id=request.auth.data_plane_id)
    qs = _filter_jobs(qs, filters).order_by(*ordering(filters.sort, filters.order))
    records = [job_out(job) for job in page_of(qs, filters.page, filters.page_size)]
    return {"records": records, "pagination": {"page": filters.page, "page_size": filters.page_size}}


@router.get("/jobs/{job_id}", response=schemas.Job, summary="Get Job")
def get_job(request: HttpRequest, job_id: uuid.UUID):
    """One job. A run whose agent stopped reporting is expired on read. Requires project_job_read."""
    job = load_job(request.auth, job_id, rbac.PROJECT_JOB_READ, "triggered_by_user__organization")
    if job.state == "running" and reap_expired_runs(job_id=job.id):
        job = load_job(request.auth, job_id, rbac.PROJECT_JOB_READ, "triggered_by_user__organization")
    return job_out(job)


@router.patch("/jobs/{job_id}", response=schemas.Job, summary="Update Job")
def update_job(request: HttpRequest, job_id: uuid.UUID, body: schemas.PatchJob):
    """Change how often the job may be tried (null keeps it). Requires project_job_update."""
    job = load_job(request.auth, job_id, rbac.PROJECT_JOB_UPDATE, "triggered_by_user__organization")
    if body.max_attempts is not None:
        job.max_attempts = body.max_attempts
        job.save(update_fields=["max_attempts"])
    return job_out(job)


@router.get("/jobs/{job_id}/runs", response=schemas.JobRunList, summary="Get Job Runs")
def get_job_runs(request: HttpRequest, job_id: uuid.UUID, page: int = Page, page_size: int = PageSize):
    """The job's runs, oldest first. Requires project_job_read_runs."""
    job = load_job(request.auth, job_id, rbac.PROJECT_JOB_READ_RUNS)
    runs, pagination = paginate(
        JobRun.objects.filter(job=job).order_by("job_attempt", "start_timestamp"), page, page_size
    )
    return {"records": [run_out(run) for run in runs], "pagination": pagination}


def _run_of(job: Job, job_run_id: uuid.UUID) -> JobRun:
    run = JobRun.objects.filter(id=job_run_id, job=job).first()
    if run is None:
        raise HttpError(404, "Job run not found")
    return run


@router.get("/jobs/{job_id}/runs/{job_run_id}/logs", response=schemas.JobLogList, summary="Get Job Logs")
def get_job_logs(
    request: HttpRequest,
    job_id: uuid.UUID,
    job_run_id: uuid.UUID,
    order: schemas.SortOrder = "asc",
    page: int = Page,
    page_size: int = PageSize,
):
    """The run's log lines by timestamp (ascending by default). Requires project_job_read_logs."""
    run = _run_of(load_job(request.auth, job_id, rbac.PROJECT_JOB_READ_LOGS), job_run_id)
    logs, pagination = paginate(
        JobLog.objects.filter(run=run).order_by(*ordering("log_timestamp", order)), page, page_size
    )
    records = [{"log_level": log.log_level, "log": log.log, "log_timestamp": log.log_timestamp} for log in logs]
    return {"records": records, "pagination": pagination}


@router.get("/jobs/{job_id}/runs/{job_run_id}/errors", response=schemas.JobErrorList, summary="Get Job Errors")
def get_job_errors(
    request: HttpRequest, job_id: uuid.UUID, job_run_id: uuid.UUID, page: int = Page, page_size: int = PageSize
):
    """The run's errors, oldest first. Requires project_job_read_errors."""
    run = _run_of(load_job(request.auth, job_id, rbac.PROJECT_JOB_READ_ERRORS), job_run_id)
    errors, pagination = paginate(JobError.objects.filter(run=run).order_by("created_at", "id"), page, page_size)
    return {"records": [{"error": error.error} for error in errors], "pagination": pagination}


@router.post(
    "/data_planes/{data_plane_id}/jobs/next",
    response={200: schemas.JobRun, 204: None},
    summary="Dequeue Next Job",
)
def post_dequeue_job(request: HttpRequest, data_plane_id: uuid.UUID, body: schemas.JobDequeueParameters):
    """Hand the oldest ready job of this data plane to the caller (200 JobRun) or 204 when there is
    none. Only the data plane itself (or an organization admin) may dequeue. Requires
    data_plane_jobs_dequeue_next."""
    data_plane = DataPlane.objects.select_related("workspace").filter(id=data_plane_id).first()
    if data_plane is None:
        raise HttpError(404, "Data plane not found")
    rbac.require(
        request.auth,
        rbac.DATA_PLANE_JOBS_DEQUEUE_NEXT,
        organization_id=data_plane.workspace.organization_id,
        project_id=None,
        data_plane_id=data_plane.id,
        not_found="Data plane not found",
    )
    run = dequeue_job(data_plane_id=data_plane.id, memory_limit_mb=body.memory_limit_mb)
    if run is None:
        return Status(204, None)
    return run_out(run)


@router.put("/jobs/{job_id}/state", response=schemas.Job, summary="Put Job State")
def put_job_state(request: HttpRequest, job_id: uuid.UUID, job_run_id: uuid.UUID, body: schemas.PutJobState):
    """The agent reports a run's state; terminal states finish the job. Requires project_job_put_state.
    404 for a run that is not the job's; 400 when the run is no longer active."""
    job = load_job(request.auth, job_id, rbac.PROJECT_JOB_PUT_STATE, "triggered_by_user__organization")
    try:
        job = set_job_state(job, job_run_id, body.job_state)
    except JobRun.DoesNotExist as exc:
        raise HttpError(404, "Job run not found") from exc
    except JobConflict as exc:
        raise HttpError(400, str(exc)) from exc
    return job_out(job)


@router.post("/jobs/{job_id}/runs/{job_run_id}/logs", response={204: None}, summary="Post Job Logs")
def post_job_logs(request: HttpRequest, job_id: uuid.UUID, job_run_id: uuid.UUID, body: schemas.JobLogs):
    """Append log lines to a run. Requires project_job_append_logs."""
    job = load_job(request.auth, job_id, rbac.PROJECT_JOB_APPEND_LOGS)
    lines = [
        {"log_level": log.log_level, "log": log.log, "log_timestamp": aware(log.log_timestamp)} for log in body.logs
    ]
    try:
        append_logs(job, job_run_id, lines)
    except JobRun.DoesNotExist as exc:
        raise HttpError(404, "Job run not found") from exc
    return Status(204, None)


@router.post("/jobs/{job_id}/runs/{job_run_id}/errors", response={204: None}, summary="Post Job Errors")
def post_job_errors(request: HttpRequest, job_id: uuid.UUID, job_run_id: uuid.UUID, body: schemas.JobErrors):
    """Append errors to a run (counted in the job's error_count). Requires project_job_append_errors."""
    job = load_job(request.auth, job_id, rbac.PROJECT_JOB_APPEND_ERRORS)
    try:
        append_errors(job, job_run_id, [item.error for item in body.errors])
    except JobRun.DoesNotExist as exc:
        raise HttpError(404, "Job run not found") from exc
    return Status(204, None)
