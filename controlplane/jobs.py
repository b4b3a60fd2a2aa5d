"""The persistent job queue: enqueue, atomic dequeue, leases, state changes, logs and errors.

Decisions the platform leaves open (reference §6.1), made here:
- dequeue hands out the oldest ready job (``queued_at``, then id) of the caller's data plane whose
  memory requirement fits; priorities are stored and shown but do not reorder the queue;
- each dequeue opens a `JobRun` numbered by the job's ``attempts`` (1 for the first run);
- a run stays alive while its agent reports on it: every log, error or state report for that run
  extends its lease. A dequeue poll does not: several agents share a data plane, and one live
  agent's polls must not keep a dead agent's run alive forever. When the lease expires the run
  fails with an error and the job is re-queued, until
  ``max_attempts`` runs have been used, then the job fails. A run the agent reports as ``failed``
  is final (task jobs are not idempotent).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from controlplane.identity.models import DataPlane, PlatformUser
from controlplane.models import (
    TERMINAL_JOB_STATES,
    Job,
    JobError,
    JobKind,
    JobLog,
    JobRun,
    JobState,
    PlatformModel,
    Project,
)

# `job_spec.job_type` literal per kind; two task kinds use a different word than their kind.
JOB_TYPE_BY_KIND: dict[str, str] = {
    JobKind.CREATE_MODEL_LINK_TASK: "link_model_task",
    JobKind.REGENERATE_TASK_VALIDATION_KEY: "regenerate_validation_key",
}
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_MEMORY_MB = 50
DEFAULT_PRIORITY = 100


class JobConflict(Exception):
    """The run is not the job's active run (finished, or its lease expired and the job moved on)."""


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.LOCAL_ARTHUR_JOB_LEASE_SECONDS)


def job_type_for(kind: str) -> str:
    return JOB_TYPE_BY_KIND.get(kind, kind)


def enqueue_job(
    *,
    kind: str,
    spec: dict[str, Any],
    project: Project,
    data_plane: DataPlane,
    triggered_by: PlatformUser | None,
    model: PlatformModel | None = None,
) -> Job:
    """Store one queued job for `data_plane`; `spec` gets its ``job_type`` here."""
    now = timezone.now()
    return Job.objects.create(
        kind=kind,
        job_spec={"job_type": job_type_for(kind), **spec},
        project=project,
        data_plane=data_plane,
        model_id=model.id if model else None,
        queued_at=now,
        ready_at=now,
        triggered_by_user=triggered_by,
        max_attempts=DEFAULT_MAX_ATTEMPTS,
        memory_requirements_mb=DEFAULT_MEMORY_MB,
        job_priority=DEFAULT_PRIORITY,
    )


def dequeue_job(*, data_plane_id: uuid.UUID, memory_limit_mb: int) -> JobRun | None:
    """Hand the oldest ready job of the data plane to this caller and open its run; None if none.

    Atomic: on PostgreSQL the row is locked with ``FOR UPDATE SKIP LOCKED`` so concurrent callers
    take different jobs; SQLite serialises writers (IMMEDIATE transactions).
    """
    now = timezone.now()
    reap_expired_runs(data_plane_id=data_plane_id, now=now)
    # Outside the hand-out transaction, so concurrent callers never wait on these rows' locks.
    DataPlane.objects.filter(id=data_plane_id).update(last_check_in_time=now)
    with transaction.atomic():
        candidates = Job.objects.filter(
            data_plane_id=data_plane_id,
            state=JobState.QUEUED,
            ready_at__lte=now,
            memory_requirements_mb__lte=memory_limit_mb,
        ).order_by("queued_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        job = candidates.first()
        if job is None:
            return None
        job.state = JobState.RUNNING
        job.attempts += 1
        job.started_at = now
        job.finished_at = None
        job.duration_sec = None
        job.save(update_fields=["state", "attempts", "started_at", "finished_at", "duration_sec"])
        return JobRun.objects.create(
            job=job,
            state=JobState.RUNNING,
            job_attempt=job.attempts,
            start_timestamp=now,
            lease_expires_at=now + lease_duration(),
        )


def reap_expired_runs(
    *, now: datetime | None = None, data_plane_id: uuid.UUID | None = None, job_id: uuid.UUID | None = None
) -> int:
    """Fail every running run whose lease has expired; re-queue its job or fail it when out of
    attempts. Returns how many runs were reaped."""
    now = now or timezone.now()
    runs = JobRun.objects.filter(state=JobState.RUNNING, lease_expires_at__lt=now)
    if data_plane_id is not None:
        runs = runs.filter(job__data_plane_id=data_plane_id)
    if job_id is not None:
        runs = runs.filter(job_id=job_id)
    reaped = 0
    for run_id in list(runs.values_list("id", flat=True)):
        with transaction.atomic():
            locked = (
                JobRun.objects.select_for_update()
                .select_related("job")
                .filter(id=run_id, state=JobState.RUNNING, lease_expires_at__lt=now)
            )
            run = locked.first()
            if run is None:  # another caller reaped it first
                continue
            _expire_run(run, now)
            reaped += 1
    return reaped


def _expire_run(run: JobRun, now: datetime) -> None:
    job = run.job
    run.state = JobState.FAILED
    run.end_timestamp = now
    run.save(update_fields=["state", "end_timestamp"])
    JobError.objects.create(run=run, error=f"Job run {run.id} stopped reporting; its lease expired.")
    job.error_count += 1
    if job.attempts < job.max_attempts:
        job.state = JobState.QUEUED
        job.ready_at = now
        job.started_at = None
    else:
        job.state = JobState.FAILED
        job.finished_at = now
        job.duration_sec = _duration(job.started_at, now)
    job.save(update_fields=["state", "ready_at", "started_at", "finished_at", "duration_sec", "error_count"])


def _duration(start: datetime | None, end: datetime) -> int | None:
    return int((end - start).total_seconds()) if start else None


def active_run(job: Job, run_id: uuid.UUID) -> JobRun:
    """The job's run `run_id` if it is still running (lease extended); raises JobConflict otherwise
    and JobRun.DoesNotExist when the run is not the job's."""
    run = JobRun.objects.get(id=run_id, job=job)
    if run.state != JobState.RUNNING:
        raise JobConflict(f"Job run {run_id} is no longer active")
    return run


def set_job_state(job: Job, run_id: uuid.UUID, state: str) -> Job:
    """Apply the agent's report for one run: terminal states close the run and the job, ``running``
    extends the lease. Raises JobConflict for ``queued`` or a run that is no longer active, and
    JobRun.DoesNotExist when the run is not the job's."""
    if state == JobState.QUEUED:
        raise JobConflict("A run cannot put its job back in the queue")
    now = timezone.now()
    with transaction.atomic():
        run = active_run(job, run_id)
        if state in TERMINAL_JOB_STATES:
            run.state = state
            run.end_timestamp = now
            run.save(update_fields=["state", "end_timestamp"])
            job.state = state
            job.finished_at = now
            job.duration_sec = _duration(job.started_at, now)
        else:
            run.lease_expires_at = now + lease_duration()
            run.save(update_fields=["lease_expires_at"])
            job.state = state
        job.save(update_fields=["state", "finished_at", "duration_sec"])
    return job


def append_logs(job: Job, run_id: uuid.UUID, logs: list[dict[str, Any]]) -> None:
    """Store the run's log lines and extend its lease. Logs for a finished run are still kept (the
    agent posts its final lines after the state change)."""
    run = JobRun.objects.get(id=run_id, job=job)
    JobLog.objects.bulk_create(
        [
            JobLog(run=run, log_level=item["log_level"], log=item["log"], log_timestamp=item["log_timestamp"])
            for item in logs
        ]
    )
    _extend_lease(run)


def append_errors(job: Job, run_id: uuid.UUID, errors: list[str]) -> None:
    """Store the run's errors, count them on the job, and extend the run's lease."""
    run = JobRun.objects.get(id=run_id, job=job)
    JobError.objects.bulk_create([JobError(run=run, error=text) for text in errors])
    Job.objects.filter(id=job.id).update(error_count=F("error_count") + len(errors))
    _extend_lease(run)


def _extend_lease(run: JobRun) -> None:
    if run.state == JobState.RUNNING:
        JobRun.objects.filter(id=run.id, state=JobState.RUNNING).update(
            lease_expires_at=timezone.now() + lease_duration()
        )
