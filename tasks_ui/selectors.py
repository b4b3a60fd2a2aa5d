"""Reads for the dashboard's pages: Arthur through ``arthur_api`` with the person's client, and the ledger.

Every function is ``<entity>_<action>`` with keyword-only arguments and returns typed records. Upstream
failures are not caught here: they propagate as ``arthur_api.errors`` exceptions and the view decides
what the page shows. Caches are keyed by the dashboard user, so one person is never served another
person's answer, and hold only what cannot go stale (finished jobs), what changes rarely (who the
person is), or what is younger than the tracker's shortest poll interval (a running job's state).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db.models import QuerySet

from arthur_api.client import ArthurClient
from arthur_api.errors import ArthurNotFound
from arthur_api.records import (
    ConnectionInfo,
    ConnectorSpec,
    Job,
    JobError,
    JobLog,
    JobRun,
    Model,
    Page,
    PermissionCheck,
    Project,
    TaskState,
    User,
    Workspace,
)
from tasks_ui.models import LedgerEntry

# A finished job cannot change: its record is kept this long per person.
FINISHED_JOB_CACHE_SECONDS = 3600
# A queued or running job's state, as one person last read it, is served again for this long: less
# than the tracker's shortest poll interval (1 s), so no poll shows a state older than one interval,
# while the same person's other trackers of the job (another tab, the job page) share one read.
RUNNING_JOB_FRESH_SECONDS = 0.5
# What a person may do on a resource decides which actions a page offers; it is asked again after
# this long, or at once after Arthur refuses the person anything (403). Arthur checks every action.
PERMISSIONS_CACHE_SECONDS = 15
PERMISSIONS_KEPT = 50  # answers (resource and permission set) kept per person
# Who the person is (their organization) changes only with a new sign-in.
ME_CACHE_SECONDS = 300
# Breadcrumbs name the project as the person last saw it, for a while.
PROJECT_NAME_CACHE_SECONDS = 3600
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
ACTIVE_JOB_STATES: tuple[str, ...] = ("queued", "running")


def _user_key(user: AbstractBaseUser, *parts: str) -> str:
    return ":".join(("tasks_ui", str(user.pk), *parts))


# --- who am I -----------------------------------------------------------------------------------


def user_me_get(*, client: ArthurClient, user: AbstractBaseUser) -> User:
    """The Arthur identity behind ``user`` (cached briefly per person). Raises arthur_api errors."""
    key = _user_key(user, "me")
    me = cache.get(key)
    if me is None:
        me = client.get_users_me()
        cache.set(key, me, ME_CACHE_SECONDS)
    return me


# --- permissions --------------------------------------------------------------------------------


def permissions_get(
    *, client: ArthurClient, user: AbstractBaseUser, resource_kind: str, resource_id: str, permissions: Iterable[str]
) -> dict[str, bool]:
    """Which of ``permissions`` the person holds on one resource, in ONE ``POST /permissions/check``.

    Returns ``{permission_name: allowed}``. The answer is kept for the person for
    ``PERMISSIONS_CACHE_SECONDS`` (it only decides which actions a page offers: Arthur checks every
    action again, and any 403 it answers the person forgets their kept answers, ``permissions_forget``).
    Raises arthur_api errors; a page that cannot ask shows no actions rather than dead buttons.
    """
    names = tuple(dict.fromkeys(permissions))
    key = _user_key(user, "permissions")
    question = f"{resource_kind}:{resource_id}:{','.join(names)}"
    kept = cache.get(key) or {}
    answer = kept.get(question)
    if answer is not None and time.time() - answer[0] < PERMISSIONS_CACHE_SECONDS:
        return dict(answer[1])
    checks = [PermissionCheck(resource_kind=resource_kind, resource_id=resource_id, permission_name=n) for n in names]
    results = client.check_permissions(checks)
    allowed = {name: False for name in names}
    for result in results:
        if result.resource_id == resource_id and result.permission_name in allowed:
            allowed[result.permission_name] = result.allowed
    fresh = {q: a for q, a in kept.items() if time.time() - a[0] < PERMISSIONS_CACHE_SECONDS}
    fresh[question] = (time.time(), allowed)
    cache.set(key, dict(list(fresh.items())[-PERMISSIONS_KEPT:]), math.ceil(PERMISSIONS_CACHE_SECONDS))
    return dict(allowed)


def permissions_forget(*, user: AbstractBaseUser) -> None:
    """Drop the person's kept permission answers (Arthur just refused them something)."""
    cache.delete(_user_key(user, "permissions"))


# --- workspaces and projects ----------------------------------------------------------------------


def workspace_list(*, client: ArthurClient) -> list[Workspace]:
    """Every workspace the person can see (first 100, by name)."""
    return client.get_workspaces(sort="name", order="asc", page=1, page_size=100).records


def project_list(
    *, client: ArthurClient, workspace_id: str, name: str | None, sort: str, order: str, page: int, page_size: int
) -> Page[Project]:
    """One page of the workspace's projects, filtered by name on the server."""
    return client.get_projects(workspace_id, name=name or None, sort=sort, order=order, page=page, page_size=page_size)


def project_get(*, client: ArthurClient, user: AbstractBaseUser, project_id: str) -> Project:
    """The project, read fresh; remembered for this person so pages below it can name it for free."""
    project = client.get_project(project_id)
    cache.set(_user_key(user, "project", project_id), project, PROJECT_NAME_CACHE_SECONDS)
    return project


def project_remembered(*, user: AbstractBaseUser, project_id: str) -> Project | None:
    """The project as this person last read it (for breadcrumbs), or None: never a call to Arthur."""
    return cache.get(_user_key(user, "project", project_id))


# --- task models and tasks -----------------------------------------------------------------------


@dataclass(frozen=True)
class TaskModelRow:
    """A task model on the project page with what its cached task says (``state`` None: unreadable)."""

    model: Model
    state: TaskState | None
    pending_jobs: tuple[Job, ...] = ()
    unavailable: bool = False

    @property
    def rule_counts(self) -> dict[str, int]:
        rules = self.state.task.rules if self.state and self.state.task else []
        return {
            "total": len(rules),
            "enabled": sum(1 for rule in rules if rule.enabled),
            "task": sum(1 for rule in rules if rule.scope == "task"),
        }


def task_model_list(*, client: ArthurClient, project_id: str, page: int, page_size: int) -> Page[Model]:
    """One page of the project's models that are task models (engine_internal/shield dataset).

    Totals count every model of the project (the API cannot filter on connector type).
    """
    models = client.get_models(project_id, sort="name", order="asc", page=page, page_size=page_size)
    return Page(
        records=[model for model in models.records if model.is_task_model],
        page=models.page,
        page_size=models.page_size,
        total_pages=models.total_pages,
        total_records=models.total_records,
    )


def task_state_get(*, client: ArthurClient, model_id: str) -> TaskState:
    """The task state the control plane has cached for ``model_id`` (``task`` None before the first sync)."""
    return client.get_task_state_cache(model_id)


def connection_info_get(*, client: ArthurClient, model_id: str) -> ConnectionInfo | None:
    """The task's connection info, or None when there is none yet (404). Raises other arthur_api errors."""
    try:
        return client.get_task_connection_info(model_id)
    except ArthurNotFound:
        return None


# --- jobs --------------------------------------------------------------------------------------


def job_cached(*, user: AbstractBaseUser, job_id: str, finished_only: bool = False) -> Job | None:
    """The person's cached read of a job: a finished job at any age, a queued or running one only
    while it is younger than ``RUNNING_JOB_FRESH_SECONDS`` (never with ``finished_only``); else None
    (read Arthur)."""
    entry = cache.get(_user_key(user, "job", job_id))
    if entry is None:
        return None
    read_at, job = entry
    if job.is_terminal or (not finished_only and time.time() - read_at < RUNNING_JOB_FRESH_SECONDS):
        return job
    return None


def job_get(*, client: ArthurClient, user: AbstractBaseUser, job_id: str) -> Job:
    """A job for a page: a finished one from the person's cache, a queued or running one read now (a
    person who asked for the page, e.g. with the no-JavaScript refresh link, sees its state as it is;
    only the tracker's polls share a running job's recent read). Raises arthur_api errors."""
    return job_cached(user=user, job_id=job_id, finished_only=True) or job_fetch(
        client=client, user=user, job_id=job_id
    )


def job_fetch(*, client: ArthurClient, user: AbstractBaseUser, job_id: str) -> Job:
    """A job read from Arthur now, remembered for the person (see ``job_cached``)."""
    job = client.get_job(job_id)
    timeout = FINISHED_JOB_CACHE_SECONDS if job.is_terminal else math.ceil(RUNNING_JOB_FRESH_SECONDS) + 1
    cache.set(_user_key(user, "job", job_id), (time.time(), job), timeout)
    return job


def job_list(
    *,
    client: ArthurClient,
    project_id: str,
    kinds: Iterable[str] = (),
    states: Iterable[str] = (),
    page: int = 1,
    page_size: int = 20,
) -> Page[Job]:
    """One page of the project's jobs, newest first (job lists carry no totals)."""
    return client.get_jobs(
        project_id,
        kinds=list(kinds) or None,
        states=list(states) or None,
        sort="queued_at",
        order="desc",
        page=page,
        page_size=page_size,
    )


def job_model_id(job: Job) -> str | None:
    """The task model a job acts on, when its spec names one."""
    value = job.job_spec.get("scope_model_id")
    return str(value) if value else None


@dataclass(frozen=True)
class RunDetail:
    run: JobRun
    logs: list[JobLog] = field(default_factory=list)
    errors: list[JobError] = field(default_factory=list)


def job_runs_get(*, client: ArthurClient, job_id: str, min_level: str = "debug") -> list[RunDetail]:
    """Every run of a job (attempt order) with its logs at ``min_level`` or above and its errors."""
    threshold = LOG_LEVELS.index(min_level) if min_level in LOG_LEVELS else 0
    runs = sorted(client.get_job_runs(job_id, page_size=100).records, key=lambda run: run.job_attempt)
    details = []
    for run in runs:
        logs = client.get_job_logs(job_id, run.id, page_size=500).records
        kept = [log for log in logs if _level_index(log.log_level) >= threshold]
        errors = client.get_job_errors(job_id, run.id, page_size=100).records
        details.append(RunDetail(run=run, logs=kept, errors=errors))
    return details


def _level_index(level: str) -> int:
    return LOG_LEVELS.index(level) if level in LOG_LEVELS else len(LOG_LEVELS)


# --- the ledger --------------------------------------------------------------------------------


def ledger_list(*, user: AbstractBaseUser, everyone: bool) -> QuerySet[LedgerEntry]:
    """The jobs submitted through this dashboard: the person's own, or everyone's when ``everyone``."""
    # A submit in flight holds a reservation ("pending-<key>") until Arthur names the job: not a job yet.
    entries = LedgerEntry.objects.select_related("user").exclude(job_id__startswith="pending-")
    return entries if everyone else entries.filter(user=user)


def ledger_get_by_key(*, user: AbstractBaseUser, idempotency_key: str) -> LedgerEntry | None:
    """The job this person already submitted with ``idempotency_key`` (a resubmitted form), or None."""
    return LedgerEntry.objects.filter(user=user, idempotency_key=idempotency_key).first()


def job_elapsed_seconds(job: Job, *, now: datetime) -> int:
    """Seconds the job has taken so far (or took): from start (or queueing) to finish (or now)."""
    start = job.started_at or job.queued_at
    end = job.finished_at or now
    return max(0, int((end - start).total_seconds()))


def connector_list(*, client: ArthurClient, project_id: str) -> list[ConnectorSpec]:
    """The project's engine_internal connectors (the only kind a task can be created or linked with)."""
    return client.get_connectors(project_id, connector_type="engine_internal", page_size=100).records


def task_model_by_onboarding(*, client: ArthurClient, project_id: str, onboarding_identifier: str) -> Model | None:
    """The task model a create or link job registered with ``onboarding_identifier`` (None until it exists)."""
    page = client.get_models(project_id, onboarding_identifier=onboarding_identifier, page_size=1)
    return page.records[0] if page.records else None
