"""The dashboard's read pages against Local Arthur over real HTTP, signed in as seeded people."""

from __future__ import annotations

import re

import pytest
import responses

from tests.tasks_ui.arthur import client_for, find_task

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HTTP_HX_REQUEST": "true"}


def permission_checks(calls: list[tuple[str, str]]) -> int:
    return sum(1 for call in calls if call == ("POST", "/api/v1/permissions/check"))


# --- home ---------------------------------------------------------------------------------------


def test_home_lists_projects_with_search_sort_and_totals(local_arthur, sign_in, arthur_calls) -> None:
    client = sign_in("editor@example.com")
    page = client.get("/").content.decode()
    assert "Customer Support" in page and "Claims Automation" in page
    assert "2 projects · page 1 of 1" in page
    # Sorted by name A–Z by default, Z–A on request.
    assert page.index("Claims Automation") < page.index("Customer Support")
    reverse = client.get("/", {"sort": "-name"}).content.decode()
    assert reverse.index("Customer Support") < reverse.index("Claims Automation")
    assert permission_checks(arthur_calls) == 0

    found = client.get("/", {"q": "claims"}).content.decode()
    assert "Claims Automation" in found and "Customer Support" not in found
    assert "1 project · page 1 of 1" in found
    nothing = client.get("/", {"q": "no such project"}).content.decode()
    assert "matches “no such project”" in nothing


def test_home_htmx_search_renders_only_the_projects_partial(local_arthur, sign_in) -> None:
    client = sign_in("editor@example.com")
    response = client.get("/", {"q": "support"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="projects"')
    assert "<html" not in body and "Customer Support" in body


def test_history_restore_gets_the_whole_page(local_arthur, sign_in) -> None:
    client = sign_in("editor@example.com")
    response = client.get("/", {"q": "support"}, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_home_workspace_switcher_shows_the_other_workspace(local_arthur, sign_in) -> None:
    client = sign_in("admin@example.com")
    page = client.get("/").content.decode()
    workspaces = re.findall(r'<option value="([0-9a-f-]{36})"', page)
    assert len(workspaces) == 2
    other = client.get("/", {"workspace": workspaces[1]}).content.decode()
    assert "People Operations" in other and "Customer Support" not in other


# --- project --------------------------------------------------------------------------------------


def test_project_page_lists_task_models_and_jobs(local_arthur, sign_in, support_bot, arthur_calls) -> None:
    client = sign_in("editor@example.com")
    response = client.get(f"/projects/{support_bot.project_id}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "support-bot" in page and "legacy-faq-bot" in page
    assert "5 rules" in page and "(5 enabled, 3 task-scoped)" in page
    assert 'id="project-jobs"' in page and "create task “support-bot” with 3 initial rules" in page
    assert "stale" not in page
    assert permission_checks(arthur_calls) == 1


def test_project_page_marks_stale_tasks_and_pending_jobs(
    local_arthur, sign_in, support_bot, api_token, settings
) -> None:
    settings.TASK_STALE_AFTER_SECONDS = 0
    job_id = client_for(local_arthur, api_token("editor@example.com")).sync_task(support_bot.model_id).job_id
    page = sign_in("editor@example.com").get(f"/projects/{support_bot.project_id}/").content.decode()
    row = page[page.index(f'data-model-id="{support_bot.model_id}"') :].split("</tr>")[0]
    assert ">stale</span>" in row
    assert f"/jobs/{job_id}/" in row and "job queued" in row


def test_project_jobs_filter_by_kind_and_state_as_a_partial(local_arthur, sign_in, support_bot, api_token) -> None:
    client_for(local_arthur, api_token("editor@example.com")).sync_task(support_bot.model_id)
    client = sign_in("editor@example.com")
    url = f"/projects/{support_bot.project_id}/"
    syncs = client.get(url, {"kind": "fetch_model_task"}, **HTMX).content.decode()
    assert syncs.lstrip().startswith('<section class="card" id="project-jobs"')
    assert "Sync task" in syncs and "Create task</a>" not in syncs
    queued = client.get(url, {"state": "queued"}, **HTMX).content.decode()
    assert "Sync task" in queued and "completed" not in queued.split("<tbody>")[1]
    none = client.get(url, {"kind": "delete_model_task"}, **HTMX).content.decode()
    assert "No job matches these filters" in none
    invalid = client.get(url, {"state": "exploded"}, **HTMX)
    assert invalid.status_code == 200  # an unknown filter is ignored, not sent to Arthur


# --- task -----------------------------------------------------------------------------------------


def test_task_page_reads_rules_in_three_calls(local_arthur, sign_in, support_bot, arthur_calls) -> None:
    client = sign_in("editor@example.com")
    response = client.get(f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert len(arthur_calls) <= 3, arthur_calls
    assert permission_checks(arthur_calls) == 1
    assert "2 keywords: refund hack, competitor discount" in page
    assert "1 pattern:" in page and "threshold 0.7" in page
    assert "1 entity disabled: URL; allow list: arthur.ai" in page
    assert f'data-copy="{support_bot.model_id}"' in page
    assert "Last synced" in page and 'title="20' in page  # exact time on hover
    assert ">Project</a>" in page  # not yet seen: the breadcrumb cannot name it without a call
    client.get(f"/projects/{support_bot.project_id}/")
    arthur_calls.clear()
    again = client.get(f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/").content.decode()
    assert ">Customer Support</a>" in again and len(arthur_calls) <= 3
    # Connection info: shown to editors, the key masked (the secret itself is not in the page).
    assert 'id="connection-info"' in page and "••••" in page
    assert "data-secret" not in page


def test_permission_answers_are_kept_per_person_briefly_and_dropped_after_a_403(
    local_arthur, sign_in, support_bot, arthur_calls, partly_broken, monkeypatch
) -> None:
    """Which actions a page offers is asked once per person and resource for a few seconds; any 403
    from Arthur makes the person's next page ask again (Arthur checks every action itself)."""
    from tasks_ui import selectors

    assert 0 < selectors.PERMISSIONS_CACHE_SECONDS <= 60
    task_url = f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/"
    editor = sign_in("editor@example.com")
    editor.get(task_url)
    assert permission_checks(arthur_calls) == 1
    arthur_calls.clear()
    again = editor.get(task_url).content.decode()
    assert permission_checks(arthur_calls) == 0 and len(arthur_calls) == 2
    assert 'id="connection-info"' in again and "/sync" in again  # the kept answer still offers the actions
    # Someone else is asked for themselves.
    arthur_calls.clear()
    viewer_page = sign_in("viewer@example.com").get(task_url).content.decode()
    assert permission_checks(arthur_calls) == 1 and 'id="connection-info"' not in viewer_page
    # Arthur refuses the editor a change: the kept answers go.
    partly_broken.add(
        responses.POST,
        f"{local_arthur}/api/v1/models/{support_bot.model_id}/task/sync",
        json={"detail": "Missing permission: model_task_sync"},
        status=403,
    )
    refused = editor.post(f"{task_url}sync", {"idempotency_key": "permission-cache-test-0001"})
    assert "model_task_sync" in refused.content.decode()
    arthur_calls.clear()
    editor.get(task_url)
    assert permission_checks(arthur_calls) == 1
    # And the window ends by itself.
    arthur_calls.clear()
    monkeypatch.setattr(selectors, "PERMISSIONS_CACHE_SECONDS", 0)
    editor.get(task_url)
    assert permission_checks(arthur_calls) == 1


def test_task_page_warns_when_stale_and_when_archived(local_arthur, sign_in, api_token, settings) -> None:
    settings.TASK_STALE_AFTER_SECONDS = 0
    legacy = find_task(client_for(local_arthur, api_token("editor@example.com")), "Customer Support", "legacy-faq-bot")
    page = sign_in("editor@example.com").get(f"/projects/{legacy.project_id}/tasks/{legacy.model_id}/").content.decode()
    assert 'data-warning="stale"' in page
    assert 'data-warning="archived"' in page and "This task is archived" in page


def test_viewer_gets_no_connection_info_and_no_key(local_arthur, sign_in, support_bot, arthur_calls) -> None:
    client = sign_in("viewer@example.com")
    page = client.get(f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/").content.decode()
    assert "Blocked Keywords Rule" in page
    assert 'id="connection-info"' not in page
    assert not any("connection_info" in path for _, path in arthur_calls)
    # Asking for the key anyway: Arthur refuses, and the page names the permission.
    refused = client.get(f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/key")
    assert refused.status_code == 403
    assert "model_task_get_connection_info" in refused.content.decode()


def test_reveal_key_is_an_explicit_request(local_arthur, sign_in, support_bot) -> None:
    client = sign_in("editor@example.com")
    url = f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/key"
    fragment = client.get(url, **HTMX)
    body = fragment.content.decode()
    assert body.startswith('<span id="validation-key"') and "data-secret" in body
    secret = re.search(r"<code data-secret>([^<]+)</code>", body).group(1)
    assert len(secret) > 8 and "•" not in secret
    assert "no-store" in fragment["Cache-Control"]
    assert secret in client.get(url).content.decode()  # without JS: a page of its own


def test_task_without_connection_info_says_so(local_arthur, sign_in, support_bot, api_token) -> None:
    client_for(local_arthur, api_token("admin@example.com")).delete_connection_info(support_bot.model_id)
    page = sign_in("editor@example.com").get(f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/")
    assert "No connection info yet." in page.content.decode()


def test_task_panel_reload_is_the_partial(local_arthur, sign_in, support_bot) -> None:
    client = sign_in("editor@example.com")
    body = client.get(f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/", **HTMX).content.decode()
    assert body.lstrip().startswith('<div id="task-panel"')
    assert 'hx-trigger="job-finished from:body"' in body and "<html" not in body


def test_task_page_shows_metrics_and_evals_when_present(local_arthur, sign_in, support_bot, partly_broken) -> None:
    state = {
        "scope_model_id": support_bot.model_id,
        "last_synced_at": "2026-12-03T12:00:00Z",
        "task": {
            "id": "t-1",
            "name": "agentic-bot",
            "created_at": 0,
            "updated_at": 0,
            "is_agentic": True,
            "rules": [],
            "metrics": [{"id": "m-1", "name": "Answer relevance", "type": "QueryRelevance"}],
        },
        "evals": [{"name": "Tone check", "eval_kind": "llm_as_a_judge", "model_name": "gpt-x", "version": 3}],
        "continuous_evals": [{"name": "Nightly tone", "enabled": False}],
        "transforms": [{"name": "SQL extraction"}],
    }
    partly_broken.add(responses.GET, f"{local_arthur}/api/v1/models/{support_bot.model_id}/task", json=state)
    page = sign_in("editor@example.com").get(f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/")
    evals = page.content.decode().split('id="evals"')[1]
    assert "Answer relevance" in evals and "QueryRelevance" in evals
    assert "Tone check" in evals and "gpt-x · v3" in evals
    assert "Nightly tone" in evals and "disabled" in evals
    assert "SQL extraction" in evals
    assert "This task has no rules." in page.content.decode()


# --- my jobs ------------------------------------------------------------------------------------


def test_my_jobs_shows_own_jobs_and_admins_see_everyones(local_arthur, sign_in, support_bot, arthur_calls) -> None:
    from django.contrib.auth import get_user_model

    from tasks_ui.services import ledger_record

    editor_client = sign_in("editor@example.com")
    admin_client = sign_in("admin@example.com")
    users = get_user_model().objects
    ids = {"editor": "11111111-1111-4111-8111-111111111111", "admin": "22222222-2222-4222-8222-222222222222"}
    for who, job_id in ids.items():
        ledger_record(
            user=users.get(username=f"{who}@example.com"),
            job=job_id,
            kind="fetch_model_task",
            project_id=support_bot.project_id,
            model_id=support_bot.model_id,
            summary=f"sync by {who}",
        )
    arthur_calls.clear()
    mine = editor_client.get("/jobs/mine").content.decode()
    assert "sync by editor" in mine and "sync by admin" not in mine
    assert "Everyone&#x27;s" not in mine and "Everyone's" not in mine
    assert permission_checks(arthur_calls) == 1
    # The editor cannot widen the view by asking.
    assert "sync by admin" not in editor_client.get("/jobs/mine", {"who": "all"}).content.decode()
    everyone = admin_client.get("/jobs/mine", {"who": "all"}).content.decode()
    assert "sync by editor" in everyone and "sync by admin" in everyone


# --- sign-in ----------------------------------------------------------------------------------------


def test_pages_need_a_sign_in(local_arthur, client) -> None:
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login")
    htmx = client.get("/jobs/mine", **HTMX)
    assert htmx.status_code == 200 and htmx["HX-Redirect"].startswith("/accounts/login")
