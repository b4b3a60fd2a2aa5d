"""Hostile strings stored in Arthur render inert in the dashboard (chromium): no dialog ever fires.

14 payloads: the 12 strings of ``CORPUS``, a hostile ``javascript:`` api_host and a hostile task name.
Under the dashboard's CSP an injected handler would be blocked rather than fire, so the test also
looks at the DOM: no element carries an injected handler, image or script, no link is ``javascript:``.

The corpus goes in through the API, the way another tool or a careless colleague would put it there:
the task's name, rule names, keywords, regex patterns and PII allow lists (a task-state upload as the
data plane), the connection info's api_host and key names (a PUT as admin), and a job summary in
the dashboard's own ledger. Then one signed-in chromium page opens every page that renders them.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser.dashboard import sign_in
from tests.tasks_ui.arthur import client_for, find_task

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "long-" + "\u00e9\u0301x" * 1665  # 5,000 characters of letters and combining marks
CORPUS = (
    "<script>alert('script')</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(2)>",
    '" onmouseover="alert(3)" autofocus onfocus="alert(3)" x="',
    "' onfocus='alert(4)' autofocus='",
    "javascript:alert(5)",
    "</textarea><script>alert(6)</script>",
    "</title><script>alert(7)</script>{{7*7}}{% debug %}",
    "\u202eexe.txt gnp\u202c rtl-override",
    "zero\u200dwidth\u200bjoiner\ufeff",
    "Z\u0351\u0352\u0353a\u0354\u0355l\u0356g\u0357o combining",
    LONG,
)
HOSTILE_HOST = "javascript:alert(document.domain)//\"'><img src=x onerror=alert(8)>"
TASK_NAME = "<img src=x onerror=alert('task')>\u202e\"'task"


def _rules(now_ms: int) -> list[dict]:
    """Three rules per corpus string: its name and keywords, a regex pattern, a PII allow list."""
    rules = []
    for index, text in enumerate(CORPUS):
        common = {"apply_to_prompt": True, "apply_to_response": False, "enabled": True, "scope": "task"}
        common |= {"created_at": now_ms, "updated_at": now_ms}
        rules += [
            {"id": str(uuid.uuid4()), "name": text, "type": "KeywordRule", "config": {"keywords": [text]}, **common},
            {"id": str(uuid.uuid4()), "name": f"re-{index}", "type": "RegexRule", "config": {"regex_patterns": [text]}}
            | common,
            {
                "id": str(uuid.uuid4()),
                "name": f"pii-{index}",
                "type": "PIIDataRule",
                "config": {"disabled_pii_entities": [], "confidence_threshold": 0.5, "allow_list": [text]},
            }
            | common,
        ]
    return rules


@pytest.fixture
def hostile(local_arthur, api_token, settings):
    """The support-bot task with the corpus stored everywhere Arthur lets it be stored."""
    admin = api_token("admin@example.com")
    task = find_task(client_for(local_arthur, admin), "Customer Support", "support-bot")
    models = f"{local_arthur}/api/v1/models/{task.model_id}"

    def call(method: str, url: str, token: str, **kwargs) -> requests.Response:
        response = requests.request(method, url, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs)
        assert response.status_code < 300, (method, url, response.status_code, response.text[:300])
        return response

    state = call("GET", f"{models}/task", admin).json()
    uploaded = dict(state["task"], name=TASK_NAME, rules=_rules(int(time.time() * 1000)))
    body = {"task": uploaded, "evals": [], "continuous_evals": [], "transforms": []}
    call("PUT", f"{models}/task/cache", api_token(settings.DATAPLANE_CLIENT_ID), json=body)
    key = {"id": CORPUS[1], "name": CORPUS[3], "key": "not-a-real-key"}
    call("PUT", f"{models}/task/connection_info", admin, json={"api_host": HOSTILE_HOST, "validation_key": key})
    return task, call("POST", f"{models}/task/sync", admin).json()["job_id"]


def _assert_inert(page: Page, texts: tuple[str, ...]) -> None:
    """Nothing the corpus carries became markup: no handler attributes, no injected scripts or images,
    no ``javascript:`` link; and the strings are there as text."""
    for selector in ("[onerror]", "[onload]", "[onmouseover]", "[onfocus]", "img[src=x]", "svg"):
        assert page.locator(selector).count() == 0, (page.url, selector)
    assert page.locator("a[href^='javascript:' i], [src^='javascript:' i], [action^='javascript:' i]").count() == 0
    inline = page.locator("script:not([src])").all_text_contents()
    assert not [script for script in inline if "alert(" in script], page.url
    text = page.locator("body").inner_text()
    for expected in texts:
        assert expected in text, (page.url, expected[:40])


def test_the_corpus_renders_inert_everywhere(page: Page, local_arthur, hostile, artifacts_dir) -> None:
    from django.contrib.auth import get_user_model

    from tasks_ui.services import ledger_record

    task, job_id = hostile
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(f"{page.url}: {dialog.message}"), dialog.dismiss()))
    task_url = f"/projects/{task.project_id}/tasks/{task.model_id}/"
    sign_in(page, local_arthur, "admin@example.com", next_path=task_url)
    ledger_record(
        user=get_user_model().objects.get(),
        job=job_id,
        kind="fetch_model_task",
        project_id=task.project_id,
        model_id=task.model_id,
        summary=" | ".join(CORPUS[:8]),
    )

    # The task page: the name, every rule's name, keywords, pattern and allow list, the api_host.
    _assert_inert(page, (TASK_NAME, *CORPUS, HOSTILE_HOST, CORPUS[1], CORPUS[3]))
    # The api_host is shown as code, never as a link (a javascript: host must not be clickable).
    expect(page.locator("#connection-info code").first).to_have_text(HOSTILE_HOST)
    hrefs = page.locator("a[href]").evaluate_all("links => links.map(link => link.href)")
    assert not [href for href in hrefs if "alert(" in href or href.lower().startswith("javascript:")]
    page.screenshot(path=str(artifacts_dir / "xss-task.png"), full_page=True, caret="initial")

    # A hostile rule into the draft, then its review page.
    page.locator("button[data-toggle='disable']").first.click()
    expect(page.locator("tr[data-pending='disable']")).to_have_count(1)  # the change form is HTMX: wait for it
    page.goto(f"{local_arthur}{task_url}rules/review")
    _assert_inert(page, (CORPUS[0],))

    visits = {
        f"/projects/{task.project_id}/": (),
        f"{task_url}delete": (TASK_NAME,),
        f"{task_url}connection": (),
        f"/jobs/{job_id}/": (),
        "/jobs/mine": CORPUS[:8],
    }
    for path, texts in visits.items():
        page.goto(local_arthur + path)
        _assert_inert(page, texts)
        if path.endswith("connection"):
            expect(page.get_by_label("API host")).to_have_value(HOSTILE_HOST)

    # Try it: what is typed comes back in the textarea as text, even a closing tag.
    page.goto(f"{local_arthur}{task_url}try")
    page.get_by_label("Prompt").fill(CORPUS[6])
    page.get_by_role("button", name="Validate").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_label("Prompt")).to_have_value(CORPUS[6])
    # The javascript: host is never fetched: the form says the engine cannot be called there.
    expect(page.locator("#try-it .field-error")).to_contain_text("engine")
    _assert_inert(page, ())

    assert dialogs == [], dialogs
