"""Every way talking to Arthur can fail has a designed state: never a traceback."""

from __future__ import annotations

import socket
import uuid

import pytest
import requests
import responses

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}


@pytest.fixture
def dead_arthur(settings) -> str:
    """ARTHUR_HOST pointed at a local port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.ARTHUR_HOST = f"http://127.0.0.1:{port}"
    return settings.ARTHUR_HOST


# --- Arthur unavailable --------------------------------------------------------------------------


def test_home_says_arthur_is_unavailable_with_a_retry(local_arthur, sign_in, dead_arthur) -> None:
    response = sign_in("editor@example.com").get("/", {"q": "support"})
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-failure="unavailable"' in page and "Arthur is unavailable right now" in page
    assert 'href="/?q=support">Retry</a>' in page


def test_task_page_unavailable_entirely_is_a_503_with_retry(local_arthur, sign_in, support_bot, dead_arthur) -> None:
    url = f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/"
    response = sign_in("editor@example.com").get(url)
    assert response.status_code == 503
    page = response.content.decode()
    assert "Arthur is unavailable" in page and f'href="{url}">Retry</a>' in page


def test_task_page_renders_what_it_can_when_part_of_arthur_fails(
    local_arthur, sign_in, support_bot, partly_broken
) -> None:
    partly_broken.add(
        responses.GET, f"{local_arthur}/api/v1/models/{support_bot.model_id}/task", json={"detail": "boom"}, status=500
    )
    response = sign_in("editor@example.com").get(f"/projects/{support_bot.project_id}/tasks/{support_bot.model_id}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-failure="unavailable"' in page
    # The connection info could still be read.
    assert 'id="connection-info"' in page and "••••" in page


def test_project_page_renders_what_it_can_when_jobs_fail(local_arthur, sign_in, support_bot, partly_broken) -> None:
    partly_broken.add(
        responses.GET,
        f"{local_arthur}/api/v1/projects/{support_bot.project_id}/jobs",
        body=requests.ConnectionError("connection refused"),
    )
    page = sign_in("editor@example.com").get(f"/projects/{support_bot.project_id}/").content.decode()
    assert "support-bot" in page and "5 rules" in page
    jobs = page[page.index('id="project-jobs"') :]
    assert 'data-failure="unavailable"' in jobs


def test_poll_when_arthur_is_unavailable_keeps_polling_slower(local_arthur, sign_in, dead_arthur) -> None:
    job_id = str(uuid.uuid4())
    response = sign_in("editor@example.com").get(f"/jobs/{job_id}/poll", **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-job-state="unknown"' in body and 'hx-trigger="load delay:5s"' in body


def test_my_jobs_still_lists_the_ledger_when_arthur_is_unavailable(
    local_arthur, sign_in, dead_arthur, django_user_model
) -> None:
    from tasks_ui.services import ledger_record

    client = sign_in("editor@example.com")
    ledger_record(
        user=django_user_model.objects.get(username="editor@example.com"),
        job=str(uuid.uuid4()),
        kind="delete_model_task",
        project_id=str(uuid.uuid4()),
        summary="delete the old bot",
    )
    page = client.get("/jobs/mine").content.decode()
    assert "delete the old bot" in page and 'data-failure="unavailable"' in page


# --- forbidden, not found ------------------------------------------------------------------------


def test_forbidden_page_names_the_missing_permission(local_arthur, sign_in, support_bot, partly_broken) -> None:
    partly_broken.add(
        responses.GET,
        f"{local_arthur}/api/v1/projects/{support_bot.project_id}",
        json={"detail": "Missing permission: project_read"},
        status=403,
    )
    response = sign_in("editor@example.com").get(f"/projects/{support_bot.project_id}/")
    assert response.status_code == 403
    page = response.content.decode()
    assert 'data-failure="forbidden"' in page and '<code class="permission">project_read</code>' in page


def test_unknown_project_task_and_job_are_not_found_pages(local_arthur, sign_in) -> None:
    client = sign_in("editor@example.com")
    missing = str(uuid.uuid4())
    for url in (f"/projects/{missing}/", f"/projects/{missing}/tasks/{missing}/", f"/jobs/{missing}/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert 'data-failure="not_found"' in response.content.decode()


def test_htmx_failure_is_a_banner_in_messages(local_arthur, sign_in) -> None:
    missing = str(uuid.uuid4())
    response = sign_in("editor@example.com").get(f"/projects/{missing}/tasks/{missing}/", **HTMX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#messages" and response["HX-Reswap"] == "innerHTML"
    assert 'data-failure="not_found"' in response.content.decode()


# --- the session is gone ---------------------------------------------------------------------------


def test_gone_session_signs_in_again(local_arthur, sign_in) -> None:
    from accounts.models import ArthurAccount

    client = sign_in("editor@example.com")
    account = ArthurAccount.objects.get(subject="editor@example.com")
    account.clear_tokens()
    account.save()
    response = client.get("/jobs/mine")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login?") and "expired=1" in response["Location"]


def test_revoked_token_on_a_poll_redirects_the_whole_page(local_arthur, sign_in) -> None:
    from accounts.models import ArthurAccount

    client = sign_in("editor@example.com")
    ArthurAccount.objects.filter(subject="editor@example.com").update(access_token="not-a-token-arthur-knows")
    response = client.get(f"/jobs/{uuid.uuid4()}/poll", **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login?")
