"""The job tracker in chromium: a running job's page follows it to completed without a reload, then
stops polling; the task panel and My jobs follow too."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.dashboard import sign_in
from tests.tasks_ui.arthur import FakeDataPlane, client_for, find_task

pytestmark = pytest.mark.django_db(transaction=True)


def _polls(page: Page) -> list[str]:
    seen: list[str] = []

    def record(request: Request) -> None:
        if request.url.split("?")[0].endswith("/poll"):
            seen.append(request.url)

    page.on("request", record)
    return seen


def test_running_job_reaches_completed_without_reload(page: Page, local_arthur, api_token, artifacts_dir) -> None:
    editor = client_for(local_arthur, api_token("editor@example.com"))
    task = find_task(editor, "Customer Support", "support-bot")
    job_id = editor.sync_task(task.model_id).job_id
    data_plane = FakeDataPlane(local_arthur, api_token("data-plane-demo"))
    run = data_plane.claim()
    assert run.job_id == job_id

    sign_in(page, local_arthur, "editor@example.com", next_path=f"/jobs/{job_id}/")
    from django.contrib.auth import get_user_model

    from tasks_ui.services import ledger_record

    ledger_record(
        user=get_user_model().objects.get(email="editor@example.com"),
        job=job_id,
        kind="fetch_model_task",
        project_id=task.project_id,
        model_id=task.model_id,
        summary="sync support-bot",
    )
    polls = _polls(page)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    tracker = page.locator(f"#tracker-{job_id}")
    expect(tracker).to_have_attribute("data-job-state", "running")
    expect(page.locator("#job-detail")).to_contain_text("not yet")  # not finished
    # The tracker polls while the job runs (about once a second at first).
    deadline = time.monotonic() + 10
    while len(polls) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert len(polls) >= 2, polls
    expect(tracker).to_have_attribute("data-job-state", "running")
    page.screenshot(path=str(artifacts_dir / "ui-job-running.png"), full_page=True)

    data_plane.finish(run, logs=(("info", "Fetched the task from the engine"), ("warning", "nothing changed")))
    expect(tracker).to_have_attribute("data-job-state", "completed", timeout=10_000)
    # The job-finished event made the details re-read themselves: the logs posted at the end appear.
    expect(page.locator("#job-detail")).to_contain_text("Fetched the task from the engine")
    expect(page.locator("#job-detail [data-state=completed]").first).to_be_visible()
    assert navigations == [], f"the page reloaded: {navigations}"
    page.screenshot(path=str(artifacts_dir / "ui-job-completed.png"), full_page=True)

    # Polling has stopped: no poll in the next six seconds (longer than the slowest poll delay).
    settled = len(polls)
    page.wait_for_timeout(6_000)
    assert len(polls) == settled, polls[settled:]

    page.get_by_role("link", name="My jobs").click()
    row = page.locator(f"tr[data-job-id='{job_id}']")
    expect(row).to_contain_text("Sync task")
    expect(row.locator("[data-state=completed]")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "ui-my-jobs-with-job.png"), full_page=True)


def test_task_panel_reloads_when_a_job_started_there_finishes(page: Page, local_arthur, api_token) -> None:
    editor = client_for(local_arthur, api_token("editor@example.com"))
    task = find_task(editor, "Customer Support", "support-bot")
    sign_in(page, local_arthur, "editor@example.com", next_path=f"/projects/{task.project_id}/tasks/{task.model_id}/")
    panel_loads: list[str] = []
    page.on(
        "request", lambda r: panel_loads.append(r.url) if r.headers.get("hx-request") and "/tasks/" in r.url else None
    )

    job_id = editor.sync_task(task.model_id).job_id
    data_plane = FakeDataPlane(local_arthur, api_token("data-plane-demo"))
    run = data_plane.claim()
    # A job started on this page puts its tracker in #job-trackers (issue 8's submit views do this).
    page.evaluate(
        """([url]) => htmx.ajax('GET', url, {target: '#job-trackers', swap: 'afterbegin'})""",
        [f"/jobs/{job_id}/poll"],
    )
    tracker = page.locator(f"#tracker-{job_id}")
    expect(tracker).to_have_attribute("data-job-state", "running")
    data_plane.finish(run)
    expect(tracker).to_have_attribute("data-job-state", "completed", timeout=10_000)
    expect(page.locator("#task-panel")).to_be_visible()
    page.wait_for_timeout(500)
    assert panel_loads, "the task panel did not read itself again after the job finished"
