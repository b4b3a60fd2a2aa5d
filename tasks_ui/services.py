"""Writes: the job ledger, and every change to a task through Arthur (``<entity>_<action>``, keyword-only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from arthur_api.client import ArthurClient
from arthur_api.errors import ArthurError, ArthurNotFound, ArthurRejected, ArthurUnavailable
from arthur_api.records import TERMINAL_JOB_STATES, ConnectionInfo, Job
from tasks_ui.models import LedgerEntry


def ledger_record(
    *,
    user: AbstractBaseUser,
    job: Job | str,
    kind: str,
    project_id: str,
    model_id: str = "",
    summary: str = "",
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Record that ``user`` submitted ``job`` (a Job, or the ``job_id`` a mutation returned).

    Recording the same job twice returns the existing row (a retried submit must not duplicate
    the audit trail). With ``idempotency_key``, a second job for the same key is refused with
    ``IntegrityError``: look the first one up with ``ledger_get_by_key`` before submitting.
    """
    job_id = job.id if isinstance(job, Job) else str(job)
    outcome = job.state if isinstance(job, Job) else LedgerEntry.Outcome.QUEUED
    try:
        with transaction.atomic():
            entry, _ = LedgerEntry.objects.get_or_create(
                job_id=job_id,
                defaults={
                    "user": user,
                    "kind": kind,
                    "project_id": str(project_id),
                    "model_id": str(model_id or ""),
                    "summary": summary[:500],
                    "idempotency_key": idempotency_key,
                    "outcome": outcome,
                },
            )
    except IntegrityError:
        existing = LedgerEntry.objects.filter(job_id=job_id).first()
        if existing is None:
            raise
        entry = existing
    return entry


def ledger_update_outcome(*, job: Job) -> int:
    """Bring the ledger row of ``job`` (if the dashboard submitted it) up to date with its state.

    Returns the number of rows changed (0 when the job is not in the ledger or already up to date).
    A terminal outcome is never overwritten: a finished job cannot change.

    Polls call this every few seconds, mostly with nothing new: a cheap read decides whether to
    write at all, so an unchanged poll takes no write lock. The update stays filtered, so a
    concurrent poll that got there first still wins.
    """
    outcome = LedgerEntry.objects.filter(job_id=job.id).values_list("outcome", flat=True).first()
    if outcome is None or outcome == job.state or outcome in TERMINAL_JOB_STATES:
        return 0
    return (
        LedgerEntry.objects.filter(job_id=job.id)
        .exclude(outcome=job.state)
        .exclude(outcome__in=TERMINAL_JOB_STATES)
        .update(outcome=job.state, finished_at=job.finished_at, updated_at=timezone.now())
    )


# --- changes: every mutation starts one job, once per form key ---------------------------------

# A reservation's job id until Arthur answers (the ledger's job_id is unique and never null).
_RESERVED_PREFIX = "pending-"
# How long a resubmit waits for the first submit (same key, in flight) to learn its job id.
_RESERVATION_WAIT_SECONDS = 10.0


def job_submit(
    *,
    client: ArthurClient,
    user: AbstractBaseUser,
    idempotency_key: str,
    kind: str,
    project_id: str,
    model_id: str = "",
    summary: str = "",
    start: Callable[[], str],
) -> tuple[str, bool]:
    """Start a job once per ``idempotency_key``: returns ``(job_id, started_now)``.

    The key is reserved in the ledger *before* Arthur is called, so a double click or a resubmitted
    form (even concurrently) calls ``start`` once; the other submits wait for and return the first
    job's id (``started_now`` False). If ``start`` raises (Arthur refused or was unreachable) the
    reservation is dropped, so the same form can be corrected and sent again, and the error
    propagates. Raises ``ArthurUnavailable`` if a concurrent first submit never finished.

    A call whose answer was lost after Arthur received it (``may_have_arrived``: a timeout waiting
    for the answer, a gateway's 504) may have started the job: it is looked for among the project's
    jobs (``_job_started_by``) and, when exactly one fits, recorded as this submit's job, so sending
    the form again cannot start a second one.
    """
    reserved_id = _RESERVED_PREFIX + idempotency_key
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                user=user,
                job_id=reserved_id,
                kind=kind,
                project_id=str(project_id),
                model_id=str(model_id or ""),
                summary=summary[:500],
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        return _first_job_id(user=user, idempotency_key=idempotency_key), False
    try:
        job_id = start()
    except ArthurUnavailable as exc:
        found = _job_started_by(client, entry) if exc.may_have_arrived else None
        if found is None:
            entry.delete()
            raise
        job_id = found
    except BaseException:
        entry.delete()
        raise
    LedgerEntry.objects.filter(pk=entry.pk).update(job_id=job_id, updated_at=timezone.now())
    return job_id, True


# How far before the ledger's reservation a found job may have been queued (clock skew).
_CLOCK_SKEW = timedelta(seconds=30)


def _job_started_by(client: ArthurClient, entry: LedgerEntry) -> str | None:
    """The job a lost-answer submit started, if Arthur shows exactly one that fits: the entry's kind
    (and task model) on its project, triggered by this person, queued since the reservation, and in
    no other ledger row. None when there is none, more than one, or Arthur cannot be asked."""
    try:
        me = client.get_users_me()
        jobs = client.get_jobs(entry.project_id, kinds=[entry.kind], sort="queued_at", order="desc", page_size=50)
    except ArthurError:
        return None
    fits = [
        job
        for job in jobs.records
        if job.triggered_by_user is not None
        and job.triggered_by_user.id == me.id
        and job.queued_at >= entry.submitted_at - _CLOCK_SKEW
        and (not entry.model_id or str(job.job_spec.get("scope_model_id") or "") == entry.model_id)
    ]
    recorded = set(LedgerEntry.objects.filter(job_id__in=[job.id for job in fits]).values_list("job_id", flat=True))
    fits = [job for job in fits if job.id not in recorded]
    return fits[0].id if len(fits) == 1 else None


def _first_job_id(*, user: AbstractBaseUser, idempotency_key: str) -> str:
    deadline = time.monotonic() + _RESERVATION_WAIT_SECONDS
    while True:
        entry = LedgerEntry.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if entry is None:
            # The first submit failed and dropped its reservation: nothing was started.
            raise ArthurRejected("The first submission of this form failed; please send it again.")
        if not entry.job_id.startswith(_RESERVED_PREFIX):
            return entry.job_id
        if time.monotonic() > deadline:
            raise ArthurUnavailable("the first submission of this form is still waiting for Arthur")
        time.sleep(0.1)


def task_patch(
    *,
    client: ArthurClient,
    user: AbstractBaseUser,
    idempotency_key: str,
    project_id: str,
    model_id: str,
    body: dict[str, Any],
    summary: str,
) -> tuple[str, bool]:
    """One ``patch_task`` job with the draft's changes. Raises arthur_api errors (nothing started)."""
    return job_submit(
        client=client,
        user=user,
        idempotency_key=idempotency_key,
        kind="update_model_task_rules",
        project_id=project_id,
        model_id=model_id,
        summary=summary,
        start=lambda: client.patch_task(model_id, body).job_id,
    )


def task_create(
    *,
    client: ArthurClient,
    user: AbstractBaseUser,
    idempotency_key: str,
    project_id: str,
    body: dict[str, Any],
) -> tuple[str, bool]:
    """A ``create_model_task`` job (body: name, connector_id, onboarding_identifier, rules_to_add)."""
    rules = len(body.get("rules_to_add") or [])
    return job_submit(
        client=client,
        user=user,
        idempotency_key=idempotency_key,
        kind="create_model_task",
        project_id=project_id,
        summary=f"create task “{body['name']}” with {rules} initial rule{'s' if rules != 1 else ''}",
        start=lambda: client.project_create_model_task(project_id, body).job_id,
    )


def task_link(
    *,
    client: ArthurClient,
    user: AbstractBaseUser,
    idempotency_key: str,
    project_id: str,
    body: dict[str, Any],
) -> tuple[str, bool]:
    """A ``create_model_link_task`` job (body: task_id, connector_id, onboarding_identifier)."""
    return job_submit(
        client=client,
        user=user,
        idempotency_key=idempotency_key,
        kind="create_model_link_task",
        project_id=project_id,
        summary=f"link existing task {body['task_id']}",
        start=lambda: client.project_create_model_link_task(project_id, body).job_id,
    )


def task_sync(
    *,
    client: ArthurClient,
    user: AbstractBaseUser,
    idempotency_key: str,
    project_id: str,
    model_id: str,
) -> tuple[str, bool]:
    """A ``fetch_model_task`` job."""
    return job_submit(
        client=client,
        user=user,
        idempotency_key=idempotency_key,
        kind="fetch_model_task",
        project_id=project_id,
        model_id=model_id,
        summary="sync the task from the engine",
        start=lambda: client.sync_task(model_id).job_id,
    )


def task_delete(
    *,
    client: ArthurClient,
    user: AbstractBaseUser,
    idempotency_key: str,
    project_id: str,
    model_id: str,
    task_name: str,
) -> tuple[str, bool]:
    """A ``delete_model_task`` job (the engine task is archived and the platform model deleted)."""
    return job_submit(
        client=client,
        user=user,
        idempotency_key=idempotency_key,
        kind="delete_model_task",
        project_id=project_id,
        model_id=model_id,
        summary=f"delete task “{task_name}” and its platform model",
        start=lambda: client.delete_task(model_id).job_id,
    )


def task_regenerate_key(
    *,
    client: ArthurClient,
    user: AbstractBaseUser,
    idempotency_key: str,
    project_id: str,
    model_id: str,
) -> tuple[str, bool]:
    """A ``regenerate_task_validation_key`` job."""
    return job_submit(
        client=client,
        user=user,
        idempotency_key=idempotency_key,
        kind="regenerate_task_validation_key",
        project_id=project_id,
        model_id=model_id,
        summary="regenerate the validation key",
        start=lambda: client.post_regenerate_validation_key(model_id).job_id,
    )


def connection_info_put(*, client: ArthurClient, model_id: str, body: dict[str, Any]) -> ConnectionInfo:
    """Replace the task's connection info (no job: Arthur stores it at once). Raises arthur_api errors."""
    return client.put_task_connection_info(model_id, body)


def connection_info_delete(*, client: ArthurClient, model_id: str) -> bool:
    """Forget the task's connection info; False when there was none (a repeated delete is not an error)."""
    try:
        client.delete_connection_info(model_id)
    except ArthurNotFound:
        return False
    return True
