"""Dashboard pages: small typed functions, one per URL (form → service or selector → render).

Every read goes through ``tasks_ui.selectors`` with the signed-in person's client, made once per
request. Each page asks Arthur about permissions at most once (one batched check) and shows only the
actions that check allows. An HTMX request gets only the partial it needs, picked here by the server.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from accounts.tokens import user_client
from arthur_api.client import ArthurClient
from arthur_api.errors import ArthurUnavailable
from arthur_api.records import Job, Model
from tasks_ui import change_views, drafts, selectors
from tasks_ui.failures import Soft, arthur_page, soft
from tasks_ui.forms import JobFilterForm, LogLevelForm, ProjectSearchForm, new_idempotency_key
from tasks_ui.services import ledger_update_outcome
from tasks_ui.templatetags.tasks_ui_tags import rule_summary
from tasks_ui.tracker import tracker_response, tracker_unavailable_response

PROJECT_ACTIONS = ("project_create_model_task", "project_create_model_link_task")
TASK_ACTIONS = (
    "model_task_update",
    "model_task_delete",
    "model_task_sync",
    "model_task_regenerate_validation_key",
    "model_task_get_connection_info",
    "model_task_put_connection_info",
    "model_task_delete_connection_info",
)
# Held on the organization, this lets a person read every job of it: "My jobs" then shows everyone's.
ORGANIZATION_JOBS_PERMISSION = "project_job_read"
PROJECTS_PER_PAGE = 20
MODELS_PER_PAGE = 20
JOBS_PER_PAGE = 20
LEDGER_PER_PAGE = 25
# A page of rules stays small (about 20 KB of HTML) however many rules a task has.
RULES_PER_PAGE = 50


def _wants_partial(request: HttpRequest) -> bool:
    """An HTMX request for a region; a history restore (back button, no cache) needs the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _page_number(request: HttpRequest, name: str = "page") -> int:
    try:
        return max(1, int(request.GET.get(name, "1")))
    except ValueError:
        return 1


# --- home: workspaces and projects -----------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@login_required
@arthur_page
def home(request: HttpRequest) -> HttpResponse:
    """The workspace switcher and one page of the chosen workspace's projects (search, sort, totals)."""
    client = user_client(request)
    form = ProjectSearchForm(request.GET)
    search = form.cleaned_data if form.is_valid() else ProjectSearchForm.defaults()
    workspaces = soft(lambda: selectors.workspace_list(client=client))
    records = workspaces.value or []
    workspace = next((ws for ws in records if ws.id == search["workspace"]), records[0] if records else None)
    projects = None
    if workspace is not None:
        sort, order = ProjectSearchForm.SORTS[search["sort"]][1:]
        projects = soft(
            lambda: selectors.project_list(
                client=client,
                workspace_id=workspace.id,
                name=search["q"],
                sort=sort,
                order=order,
                page=_page_number(request),
                page_size=PROJECTS_PER_PAGE,
            )
        )
    context = {
        "form": form,
        "search": search,
        "workspaces": records,
        "workspace": workspace,
        "projects": projects.value if projects else None,
        "unavailable": workspaces.unavailable or (projects.unavailable if projects else None),
    }
    template = "tasks_ui/home.html#projects" if _wants_partial(request) else "tasks_ui/home.html"
    return render(request, template, context)


# --- project: task models and jobs ----------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@login_required
@arthur_page
def project_detail(request: HttpRequest, project_id: str) -> HttpResponse:
    """A project's task models (rule counts, last synced, pending jobs) and its jobs (filtered)."""
    client = user_client(request)
    filters = JobFilterForm(request.GET)
    chosen = filters.cleaned_data if filters.is_valid() else JobFilterForm.defaults()
    jobs = soft(
        lambda: selectors.job_list(
            client=client,
            project_id=project_id,
            kinds=[chosen["kind"]] if chosen["kind"] else [],
            states=[chosen["state"]] if chosen["state"] else [],
            page=_page_number(request),
            page_size=JOBS_PER_PAGE,
        )
    )
    jobs_context = {
        "project_id": project_id,
        "filters": filters,
        "jobs": jobs.value,
        "jobs_unavailable": jobs.unavailable,
    }
    if _wants_partial(request):
        # Filtering or paging the jobs table: only that region is read again.
        return render(request, "tasks_ui/project.html#project-jobs", jobs_context)

    project = selectors.project_get(client=client, user=request.user, project_id=project_id)
    can = soft(
        lambda: selectors.permissions_get(
            client=client,
            user=request.user,
            resource_kind="project",
            resource_id=project_id,
            permissions=PROJECT_ACTIONS,
        )
    )
    models, pending, rows = task_models_region(request, client, project_id)
    unavailable = next((s.unavailable for s in (can, models, pending, jobs) if s.unavailable), None)
    if unavailable is None and any(row.unavailable for row in rows):
        unavailable = "some task states could not be read"
    context = {
        **jobs_context,
        "project": project,
        "can": can.value or {},
        "models": models.value,
        "rows": rows,
        "unavailable": unavailable,
        "started_job": _started_job(request, client),
        **change_views.new_model_context(request, client, project_id),
    }
    return render(request, "tasks_ui/project.html", context)


def _started_job(request: HttpRequest, client: ArthurClient) -> Job | None:
    """The job a change just started (``?job=``, after its redirect), shown in the page's tracker list."""
    job_id = request.GET.get("job", "")
    try:
        job_id = str(uuid.UUID(job_id))
    except ValueError:
        return None
    job = soft(lambda: selectors.job_get(client=client, user=request.user, job_id=job_id)).value
    if job is not None:
        # Cached for the person, this read answers the tracker's next polls: the ledger must learn it.
        ledger_update_outcome(job=job)
    return job


def task_models_region(request: HttpRequest, client: ArthurClient, project_id: str) -> tuple[Soft, Soft, list]:
    """The project's task models (page ``mpage``), its active jobs, and one row per model; each read
    degrades softly when Arthur is unavailable."""
    models = soft(
        lambda: selectors.task_model_list(
            client=client, project_id=project_id, page=_page_number(request, "mpage"), page_size=MODELS_PER_PAGE
        )
    )
    pending = soft(
        lambda: selectors.job_list(
            client=client, project_id=project_id, states=selectors.ACTIVE_JOB_STATES, page_size=100
        )
    )
    rows = _task_model_rows(
        client, models.value.records if models.value else [], pending.value.records if pending.value else []
    )
    return models, pending, rows


def _task_model_rows(
    client: ArthurClient, models: list[Model], pending_jobs: list[Job]
) -> list[selectors.TaskModelRow]:
    """Each task model with its cached task (one read per model: the page shows at most one page of
    models) and its queued or running jobs; a state Arthur could not give is marked, not fatal."""
    rows = []
    for model in models:
        state = soft(lambda model_id=model.id: selectors.task_state_get(client=client, model_id=model_id))
        rows.append(
            selectors.TaskModelRow(
                model=model,
                state=state.value,
                pending_jobs=tuple(job for job in pending_jobs if selectors.job_model_id(job) == model.id),
                unavailable=state.unavailable is not None,
            )
        )
    return rows


# --- task: cached state, rules, connection info ----------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@login_required
@arthur_page
def task_detail(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """A task's cached state, rules and connection info, in at most three calls to Arthur.

    The rules are shown ``RULES_PER_PAGE`` at a time (``?rules_page=N``; out of range: the nearest
    page). An HTMX request targeting ``#rules-table`` (a page link, a rule change) gets only that
    region; any other HTMX request (the panel re-reading itself after a job finished) gets ``#task-panel``.
    """
    client = user_client(request)
    can = soft(
        lambda: selectors.permissions_get(
            client=client, user=request.user, resource_kind="model", resource_id=model_id, permissions=TASK_ACTIONS
        )
    )
    permissions = can.value or {}
    state = soft(lambda: selectors.task_state_get(client=client, model_id=model_id))
    if state.unavailable and can.unavailable:
        # Nothing at all could be read: the whole page says so.
        raise ArthurUnavailable(state.unavailable)
    task = state.value.task if state.value else None
    connection = None
    if permissions.get("model_task_get_connection_info"):
        connection = soft(lambda: selectors.connection_info_get(client=client, model_id=model_id))
    context = {
        "project_id": project_id,
        "project": selectors.project_remembered(user=request.user, project_id=project_id),
        "model_id": model_id,
        "can": permissions,
        "state": state.value,
        "task": task,
        "rules_page": _rule_rows(
            Paginator(task.rules if task else [], RULES_PER_PAGE).get_page(request.GET.get("rules_page"))
        ),
        "connection": connection.value if connection else None,
        "connection_unavailable": connection.unavailable if connection else None,
        "unavailable": state.unavailable or can.unavailable,
        # Issue 8: the person's pending rule changes, the job a change just started, the dialogs' keys.
        "draft": drafts.draft_get(request.session, model_id),
        "started_job": _started_job(request, client),
        "keys": {action: new_idempotency_key() for action in ("sync", "regenerate", "delete_connection")},
    }
    template = "tasks_ui/task.html"
    if _wants_partial(request):
        template += "#rules-table" if request.htmx.target == "rules-table" and task else "#task-panel"
    return render(request, template, context)


# What a row of the rules table shows of a rule (plus its config summary).
RULE_ROW_FIELDS = frozenset({"id", "name", "type", "scope", "apply_to_prompt", "apply_to_response", "enabled"})


def _rule_rows(page: Page) -> Page:
    """The page's rules as plain rows (dicts) for the ``rule_rows`` tag, each with its config
    ``summary``: only the fields a row shows."""
    page.object_list = [
        {**rule.model_dump(include=RULE_ROW_FIELDS), "summary": rule_summary(rule)} for rule in page.object_list
    ]
    return page


@require_GET
@never_cache
@vary_on_headers("HX-Request")
@login_required
@arthur_page
def validation_key_reveal(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """Reveal a task's validation key: an explicit request, checked again by Arthur (403 names the permission)."""
    client = user_client(request)
    connection = selectors.connection_info_get(client=client, model_id=model_id)
    context = {"project_id": project_id, "model_id": model_id, "connection": connection, "revealed": True}
    template = "tasks_ui/task.html#validation-key" if _wants_partial(request) else "tasks_ui/key_reveal.html"
    return render(request, template, context)


# --- jobs ---------------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@login_required
@arthur_page
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    """A job: kind, spec in words, state, attempts, times, who triggered it, and each run's logs and errors."""
    client = user_client(request)
    job = selectors.job_get(client=client, user=request.user, job_id=job_id)
    ledger_update_outcome(job=job)
    level_form = LogLevelForm(request.GET)
    level = level_form.cleaned_data["level"] if level_form.is_valid() and level_form.cleaned_data["level"] else "debug"
    runs = soft(lambda: selectors.job_runs_get(client=client, job_id=job_id, min_level=level))
    context = {
        "job": job,
        "project": selectors.project_remembered(user=request.user, project_id=job.project_id),
        "runs": runs.value or [],
        "unavailable": runs.unavailable,
        "level_form": level_form,
        "level": level,
        "model_id": selectors.job_model_id(job),
    }
    template = "tasks_ui/job.html#job-detail" if _wants_partial(request) else "tasks_ui/job.html"
    return render(request, template, context)


@require_GET
@login_required
@arthur_page
def job_poll(request: HttpRequest, job_id: str) -> HttpResponse:
    """The job tracker's poll: at most one call to Arthur while the job runs, none once it has finished."""
    compact = request.GET.get("compact") == "1"
    if not request.htmx:
        # Without JavaScript the tracker's refresh link leads to the job page instead.
        return redirect("tasks_ui:job_detail", job_id=job_id)
    job = selectors.job_cached(user=request.user, job_id=job_id)
    if job is None:
        try:
            job = selectors.job_fetch(client=user_client(request), user=request.user, job_id=job_id)
        except ArthurUnavailable as exc:
            return tracker_unavailable_response(request, job_id, exc.message, compact=compact)
        # The ledger follows Arthur's answers; a cached answer was already recorded when it was read.
        ledger_update_outcome(job=job)
    return tracker_response(request, job, compact=compact)


@require_GET
@login_required
@arthur_page
def my_jobs(request: HttpRequest) -> HttpResponse:
    """The jobs submitted through this dashboard: the person's, or everyone's for those who may read
    every job of the organization (decided by Arthur's permission check, not a local flag)."""
    client = user_client(request)
    everyone = False
    unavailable = None
    try:
        me = selectors.user_me_get(client=client, user=request.user)
        allowed = selectors.permissions_get(
            client=client,
            user=request.user,
            resource_kind="organization",
            resource_id=me.organization_id,
            permissions=[ORGANIZATION_JOBS_PERMISSION],
        )
        everyone = allowed[ORGANIZATION_JOBS_PERMISSION]
    except ArthurUnavailable as exc:
        # The person's own jobs live in our database: show those and say why no more.
        unavailable = exc.message
    show_all = everyone and request.GET.get("who") == "all"
    entries = selectors.ledger_list(user=request.user, everyone=show_all)
    page = Paginator(entries, LEDGER_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "everyone": everyone, "show_all": show_all, "unavailable": unavailable}
    return render(request, "tasks_ui/my_jobs.html", context)
