"""The job tracker's poll and the job page, against Local Arthur over HTTP."""

from __future__ import annotations

import json

import pytest
from django_htmx.http import HTMX_STOP_POLLING

from tasks_ui.tracker import poll_delay
from tests.tasks_ui.arthur import FakeDataPlane, client_for, find_task

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/jobs/mine"}


@pytest.fixture
def running_job(local_arthur, api_token):
    """A sync job of support-bot, claimed by (a stand-in for) the data plane: state running."""
    editor = client_for(local_arthur, api_token("editor@example.com"))
    task = find_task(editor, "Customer Support", "support-bot")
    job_id = editor.sync_task(task.model_id).job_id
    data_plane = FakeDataPlane(local_arthur, api_token("data-plane-demo"))
    run = data_plane.claim()
    assert run.job_id == job_id
    return data_plane, run, task


@pytest.fixture
def no_fresh_window(monkeypatch):
    """Every poll of a running job reads Arthur (the freshness window has its own test below)."""
    monkeypatch.setattr("tasks_ui.selectors.RUNNING_JOB_FRESH_SECONDS", 0)


def test_poll_keeps_polling_while_running_then_stops_with_the_event(
    running_job, sign_in, arthur_calls, django_user_model, no_fresh_window
) -> None:
    data_plane, run, task = running_job
    client = sign_in("editor@example.com")
    from tasks_ui.models import LedgerEntry
    from tasks_ui.services import ledger_record

    ledger_record(
        user=django_user_model.objects.get(username="editor@example.com"),
        job=run.job_id,
        kind="fetch_model_task",
        project_id=task.project_id,
        model_id=task.model_id,
    )
    url = f"/jobs/{run.job_id}/poll"

    arthur_calls.clear()
    polling = client.get(url, **HTMX)
    assert polling.status_code == 200
    body = polling.content.decode()
    assert 'data-job-state="running"' in body
    assert 'hx-trigger="load delay:1s"' in body and 'hx-swap="outerHTML"' in body
    assert "HX-Trigger" not in polling
    assert len(arthur_calls) == 1
    assert len(polling.content) <= 2048
    assert LedgerEntry.objects.get(job_id=run.job_id).outcome == "running"

    data_plane.finish(run)
    arthur_calls.clear()
    finished = client.get(url, **HTMX)
    assert finished.status_code == HTMX_STOP_POLLING
    body = finished.content.decode()
    # The terminal fragment polls no more (htmx 4 ignores 286 but swaps this in).
    assert 'data-job-state="completed"' in body and "hx-trigger" not in body
    assert json.loads(finished["HX-Trigger"]) == {"job-finished": {"job_id": run.job_id, "state": "completed"}}
    assert len(arthur_calls) == 1
    assert len(finished.content) <= 2048
    entry = LedgerEntry.objects.get(job_id=run.job_id)
    assert entry.outcome == "completed" and entry.finished_at is not None

    # A finished job cannot change: polling it again costs Arthur nothing.
    arthur_calls.clear()
    again = client.get(url, **HTMX)
    assert again.status_code == HTMX_STOP_POLLING
    assert arthur_calls == []


def test_a_running_job_is_read_again_once_its_last_read_is_older_than_the_window(
    running_job, sign_in, arthur_calls, monkeypatch
) -> None:
    """One person's polls within the window share one read; after it, the next poll reads Arthur.
    The window is shorter than the tracker's shortest poll interval, so no poll is a whole interval stale."""
    from tasks_ui import selectors

    assert 0 < selectors.RUNNING_JOB_FRESH_SECONDS < poll_delay(0)
    data_plane, run, _ = running_job
    url = f"/jobs/{run.job_id}/poll"
    editor = sign_in("editor@example.com")
    monkeypatch.setattr(selectors, "RUNNING_JOB_FRESH_SECONDS", 60)  # a window long enough to observe
    arthur_calls.clear()
    assert 'data-job-state="running"' in editor.get(url, **HTMX).content.decode()
    assert len(arthur_calls) == 1
    data_plane.finish(run)
    arthur_calls.clear()
    again = editor.get(url, **HTMX)
    assert 'data-job-state="running"' in again.content.decode() and again.status_code == 200
    assert arthur_calls == []
    # Another person never gets this person's read.
    viewer = sign_in("viewer@example.com")
    viewer.get(url, **HTMX)
    assert arthur_calls == [("GET", f"/api/v1/jobs/{run.job_id}")]
    monkeypatch.setattr(selectors, "RUNNING_JOB_FRESH_SECONDS", 0)  # the window has passed
    finished = editor.get(url, **HTMX)
    assert finished.status_code == HTMX_STOP_POLLING and 'data-job-state="completed"' in finished.content.decode()
    assert len(arthur_calls) == 2


def test_the_job_page_reads_a_running_job_now_even_inside_the_pollers_window(
    running_job, sign_in, arthur_calls, monkeypatch
) -> None:
    """A page a person asked for (the no-JavaScript refresh link leads to it) never shows the pollers'
    shared read of a running job: it reads Arthur, so a job that just ended shows as ended."""
    from tasks_ui import selectors

    data_plane, run, _ = running_job
    editor = sign_in("editor@example.com")
    monkeypatch.setattr(selectors, "RUNNING_JOB_FRESH_SECONDS", 60)
    assert 'data-job-state="running"' in editor.get(f"/jobs/{run.job_id}/poll", **HTMX).content.decode()
    data_plane.finish(run)
    arthur_calls.clear()
    page = editor.get(f"/jobs/{run.job_id}/").content.decode()
    assert 'data-job-state="completed"' in page
    assert ("GET", f"/api/v1/jobs/{run.job_id}") in arthur_calls


def test_finished_job_cache_is_per_person(running_job, sign_in, arthur_calls) -> None:
    data_plane, run, _ = running_job
    data_plane.finish(run)
    editor = sign_in("editor@example.com")
    assert editor.get(f"/jobs/{run.job_id}/poll", **HTMX).status_code == HTMX_STOP_POLLING
    arthur_calls.clear()
    # Someone else asking reads Arthur with their own token (which may well be refused).
    viewer = sign_in("viewer@example.com")
    viewer.get(f"/jobs/{run.job_id}/poll", **HTMX)
    assert arthur_calls == [("GET", f"/api/v1/jobs/{run.job_id}")]


def test_poll_without_htmx_goes_to_the_job_page(running_job, sign_in) -> None:
    _, run, _ = running_job
    response = sign_in("editor@example.com").get(f"/jobs/{run.job_id}/poll")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{run.job_id}/"


def test_poll_delay_eases_from_one_to_five_seconds() -> None:
    assert [poll_delay(s) for s in (0, 9, 10, 29, 30, 59, 60, 119, 120, 3600)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_job_page_shows_runs_logs_by_level_and_errors(running_job, sign_in) -> None:
    data_plane, run, task = running_job
    data_plane.client.post_job_errors(run.job_id, run.id, ["engine said no"])
    data_plane.finish(run, "failed", logs=(("info", "starting the sync"), ("error", "the engine refused")))
    client = sign_in("editor@example.com")
    page = client.get(f"/jobs/{run.job_id}/").content.decode()
    assert "Sync task" in page and "sync the cached task from the engine" in page
    assert 'data-state="failed"' in page
    assert "Attempts</dt><dd>1 of" in page
    assert "Eddie" in page  # triggered by
    assert "starting the sync" in page and "the engine refused" in page and "engine said no" in page
    assert f"/projects/{task.project_id}/tasks/{task.model_id}/" in page
    errors_only = client.get(f"/jobs/{run.job_id}/", {"level": "error"}).content.decode()
    assert "the engine refused" in errors_only and "starting the sync" not in errors_only
    # The details region re-reads itself when the tracker announces the end.
    partial = client.get(f"/jobs/{run.job_id}/", **HTMX).content.decode()
    assert partial.lstrip().startswith('<div id="job-detail"') and "job-finished from:body" in partial


def test_poll_follows_a_job_the_real_agent_runs(local_arthur, api_token, sign_in, dataplane_agent) -> None:
    import time

    from dataplane.seed import seed_engine

    seed_engine()  # the engine's side of the demo tasks, which the agent reads when it syncs
    editor = client_for(local_arthur, api_token("editor@example.com"))
    task = find_task(editor, "Customer Support", "support-bot")
    job_id = editor.sync_task(task.model_id).job_id
    client = sign_in("editor@example.com")
    deadline = time.monotonic() + 20
    while True:
        response = client.get(f"/jobs/{job_id}/poll", **HTMX)
        if response.status_code == HTMX_STOP_POLLING or time.monotonic() > deadline:
            break
        assert response.status_code == 200 and "hx-trigger" in response.content.decode()
        time.sleep(0.1)
    assert response.status_code == HTMX_STOP_POLLING
    assert 'data-job-state="completed"' in response.content.decode()
    assert "job-finished" in response["HX-Trigger"]
