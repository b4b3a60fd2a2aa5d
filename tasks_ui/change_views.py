"""Dashboard pages that change tasks: each a real POST form (PRG without JavaScript, HTMX-enhanced).

Every change that Arthur runs as a job goes through a ``tasks_ui.services`` function that starts it
once per form key; the answer is the job tracker (HTMX) or a redirect to the page that shows it. A
refusal keeps the form and everything typed, with Arthur's message next to the field it names.
Permissions are Arthur's: a forbidden change is answered by ``arthur_page`` naming the permission,
except on forms with something typed (create, link, review, delete, connection info), which are shown
again with the permission named, as when Arthur is unavailable.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.tokens import user_client
from arthur_api.client import ArthurClient
from arthur_api.engine import EngineClient, EngineKeyRefused, ValidationResult
from arthur_api.errors import ArthurForbidden, ArthurNotFound, ArthurRejected, ArthurUnavailable
from arthur_api.records import Project
from tasks_ui import drafts, selectors, services
from tasks_ui.failures import arthur_page, forget_permissions, missing_permission, soft
from tasks_ui.forms import (
    RULE_TYPE_HELP,
    ChangeForm,
    ConnectionInfoForm,
    CreateTaskForm,
    DeleteTaskForm,
    DraftToggleForm,
    LinkTaskForm,
    RuleForm,
    TryItForm,
    new_idempotency_key,
    with_rule_added,
    with_rule_removed,
)
from tasks_ui.tracker import tracker_response

GET_POST = require_http_methods(["GET", "POST"])


def _task_url(project_id: str, model_id: str, **query: str) -> str:
    url = reverse("tasks_ui:task_detail", args=[project_id, model_id])
    return f"{url}?{urlencode(query)}" if query else url


def _project_url(project_id: str, **query: str) -> str:
    url = reverse("tasks_ui:project_detail", args=[project_id])
    return f"{url}?{urlencode(query)}" if query else url


def _started(
    request: HttpRequest, client: ArthurClient, job_id: str, *, then: str, key_input: str = ""
) -> HttpResponse:
    """Show a just-started (or already started) job: its tracker for HTMX, else a redirect (PRG).

    ``key_input`` names the hidden key input of an HTMX form that stays on the page: it is given a
    fresh one-time key out of band, so the next submit of that form is a new change.
    """
    if not request.htmx:
        return redirect(f"{then}{'&' if '?' in then else '?'}job={job_id}")
    job = selectors.job_get(client=client, user=request.user, job_id=job_id)
    # This read is cached for the person and answers the tracker's next polls: record it (the job may
    # have ended already, e.g. on a double submit), or the ledger would never learn the outcome.
    services.ledger_update_outcome(job=job)
    response = tracker_response(request, job)
    if key_input:
        response.write(
            render_to_string("htmx/idempotency_key.html", {"input_id": key_input, "key": new_idempotency_key()})
        )
    return response


def _project(request: HttpRequest, project_id: str) -> Project | None:
    """The project for the breadcrumb: as last seen, else read once (None when Arthur cannot say)."""
    remembered = selectors.project_remembered(user=request.user, project_id=project_id)
    if remembered is not None:
        return remembered
    client = user_client(request)
    return soft(lambda: selectors.project_get(client=client, user=request.user, project_id=project_id)).value


def _not_sent(request: HttpRequest, exc: ArthurUnavailable | ArthurForbidden) -> str:
    """The form error for a change Arthur did not take: unavailable, or not allowed (naming the permission).

    Either way the form is shown again with everything typed, rather than a failure page that loses it.
    """
    if isinstance(exc, ArthurForbidden):
        forget_permissions(request)
        permission = missing_permission(exc) or "required"
        return f"Not allowed: this change needs the {permission} permission. Your input is kept."
    return f"Arthur is unavailable ({exc.message}). Your input is kept: send the form again in a moment."


def _task_name(client: ArthurClient, model_id: str) -> str:
    state = selectors.task_state_get(client=client, model_id=model_id)
    return state.task.name if state.task else client.get_model(model_id).name


# --- rule draft -----------------------------------------------------------------------------------


def _rules_url(project_id: str, model_id: str, rules_page: str) -> str:
    """The task page at the rules page a change was made from (a number, else the first page)."""
    query = {"rules_page": rules_page} if rules_page.isdigit() and rules_page != "1" else {}
    return _task_url(project_id, model_id, **query) + "#rules"


@require_POST
@login_required
@arthur_page
def rule_draft_toggle(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """Mark a rule to be enabled, disabled or archived in the draft (or undo that); nothing is sent yet.

    The task page has one form for all rules: the pressed button sends ``toggle=<change>:<rule id>``.
    A malformed value, a rule not in this task or a change the engine would refuse (archiving a default
    rule) leaves the draft unchanged and says why. The answer is a redirect to the same rules page; an
    HTMX request follows it and gets only the rules region (its ``HX-Target`` is kept).
    """
    back = _rules_url(project_id, model_id, request.POST.get("rules_page", ""))
    change, _, rule_id = request.POST.get("toggle", "").partition(":")
    form = DraftToggleForm({"toggle": change})
    if not form.is_valid() or not _is_uuid(rule_id):
        messages.error(request, "Unknown rule change.")
        return redirect(back)
    toggle = form.cleaned_data["toggle"]
    rule_id = rule_id.lower()
    draft = drafts.draft_get(request.session, model_id)
    if toggle == "undo":
        draft.set_toggle(rule_id, None)
    else:
        state = selectors.task_state_get(client=user_client(request), model_id=model_id)
        rule = next((r for r in (state.task.rules if state.task else []) if r.id == rule_id), None)
        reason = "This rule is not associated with this task." if rule is None else drafts.toggle_allowed(rule, toggle)
        if reason:
            messages.error(request, reason)
            return redirect(back)
        draft.set_toggle(rule_id, toggle)
    drafts.draft_save(request.session, model_id, draft)
    return redirect(back)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@GET_POST
@login_required
@arthur_page
def rule_add(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """A new rule, checked with the engine's rules and messages, added to the draft (no job yet)."""
    form = RuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        draft = drafts.draft_get(request.session, model_id)
        draft.add.append(form.rule_request())
        drafts.draft_save(request.session, model_id, draft)
        messages.success(request, f"Rule “{form.cleaned_data['name']}” added to the draft: review and submit it.")
        return redirect(_task_url(project_id, model_id) + "#rules")
    context = {
        "project_id": project_id,
        "model_id": model_id,
        "project": _project(request, project_id),
        "form": form,
        "rule_type_help": RULE_TYPE_HELP,
    }
    return render(request, "tasks_ui/rule_form.html", context, status=400 if form.is_bound else 200)


@require_POST
@login_required
def rule_draft_discard(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """Forget every pending rule change of this task."""
    drafts.draft_discard(request.session, model_id)
    messages.info(request, "The draft was discarded.")
    return redirect(_task_url(project_id, model_id) + "#rules")


@require_POST
@login_required
def rule_draft_remove_new(request: HttpRequest, project_id: str, model_id: str, index: int) -> HttpResponse:
    """Take one not-yet-submitted new rule out of the draft."""
    draft = drafts.draft_get(request.session, model_id)
    if 0 <= index < len(draft.add):
        draft.add.pop(index)
        drafts.draft_save(request.session, model_id, draft)
    return redirect(_task_url(project_id, model_id) + "#rules")


@GET_POST
@login_required
@arthur_page
def rule_review(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """The draft in plain words, then one ``patch_task`` job for all of it."""
    client = user_client(request)
    draft = drafts.draft_get(request.session, model_id)
    form = ChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key = form.cleaned_data["idempotency_key"]
        earlier = selectors.ledger_get_by_key(user=request.user, idempotency_key=key)
        if draft.is_empty and earlier is None:
            messages.info(request, "There is nothing to submit: the draft is empty.")
            return redirect(_task_url(project_id, model_id))
        state = soft(lambda: selectors.task_state_get(client=client, model_id=model_id)).value
        try:
            job_id, started = services.task_patch(
                client=client,
                user=request.user,
                idempotency_key=key,
                project_id=project_id,
                model_id=model_id,
                body=draft.patch_body(),
                summary="; ".join(draft.plain_words(state.task if state else None)),
            )
        except ArthurRejected as exc:
            form.add_api_errors(exc)
        except (ArthurUnavailable, ArthurForbidden) as exc:
            form.add_error(None, _not_sent(request, exc))
        else:
            if started:
                drafts.draft_discard(request.session, model_id)
            return _started(request, client, job_id, then=_task_url(project_id, model_id))
    state = selectors.task_state_get(client=client, model_id=model_id)
    context = {
        "project_id": project_id,
        "model_id": model_id,
        "project": _project(request, project_id),
        "task": state.task,
        "draft": draft,
        "changes": draft.plain_words(state.task),
        "form": form,
    }
    return render(request, "tasks_ui/review.html", context, status=400 if form.errors else 200)


# --- whole-task jobs: sync, regenerate key, delete ---------------------------------------------------


def _confirm_job(request: HttpRequest, project_id: str, model_id: str, *, action: str) -> HttpResponse:
    client = user_client(request)
    form = ChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        submit = services.task_sync if action == "sync" else services.task_regenerate_key
        job_id, _ = submit(
            client=client,
            user=request.user,
            idempotency_key=form.cleaned_data["idempotency_key"],
            project_id=project_id,
            model_id=model_id,
        )
        return _started(request, client, job_id, then=_task_url(project_id, model_id), key_input=f"key-{action}")
    context = {
        "project_id": project_id,
        "model_id": model_id,
        "project": _project(request, project_id),
        "action": action,
        "form": form,
    }
    return render(request, "tasks_ui/confirm.html", context, status=400 if form.is_bound else 200)


@GET_POST
@login_required
@arthur_page
def task_sync(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """Confirm, then one ``fetch_model_task`` job."""
    return _confirm_job(request, project_id, model_id, action="sync")


@GET_POST
@login_required
@arthur_page
def task_regenerate_key(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """Confirm, then one ``regenerate_task_validation_key`` job (the new key shows once it completes)."""
    return _confirm_job(request, project_id, model_id, action="regenerate")


@GET_POST
@login_required
@arthur_page
def task_delete(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """Type the task's name, then one ``delete_model_task`` job (it removes the platform model too)."""
    client = user_client(request)
    name = _task_name(client, model_id)
    form = DeleteTaskForm(request.POST or None, task_name=name)
    if request.method == "POST" and form.is_valid():
        try:
            job_id, _ = services.task_delete(
                client=client,
                user=request.user,
                idempotency_key=form.cleaned_data["idempotency_key"],
                project_id=project_id,
                model_id=model_id,
                task_name=name,
            )
        except (ArthurUnavailable, ArthurForbidden) as exc:
            form.add_error(None, _not_sent(request, exc))
        else:
            return _started(request, client, job_id, then=_project_url(project_id))
    context = {
        "project_id": project_id,
        "model_id": model_id,
        "project": _project(request, project_id),
        "task_name": name,
        "form": form,
    }
    return render(request, "tasks_ui/task_delete.html", context, status=400 if form.is_bound else 200)


# --- project jobs: create and link -----------------------------------------------------------------


def _project_form_page(
    request: HttpRequest, project_id: str, *, form_class: type[CreateTaskForm] | type[LinkTaskForm], template: str
) -> HttpResponse:
    client = user_client(request)
    project = selectors.project_get(client=client, user=request.user, project_id=project_id)
    connectors = selectors.connector_list(client=client, project_id=project_id)
    action = request.POST.get("rule_action", "") if form_class is CreateTaskForm else ""
    if action:
        # "Add a rule" / "Remove": the same form with one rule editor more or less, nothing sent,
        # and no complaints yet about what is still being typed.
        data = with_rule_added(request.POST) if action == "add" else with_rule_removed(request.POST, _index(action))
        form = form_class(data, connectors=connectors)
    else:
        form = form_class(request.POST or None, connectors=connectors)
    if request.method == "POST" and not action and form.is_valid():
        # The new model is found by its onboarding identifier: make one when the person gave none.
        onboarding = form.cleaned_data.get("onboarding_identifier") or f"dashboard-{uuid.uuid4().hex[:12]}"
        key = form.cleaned_data["idempotency_key"]
        try:
            if isinstance(form, CreateTaskForm):
                job_id, _ = services.task_create(
                    client=client,
                    user=request.user,
                    idempotency_key=key,
                    project_id=project_id,
                    body=form.create_body(onboarding),
                )
            else:
                body = {
                    "task_id": str(form.cleaned_data["task_id"]),
                    "connector_id": form.cleaned_data["connector_id"],
                    "onboarding_identifier": onboarding,
                }
                job_id, _ = services.task_link(
                    client=client, user=request.user, idempotency_key=key, project_id=project_id, body=body
                )
        except ArthurRejected as exc:
            form.add_api_errors(exc, {"name": "name", "connector_id": "connector_id", "task_id": "task_id"})
        except (ArthurUnavailable, ArthurForbidden) as exc:
            form.add_error(None, _not_sent(request, exc))
        else:
            return _started(request, client, job_id, then=_project_url(project_id, onboarding=onboarding))
    context = {
        "project_id": project_id,
        "project": project,
        "form": form,
        "connectors": connectors,
        "rule_type_help": RULE_TYPE_HELP,
        "quiet": bool(action),
    }
    return render(request, template, context, status=400 if form.is_bound and not action else 200)


def _index(action: str) -> int:
    """The rule editor a "remove-<i>" button names (-1 when it names none)."""
    _, _, number = action.partition("remove-")
    return int(number) if number.isdigit() else -1


@GET_POST
@login_required
@arthur_page
def task_create(request: HttpRequest, project_id: str) -> HttpResponse:
    """Name, engine connector, an optional first rule and onboarding identifier → one ``create_model_task`` job."""
    return _project_form_page(request, project_id, form_class=CreateTaskForm, template="tasks_ui/task_create.html")


@GET_POST
@login_required
@arthur_page
def task_link(request: HttpRequest, project_id: str) -> HttpResponse:
    """An existing engine task's id and a connector → one ``create_model_link_task`` job."""
    return _project_form_page(request, project_id, form_class=LinkTaskForm, template="tasks_ui/task_link.html")


@require_GET
@vary_on_headers("HX-Request")
@login_required
@arthur_page
def project_task_models(request: HttpRequest, project_id: str) -> HttpResponse:
    """The project's task-models region (re-read after a job finished), and the model a create or link
    job registered under ``?onboarding=`` once it exists."""
    from tasks_ui.views import task_models_region

    client = user_client(request)
    if not request.htmx:
        return redirect(_project_url(project_id, **request.GET.dict()))
    models, pending, rows = task_models_region(request, client, project_id)
    context = {
        "project_id": project_id,
        "project": selectors.project_get(client=client, user=request.user, project_id=project_id),
        "models": models.value,
        "rows": rows,
        **new_model_context(request, client, project_id),
    }
    return render(request, "tasks_ui/project.html#task-models", context)


def new_model_context(request: HttpRequest, client: ArthurClient, project_id: str) -> dict[str, object]:
    """``onboarding`` (from the query) and ``new_model``, the model registered under it (None until then)."""
    onboarding = request.GET.get("onboarding", "")[:200]
    if not onboarding:
        return {"onboarding": "", "new_model": None}
    found = soft(
        lambda: selectors.task_model_by_onboarding(
            client=client, project_id=project_id, onboarding_identifier=onboarding
        )
    )
    return {"onboarding": onboarding, "new_model": found.value}


# --- connection info (no job: Arthur stores it at once) ------------------------------------------------


@GET_POST
@login_required
@arthur_page
def connection_info_edit(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """Edit the api_host and validation key fields (PUT); every field is required, the host http(s).

    The typed validation key is never put into the page: after a failed save it is kept in the
    person's session (``drafts.kept_key_save``) and an empty key field then stands for it, so nothing
    typed is lost. Saving or Cancel forgets it; so does Arthur refusing that key."""
    client = user_client(request)
    kept_key = drafts.kept_key_get(request.session, model_id)
    if request.method == "POST":
        if "cancel" in request.POST:
            drafts.kept_key_forget(request.session, model_id)
            return redirect(_task_url(project_id, model_id) + "#connection-info")
        form = ConnectionInfoForm(request.POST, kept_key=kept_key)
        if form.is_valid():
            try:
                services.connection_info_put(client=client, model_id=model_id, body=form.put_body())
            except ArthurRejected as exc:
                form.add_api_errors(exc, ConnectionInfoForm.API_FIELDS)
            except (ArthurUnavailable, ArthurForbidden) as exc:
                form.add_error(None, _not_sent(request, exc))
            else:
                drafts.kept_key_forget(request.session, model_id)
                messages.success(request, "Connection info saved.")
                return redirect(_task_url(project_id, model_id) + "#connection-info")
        _keep_typed_key(request, model_id, form)
    else:
        current = selectors.connection_info_get(client=client, model_id=model_id)
        initial = (
            {"api_host": current.api_host, "key_id": current.validation_key.id, "key_name": current.validation_key.name}
            if current
            else {}
        )
        form = ConnectionInfoForm(initial=initial, kept_key=kept_key)
    context = {
        "project_id": project_id,
        "model_id": model_id,
        "project": _project(request, project_id),
        "form": form,
    }
    return render(request, "tasks_ui/connection_form.html", context, status=400 if form.is_bound else 200)


def _keep_typed_key(request: HttpRequest, model_id: str, form: ConnectionInfoForm) -> None:
    """After a failed save: keep the key the form would have saved (typed, or kept before) for the
    next submit, or forget any kept key when the key itself was refused (too long, or by Arthur)."""
    if form.has_error("key"):
        drafts.kept_key_forget(request.session, model_id)
        form.forget_kept_key()
    elif key := form.cleaned_data.get("key"):
        drafts.kept_key_save(request.session, model_id, key)
        form.mark_key_kept(key)


@GET_POST
@login_required
@arthur_page
def connection_info_delete(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """Confirm, then forget the task's connection info."""
    form = ChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        gone = services.connection_info_delete(client=user_client(request), model_id=model_id)
        messages.success(request, "Connection info deleted." if gone else "There was no connection info to delete.")
        return redirect(_task_url(project_id, model_id) + "#connection-info")
    context = {
        "project_id": project_id,
        "model_id": model_id,
        "project": _project(request, project_id),
        "action": "delete_connection",
        "form": form,
    }
    return render(request, "tasks_ui/confirm.html", context, status=400 if form.is_bound else 200)


# --- try it ----------------------------------------------------------------------------------------


@GET_POST
@vary_on_headers("HX-Request")
@login_required
@arthur_page
def try_it(request: HttpRequest, project_id: str, model_id: str) -> HttpResponse:
    """Send a prompt (and optionally a response) to the task's validate endpoints with its validation
    key, and show each rule's result. Reading the key needs ``model_task_get_connection_info``."""
    client = user_client(request)
    form = TryItForm(request.POST or None)
    results: dict[str, ValidationResult] = {}
    if request.method == "POST" and form.is_valid():
        results = _validate(client, model_id, form)
    context = {
        "project_id": project_id,
        "model_id": model_id,
        "project": _project(request, project_id),
        "form": form,
        "results": results,
    }
    partial = request.method == "POST" and request.htmx
    return render(request, "tasks_ui/try_it.html#try-it" if partial else "tasks_ui/try_it.html", context)


def _validate(client: ArthurClient, model_id: str, form: TryItForm) -> dict[str, ValidationResult]:
    """Each side's result; a failure becomes a form error (the person's text stays in the form)."""
    connection = selectors.connection_info_get(client=client, model_id=model_id)
    state = selectors.task_state_get(client=client, model_id=model_id)
    if connection is None or state.task is None:
        form.add_error(None, "This task has no connection info or has not been synced yet: there is nothing to call.")
        return {}
    if urlsplit(connection.api_host).scheme.lower() not in {"http", "https"}:
        # Arthur stores any api_host it is given; the dashboard only ever calls an http(s) engine.
        form.add_error(None, "The task's API host is not an http(s) URL, so the engine cannot be called: fix it.")
        return {}
    engine = EngineClient(connection.api_host, connection.validation_key.key.get_secret_value())
    results: dict[str, ValidationResult] = {}
    try:
        results["prompt"] = engine.validate_prompt(state.task.id, form.cleaned_data["prompt"])
        if form.cleaned_data.get("response"):
            results["response"] = engine.validate_response(state.task.id, form.cleaned_data["response"])
    except EngineKeyRefused:
        form.add_error(None, "The engine refused the task's validation key: regenerate it or fix the connection info.")
    except ArthurForbidden as exc:
        # The engine's 403 is about the validation key's reach, not the person's platform permissions:
        # it belongs next to the prompt, not on arthur_page's "missing permission" page.
        form.add_error(None, f"The engine did not allow this call: {exc.message}")
    except ArthurNotFound:
        form.add_error(None, "The engine does not know this task.")
    except ArthurUnavailable as exc:
        form.add_error(None, f"The engine is unavailable: {exc.message}")
    except ArthurRejected as exc:
        form.add_error(None, exc.message)
    finally:
        engine.close()
    return results
