"""Changing tasks in chromium against the demo data, with the real data-plane agent executing the jobs.

One signed-in page per test walks through many changes (sign-in is the slow part), taking a
screenshot of every page and dialog on the way.
"""

from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import Page, expect

from tests.browser.dashboard import sign_in
from tests.dataplane.conftest import start_agent  # noqa: F401  (fixture)
from tests.tasks_ui.arthur import client_for, find_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(local_arthur, api_token):
    """The demo data with its engine store, and the support-bot task's ids."""
    from dataplane.seed import seed_engine

    seed_engine()
    editor = client_for(local_arthur, api_token("editor@example.com"))
    return editor, find_task(editor, "Customer Support", "support-bot")


def _shot(page: Page, path) -> None:
    # caret="initial": Playwright would otherwise inject a caret-hiding <style>, which the CSP reports.
    page.screenshot(path=str(path), full_page=True, caret="initial")


def _rules_jobs(api, project_id: str) -> list:
    return api.get_jobs(project_id, kinds=["update_model_task_rules"], page_size=100).records


def test_editor_changes_a_task_end_to_end(page: Page, local_arthur, demo, start_agent, artifacts_dir) -> None:  # noqa: F811
    from dataplane.agent import build_agent

    api, task = demo
    shots = artifacts_dir
    navigations: list[str] = []
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    sign_in(page, local_arthur, "editor@example.com", next_path=f"/projects/{task.project_id}/tasks/{task.model_id}/")
    rules = page.locator("#rules table")

    # An invalid regex: the engine's message next to the patterns, what was typed kept, no job.
    page.get_by_role("link", name="Add rule").click()
    page.get_by_label("Name").fill("Broken pattern")
    page.get_by_label("Rule type").select_option("RegexRule")
    expect(page.get_by_label("Keywords")).to_be_hidden()  # only the chosen type's editor shows
    page.get_by_label("Regex patterns").fill("(unclosed")
    page.get_by_role("button", name="Add to draft").click()
    expect(page.locator("[data-error-for=regex_patterns]")).to_have_text("Invalid regex: (unclosed")
    expect(page.get_by_label("Regex patterns")).to_have_value("(unclosed")
    _shot(page, shots / "change-rule-invalid-regex.png")
    assert _rules_jobs(api, task.project_id) == []

    # A valid regex rule joins the draft.
    page.get_by_label("Name").fill("No PINs")
    page.get_by_label("Regex patterns").fill("PIN \\d{4}")
    page.get_by_role("button", name="Add to draft").click()
    expect(rules.locator("tr[data-pending=add]")).to_contain_text("No PINs")

    # Disable a rule: marked pending, nothing sent yet. A default rule says why it cannot be archived.
    ssn = rules.locator("tr", has_text="SSN Regex Rule")
    ssn.get_by_role("button", name="Disable SSN Regex Rule").click()
    expect(rules.locator("tr", has_text="SSN Regex Rule")).to_have_attribute("data-pending", "disable")
    expect(rules.locator("tr", has_text="Default PII Rule")).to_contain_text("Default rules cannot be archived")
    expect(page.locator("[data-draft-size]")).to_contain_text("2 pending changes")
    _shot(page, shots / "change-task-draft.png")

    page.get_by_role("link", name="Review and submit").click()
    changes = page.locator("ol.changes")
    expect(changes).to_contain_text("Disable “SSN Regex Rule”")
    expect(changes).to_contain_text("Add “No PINs” (RegexRule)")
    _shot(page, shots / "change-review.png")

    # A double click submits once: one job, and the task page follows it.
    page.get_by_role("button", name="Submit changes").dblclick()
    page.wait_for_url(re.compile(r".*\?job=.*"))
    jobs = _rules_jobs(api, task.project_id)
    assert len(jobs) == 1, jobs
    job_id = jobs[0].id
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    tracker = page.locator(f"#tracker-{job_id}")
    expect(tracker).to_have_attribute("data-job-state", "queued")
    _shot(page, shots / "change-tracker-queued.png")

    # The real agent takes the job (running), then executes it (completed).
    agent = build_agent(stop_event=threading.Event())
    try:
        run = agent.client.post_dequeue_job(agent.client.get_users_me().data_plane_id)
        assert run is not None and run.job_id == job_id
        expect(tracker).to_have_attribute("data-job-state", "running", timeout=10_000)
        _shot(page, shots / "change-tracker-running.png")
        assert agent.execute(run) == "completed"
    finally:
        agent.close()
    expect(tracker).to_have_attribute("data-job-state", "completed", timeout=10_000)
    # The job-finished event re-read the rules: both changes show, without a reload.
    expect(rules.locator("tr", has_text="SSN Regex Rule")).to_contain_text("disabled")
    expect(rules.locator("tr", has_text="No PINs")).to_contain_text("1 pattern: PIN \\d{4}")
    expect(rules.locator("tr[data-pending]")).to_have_count(0)
    assert navigations == [], navigations
    _shot(page, shots / "change-tracker-completed.png")
    assert len(_rules_jobs(api, task.project_id)) == 1

    start_agent()  # from here on the agent runs every job as it comes

    # Try it: a blocked keyword fails the keyword rule.
    page.get_by_role("link", name="Try it").click()
    page.get_by_label("Prompt").fill("Is there a refund hack I can use?")
    page.get_by_role("button", name="Validate").click()
    result = page.locator("table[data-side=prompt] tr[data-rule-name='Blocked Keywords Rule']")
    expect(result).to_have_attribute("data-result", "fail")
    expect(result).to_contain_text("refund hack")
    _shot(page, shots / "change-try-it.png")
    page.go_back()

    # Regenerate the key (a dialog): the new key appears masked once the job completes.
    page.goto(f"{local_arthur}/projects/{task.project_id}/tasks/{task.model_id}/")
    old_key = api.get_task_connection_info(task.model_id).validation_key.key.get_secret_value()
    page.get_by_role("link", name="Regenerate key").click()
    dialog = page.locator("#dialog-regenerate")
    expect(dialog).to_be_visible()
    _shot(page, shots / "change-dialog-regenerate.png")
    dialog.get_by_role("button", name="Regenerate key").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#job-trackers .tracker").first).to_have_attribute(
        "data-job-state", "completed", timeout=15_000
    )
    new_key = api.get_task_connection_info(task.model_id).validation_key.key.get_secret_value()
    assert new_key != old_key
    expect(page.locator("#validation-key")).to_contain_text(new_key[-4:])
    page.locator("#validation-key").get_by_role("link", name="Reveal").click()
    expect(page.locator("#validation-key [data-secret]")).to_have_text(new_key)
    _shot(page, shots / "change-key-regenerated.png")

    # Sync (a dialog too).
    page.get_by_role("link", name="Sync").click()
    _shot(page, shots / "change-dialog-sync.png")
    page.locator("#dialog-sync").get_by_role("button", name="Sync now").click()
    expect(page.locator("#job-trackers .tracker").first).to_have_attribute(
        "data-job-state", "completed", timeout=15_000
    )

    # Create a task with an initial rule: it appears in the project once the job completes.
    page.goto(f"{local_arthur}/projects/{task.project_id}/")
    page.locator("#project-actions").get_by_role("link", name="Create task").click()
    page.get_by_label("Task name").fill("returns-bot")
    page.get_by_label("Onboarding identifier").fill("returns-bot-1")
    page.get_by_role("button", name="Add a rule").click()
    expect(page.get_by_label("Task name")).to_have_value("returns-bot")  # kept across the re-render
    page.locator("#id_rule-0-name").fill("No vouchers")
    page.locator("#id_rule-0-type").select_option("KeywordRule")
    page.locator("#id_rule-0-keywords").fill("voucher\nfree gift")
    _shot(page, shots / "change-create-task.png")
    page.get_by_role("button", name="Create task").click()
    expect(page.locator("#job-trackers .tracker").first).to_have_attribute(
        "data-job-state", "completed", timeout=15_000
    )
    expect(page.locator("[data-new-model]")).to_contain_text("returns-bot")
    expect(page.locator("#task-models table").get_by_role("link", name="returns-bot")).to_be_visible()
    _shot(page, shots / "change-created.png")

    # Link the support-bot task again, as a second model: it appears too.
    engine_task_id = api.get_task_state_cache(task.model_id).task.id
    page.locator("#project-actions").get_by_role("link", name="Link existing task").click()
    page.get_by_label("Task id").fill(engine_task_id)
    page.get_by_label("Onboarding identifier").fill("support-bot-linked")
    _shot(page, shots / "change-link-task.png")
    page.get_by_role("button", name="Link task").click()
    expect(page.locator("#job-trackers .tracker").first).to_have_attribute(
        "data-job-state", "completed", timeout=15_000
    )
    expect(page.locator("[data-new-model]")).to_contain_text("support-bot")
    linked = api.get_models(task.project_id, onboarding_identifier="support-bot-linked").records[0]
    expect(page.locator(f"#task-models tr[data-model-id='{linked.id}']")).to_be_visible()

    # Delete the linked model: type its name; it is gone from the project once the job completes.
    page.locator(f"#task-models tr[data-model-id='{linked.id}'] a").click()
    page.get_by_role("link", name="Delete task").click()
    expect(page.locator(".danger-zone")).to_contain_text("removes the platform model too")
    page.get_by_label("Type the task name to confirm").fill("support-bot")
    _shot(page, shots / "change-delete-task.png")
    page.get_by_role("button", name="Delete task and model").click()
    expect(page.locator("#job-trackers .tracker").first).to_have_attribute(
        "data-job-state", "completed", timeout=15_000
    )
    expect(page.locator(f"#task-models tr[data-model-id='{linked.id}']")).to_have_count(0)
    # The jobs table re-read itself too: the delete job shows as completed.
    expect(page.locator("#project-jobs tbody tr").first).to_contain_text("Delete task")
    expect(page.locator("#project-jobs tbody tr").first.locator("[data-state]")).to_have_attribute(
        "data-state", "completed"
    )
    _shot(page, shots / "change-deleted.png")
    assert api.get_models(task.project_id, onboarding_identifier="support-bot-linked").records == []
    # Every behaviour ran under the strict CSP (a violation is logged as a console error).
    assert not [text for text in console_errors if "Content Security Policy" in text], console_errors


def test_admin_edits_and_deletes_connection_info(page: Page, local_arthur, demo, api_token, artifacts_dir) -> None:
    _, task = demo
    admin = client_for(local_arthur, api_token("admin@example.com"))
    sign_in(page, local_arthur, "admin@example.com", next_path=f"/projects/{task.project_id}/tasks/{task.model_id}/")
    panel = page.locator("#connection-info")
    panel.get_by_role("link", name="Edit").click()
    page.get_by_label("API host").fill("not a url")
    page.get_by_label("Validation key name").fill("Rotated by hand")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-error-for=api_host]")).to_be_visible()
    expect(page.locator("[data-error-for=key]")).to_be_visible()
    expect(page.get_by_label("Validation key name")).to_have_value("Rotated by hand")
    _shot(page, artifacts_dir / "change-connection-errors.png")
    page.get_by_label("API host").fill("https://engine.example.com")
    page.get_by_label("Validation key", exact=True).fill("hand-made-key-0001")
    page.get_by_role("button", name="Save").click()
    expect(panel).to_contain_text("https://engine.example.com")
    expect(panel).to_contain_text("Rotated by hand")
    page.reload()
    expect(page.locator("#connection-info")).to_contain_text("https://engine.example.com")  # it persisted
    info = admin.get_task_connection_info(task.model_id)
    assert info.validation_key.name == "Rotated by hand"
    assert info.validation_key.key.get_secret_value() == "hand-made-key-0001"

    page.locator("#connection-info").get_by_role("link", name="Delete").click()
    dialog = page.locator("#dialog-delete_connection")
    expect(dialog).to_be_visible()
    _shot(page, artifacts_dir / "change-dialog-delete-connection.png")
    dialog.get_by_role("button", name="Delete connection info").click()
    expect(page.locator("#connection-info")).to_contain_text("No connection info yet")


def test_viewer_sees_no_change_actions_and_a_forged_post_is_refused(page: Page, local_arthur, demo, artifacts_dir):
    api, task = demo
    sign_in(page, local_arthur, "viewer@example.com", next_path=f"/projects/{task.project_id}/")
    expect(page.locator("#project-actions a")).to_have_count(0)
    page.get_by_role("link", name="support-bot").click()
    expect(page.get_by_role("heading", name="support-bot", level=1)).to_be_visible()
    expect(page.locator("#task-actions a")).to_have_count(0)
    expect(page.locator("#rules button")).to_have_count(0)
    _shot(page, artifacts_dir / "change-viewer-task.png")

    # The confirm page is reachable by URL; submitting it is a forged POST the control plane refuses.
    page.goto(f"{local_arthur}/projects/{task.project_id}/tasks/{task.model_id}/sync")
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("[data-failure=forbidden], .failure").first).to_contain_text("model_task_sync")
    _shot(page, artifacts_dir / "change-viewer-forged-post.png")
    assert api.get_jobs(task.project_id, kinds=["fetch_model_task"]).records == []
