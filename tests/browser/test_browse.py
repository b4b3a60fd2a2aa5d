"""A person signs in, browses workspace → project → task and reads the task's rules, in chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.dashboard import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_browse_to_a_task_and_read_its_rules(page: Page, local_arthur, artifacts_dir) -> None:
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    sign_in(page, local_arthur, "editor@example.com")
    expect(page).to_have_title("Projects · Arthur Tasks")
    projects = page.locator("#projects")
    expect(projects.get_by_role("link", name="Customer Support")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "ui-home.png"), full_page=True)

    # Server-side search narrows the list without a reload (htmx swaps #projects).
    page.get_by_label("Search projects").fill("claims")
    expect(projects.get_by_role("link", name="Claims Automation")).to_be_visible()
    expect(projects.get_by_role("link", name="Customer Support")).to_have_count(0)
    expect(projects).to_contain_text("1 project")
    page.get_by_label("Search projects").fill("support")
    expect(projects.get_by_role("link", name="Customer Support")).to_be_visible()

    projects.get_by_role("link", name="Customer Support").click()
    expect(page.get_by_role("heading", name="Customer Support", level=1)).to_be_visible()
    models = page.locator("#task-models")
    expect(models.get_by_role("link", name="support-bot")).to_be_visible()
    expect(page.locator("#project-jobs tbody tr").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "ui-project.png"), full_page=True)

    models.get_by_role("link", name="support-bot").click()
    expect(page.get_by_role("heading", name="support-bot", level=1)).to_be_visible()
    rules = page.locator("#rules table")
    keyword_row = rules.locator("tr", has_text="Blocked Keywords Rule")
    expect(keyword_row).to_contain_text("KeywordRule")
    expect(keyword_row).to_contain_text("2 keywords: refund hack, competitor discount")
    expect(rules.locator("tr", has_text="Default Prompt Injection Rule")).to_contain_text("default")
    # The editor may read the connection info: the key is masked until asked for.
    key = page.locator("#validation-key")
    expect(key).to_contain_text("••••")
    page.screenshot(path=str(artifacts_dir / "ui-task.png"), full_page=True)
    key.get_by_role("link", name="Reveal").click()
    expect(page.locator("#validation-key [data-secret]")).to_be_visible()
    expect(page.locator("#validation-key")).not_to_contain_text("••••")
    page.screenshot(path=str(artifacts_dir / "ui-task-key-revealed.png"), full_page=True)

    page.locator(".crumbs").get_by_role("link", name="Customer Support", exact=True).click()
    page.locator("#project-jobs tbody a").first.click()
    expect(page.locator("#job-detail")).to_contain_text("Attempts")
    page.screenshot(path=str(artifacts_dir / "ui-job.png"), full_page=True)

    page.get_by_role("link", name="My jobs").click()
    expect(page.get_by_role("heading", name="My jobs")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "ui-my-jobs-empty.png"), full_page=True)
    # Nothing was refused by the Content Security Policy (no inline script, style or eval anywhere).
    assert not [text for text in console_errors if "Content Security Policy" in text], console_errors


def test_viewer_sees_no_connection_info(page: Page, local_arthur, artifacts_dir) -> None:
    sign_in(page, local_arthur, "viewer@example.com")
    page.locator("#projects").get_by_role("link", name="Customer Support").click()
    page.locator("#task-models").get_by_role("link", name="support-bot").click()
    expect(page.locator("#rules")).to_contain_text("Blocked Keywords Rule")
    expect(page.locator("#connection-info")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "ui-task-viewer.png"), full_page=True)


def test_failure_pages_name_what_went_wrong(page: Page, local_arthur, artifacts_dir) -> None:
    sign_in(page, local_arthur, "viewer@example.com")
    missing = "00000000-0000-4000-8000-000000000000"
    page.goto(f"{local_arthur}/projects/{missing}/")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "ui-not-found.png"), full_page=True)

    page.goto(local_arthur + "/")
    page.locator("#projects").get_by_role("link", name="Customer Support").click()
    page.locator("#task-models").get_by_role("link", name="support-bot").click()
    # A viewer has no Reveal button; asking for the key by its URL names the missing permission.
    page.goto(page.url + "key")
    expect(page.locator("code.permission")).to_have_text("model_task_get_connection_info")
    page.screenshot(path=str(artifacts_dir / "ui-forbidden.png"), full_page=True)


def test_pages_work_without_javascript(browser, local_arthur, api_token, artifacts_dir) -> None:
    from tests.tasks_ui.arthur import FakeDataPlane, client_for, find_task

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, local_arthur, "editor@example.com")
    # The workspace switcher and the search are plain GET forms.
    page.get_by_label("Search projects").fill("claims")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#projects")).to_contain_text("Claims Automation")
    expect(page.locator("#projects")).not_to_contain_text("Customer Support")

    editor = client_for(local_arthur, api_token("editor@example.com"))
    task = find_task(editor, "Customer Support", "support-bot")
    page.goto(f"{local_arthur}/projects/{task.project_id}/tasks/{task.model_id}/")
    page.locator("#validation-key").get_by_role("link", name="Reveal").click()
    expect(page.locator("[data-secret]")).to_be_visible()

    # A running job: no live polling without JavaScript, a refresh link stands in.
    job_id = editor.sync_task(task.model_id).job_id
    data_plane = FakeDataPlane(local_arthur, api_token("data-plane-demo"))
    run = data_plane.claim()
    page.goto(f"{local_arthur}/jobs/{job_id}/")
    tracker = page.locator(f"#tracker-{job_id}")
    expect(tracker).to_have_attribute("data-job-state", "running")
    data_plane.finish(run)
    tracker.get_by_role("link", name="refresh").click()
    expect(page.locator(f"#tracker-{job_id}")).to_have_attribute("data-job-state", "completed")
    page.screenshot(path=str(artifacts_dir / "ui-job-no-javascript.png"), full_page=True)
    context.close()


def test_arthur_unavailable_banner_with_retry(page: Page, local_arthur, settings, artifacts_dir) -> None:
    import socket

    sign_in(page, local_arthur, "editor@example.com")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings.ARTHUR_HOST = dead
    page.goto(local_arthur + "/")
    banner = page.locator("[data-failure=unavailable]")
    expect(banner).to_contain_text("Arthur is unavailable right now")
    page.screenshot(path=str(artifacts_dir / "ui-unavailable.png"), full_page=True)
    settings.ARTHUR_HOST = local_arthur
    banner.get_by_role("link", name="Retry").click()
    expect(page.locator("#projects")).to_contain_text("Customer Support")
