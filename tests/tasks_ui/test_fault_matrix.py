"""Every dashboard page and action × every way Arthur can fail → the designed state, never a 500.

The table below lists each URL of ``tasks_ui.urls`` (GET pages, HTMX fragments, every POST form).
For each, one test runs the six upstream failure classes in turn against one seeded Local Arthur:

- ``dead``: nothing listens (a connection error), ``timeout``: slower than the client's timeout,
  ``500``: Arthur fails → the unavailable banner with a retry link (a poll keeps polling, slower);
- ``401``: the token died mid-session → sign in again (HTMX: a client redirect, not a swapped page);
- ``403``: the platform's ``{"detail": "Missing permission: <name>"}`` → a page naming the permission;
- ``404`` → the not-found page.

Reads fail for the pages; for a POST form only the call that changes something fails (the reads
that render the form still work), because that is where what the person typed must survive.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests
import responses

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "fault-matrix-key-0001"
SECRET = "fault-matrix-typed-validation-key"
PERMISSION = "model_task_update"
FAILURES = ("dead", "timeout", "500", "401", "403", "404")
UNAVAILABLE = {"dead", "timeout", "500"}
WRITES = ("POST", "PUT", "PATCH", "DELETE")
READS = ("GET",)
TRACEBACK = re.compile(r"Traceback|File \".*\", line \d+|Exception Value", re.IGNORECASE)


@dataclass(frozen=True)
class Ids:
    project: str
    model: str
    job: str = field(default_factory=lambda: str(uuid.uuid4()))
    rule: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Case:
    """One page or action: how to reach it, what is sent, and which upstream calls are made to fail."""

    name: str
    url: Callable[[Ids], str]
    method: str = "GET"
    data: dict[str, str] = field(default_factory=dict)
    htmx: bool = False
    fail: tuple[str, ...] = READS
    kept: tuple[str, ...] = ()  # what the person typed, to be found again in the re-rendered form
    prepare: Callable[..., None] | None = None  # put the session in the state the action needs
    offline: bool = False  # the page needs nothing from Arthur (only the breadcrumb): it still renders
    absent_ok: bool = False  # a 404 means "there is none", which the page shows as such
    engine: bool = False  # the failing call goes to the engine: every failure is a form error
    keeps_form: bool = False  # a change Arthur did not take (unavailable, 403) re-renders the filled-in form
    never_shown: tuple[str, ...] = ()  # typed secrets that no answer may contain, whatever failed


def _task(ids: Ids) -> str:
    return f"/projects/{ids.project}/tasks/{ids.model}"


def _draft_a_rule(client, ids: Ids) -> None:
    data = {"name": "kept rule", "type": "KeywordRule", "apply_to_prompt": "on", "keywords": "kept-word"}
    assert client.post(f"{_task(ids)}/rules/new", data).status_code == 302


CASES = [
    # --- pages and fragments: every read fails ---
    Case("home", lambda i: "/?q=support"),
    Case("project_detail", lambda i: f"/projects/{i.project}/"),
    Case("project_detail_htmx", lambda i: f"/projects/{i.project}/?mpage=1", htmx=True),
    Case("task_detail", lambda i: f"{_task(i)}/"),
    Case("task_detail_htmx", lambda i: f"{_task(i)}/", htmx=True),
    Case("validation_key", lambda i: f"{_task(i)}/key", htmx=True, absent_ok=True),
    Case("my_jobs", lambda i: "/jobs/mine"),
    Case("job_detail", lambda i: f"/jobs/{i.job}/"),
    Case("job_poll", lambda i: f"/jobs/{i.job}/poll", htmx=True),
    Case("project_task_models", lambda i: f"/projects/{i.project}/models?onboarding=x", htmx=True),
    Case("task_create_form", lambda i: f"/projects/{i.project}/tasks/new"),
    Case("task_link_form", lambda i: f"/projects/{i.project}/tasks/link"),
    Case("rule_add_form", lambda i: f"{_task(i)}/rules/new", offline=True),
    Case("rule_review_form", lambda i: f"{_task(i)}/rules/review"),
    Case("task_sync_form", lambda i: f"{_task(i)}/sync", offline=True),
    Case("task_regenerate_key_form", lambda i: f"{_task(i)}/regenerate-key", offline=True),
    Case("task_delete_form", lambda i: f"{_task(i)}/delete"),
    Case("connection_info_form", lambda i: f"{_task(i)}/connection"),
    Case("connection_info_delete_form", lambda i: f"{_task(i)}/connection/delete", offline=True),
    Case("try_it_form", lambda i: f"{_task(i)}/try", offline=True),
    # --- POST forms whose only Arthur calls are reads ---
    Case("rule_draft_toggle", lambda i: f"{_task(i)}/rules/draft", "POST", {"toggle": f"disable:{uuid.UUID(int=1)}"}),
    # --- POST forms: the change fails, the reads that render the form work ---
    Case(
        "task_create",
        lambda i: f"/projects/{i.project}/tasks/new",
        "POST",
        {"name": "kept-task-name", "onboarding_identifier": "kept-onboarding", "rule_count": "0"},
        fail=WRITES,
        kept=("kept-task-name", "kept-onboarding"),
        keeps_form=True,
    ),
    Case(
        "task_link",
        lambda i: f"/projects/{i.project}/tasks/link",
        "POST",
        {"task_id": "6f1c1c52-5a77-4b41-9f0e-8d4f0f5b9a11", "onboarding_identifier": "kept-link"},
        fail=WRITES,
        kept=("6f1c1c52-5a77-4b41-9f0e-8d4f0f5b9a11", "kept-link"),
        keeps_form=True,
    ),
    Case(
        "rule_add",
        lambda i: f"{_task(i)}/rules/new",
        "POST",
        {"name": "kept rule", "type": "KeywordRule", "apply_to_prompt": "on", "keywords": "kept-word"},
        fail=WRITES,
    ),
    Case(
        "rule_review",
        lambda i: f"{_task(i)}/rules/review",
        "POST",
        {},
        fail=WRITES,
        prepare=_draft_a_rule,
        kept=("kept rule",),
        keeps_form=True,
    ),
    Case(
        "rule_review_htmx",
        lambda i: f"{_task(i)}/rules/review",
        "POST",
        {},
        htmx=True,
        fail=WRITES,
        prepare=_draft_a_rule,
        kept=("kept rule",),
        keeps_form=True,
    ),
    Case("rule_draft_discard", lambda i: f"{_task(i)}/rules/discard", "POST", fail=WRITES, prepare=_draft_a_rule),
    Case("rule_draft_remove_new", lambda i: f"{_task(i)}/rules/new/0/remove", "POST", fail=WRITES),
    Case("task_sync", lambda i: f"{_task(i)}/sync", "POST", {}, fail=WRITES),
    Case("task_sync_htmx", lambda i: f"{_task(i)}/sync", "POST", {}, htmx=True, fail=WRITES),
    Case("task_regenerate_key", lambda i: f"{_task(i)}/regenerate-key", "POST", {}, fail=WRITES),
    Case(
        "task_delete",
        lambda i: f"{_task(i)}/delete",
        "POST",
        {"confirm_name": "support-bot"},
        fail=WRITES,
        kept=('value="support-bot"',),
        keeps_form=True,
    ),
    Case(
        "connection_info_edit",
        lambda i: f"{_task(i)}/connection",
        "POST",
        {"api_host": "https://kept.example.com", "key_id": "kept-key-id", "key_name": "kept-name", "key": SECRET},
        fail=WRITES,
        # The typed validation key is kept server-side, never rendered back: the page says it is kept.
        kept=("https://kept.example.com", "kept-key-id", "kept-name", "validation key you typed is kept"),
        never_shown=(SECRET,),
        keeps_form=True,
    ),
    Case("connection_info_delete", lambda i: f"{_task(i)}/connection/delete", "POST", {}, fail=WRITES, absent_ok=True),
    Case(
        "try_it",
        lambda i: f"{_task(i)}/try",
        "POST",
        {"prompt": "kept prompt text"},
        fail=WRITES,
        kept=("kept prompt text",),
        engine=True,
    ),
    Case(
        "try_it_htmx",
        lambda i: f"{_task(i)}/try",
        "POST",
        {"prompt": "kept htmx prompt"},
        htmx=True,
        fail=WRITES,
        kept=("kept htmx prompt",),
        engine=True,
    ),
]


def _fail_everything(mock: responses.RequestsMock, base: str, methods: tuple[str, ...], failure: str) -> None:
    """Answer every call to Local Arthur (API and engine) made with ``methods`` with ``failure``."""
    everything = re.compile(re.escape(base) + r"/.*")
    for method in methods:
        if failure == "dead":
            mock.add(method, everything, body=requests.ConnectionError("connection refused"))
        elif failure == "timeout":
            mock.add(method, everything, body=requests.ReadTimeout("read timed out"))
        elif failure == "403":
            mock.add(method, everything, json={"detail": f"Missing permission: {PERMISSION}"}, status=403)
        else:
            mock.add(method, everything, json={"detail": f"failing with {failure}"}, status=int(failure))


def _problems(case: Case, failure: str, response) -> list[str]:
    """What is wrong with the dashboard's answer to ``case`` under ``failure`` (empty: the designed state)."""
    body = response.content.decode()
    status = response.status_code
    problems: list[str] = [f"a typed secret is in the page: {text!r}" for text in case.never_shown if text in body]
    if status >= 500 and status != 503:
        problems.append(f"status {status}")
    if TRACEBACK.search(body):
        problems.append("traceback in the body")
    if case.fail == WRITES and not _calls_arthur_to_change(case):
        # Only session state changes: the action goes through whatever Arthur does.
        if status != 302:
            problems.append(f"a session-only action answered {status}")
        return problems
    if case.engine:
        # The engine, not Arthur's API, failed (a 401 there is the validation key, not the session).
        if status != 200 or 'class="field-error"' not in body:
            problems.append(f"the engine failure is not a form error (status {status})")
        return problems + [f"lost what was typed: {text!r}" for text in case.kept if text not in body]
    if failure == "401":
        if case.htmx:
            if not response.get("HX-Redirect", "").startswith("/accounts/login"):
                problems.append(f"HTMX 401 without a client redirect to sign in (status {status})")
            if "<form" in body and "password" in body.lower():
                problems.append("a sign-in page was swapped into the region")
        elif status != 302 or not response["Location"].startswith("/accounts/login"):
            problems.append(f"401 is not a redirect to sign in (status {status})")
        return problems
    if failure == "404" and case.absent_ok:
        if status not in (200, 302) or "data-failure" in body:
            problems.append(f"a 404 meaning 'none' is shown as a failure (status {status})")
        return problems
    if case.keeps_form and failure in UNAVAILABLE | {"403"}:
        expected = f"needs the {PERMISSION} permission" if failure == "403" else "Arthur is unavailable"
        if status != 400 or expected not in body:
            problems.append(f"the form was not shown again saying {expected!r} (status {status})")
        return problems + [f"lost what was typed: {text!r}" for text in case.kept if text not in body]
    if failure in UNAVAILABLE and case.offline:
        if status != 200 or "<form" not in body:
            problems.append(f"a form that needs nothing from Arthur did not render (status {status})")
        return problems
    if failure in UNAVAILABLE:
        if case.name == "job_poll":
            if status != 200 or 'data-job-state="unknown"' not in body or "delay:5s" not in body:
                problems.append("the poll does not keep polling more slowly")
        elif 'data-failure="unavailable"' not in body and "Arthur is unavailable" not in body:
            problems.append(f"no unavailable message (status {status})")
        elif case.kept and status != 400:
            problems.append(f"the form was not re-rendered (status {status})")
        elif case.method == "GET" and "Retry" not in body:
            problems.append("no retry link")
    elif failure == "403":
        if 'data-failure="forbidden"' not in body or f">{PERMISSION}</code>" not in body:
            problems.append(f"the missing permission is not named (status {status})")
    elif failure == "404" and 'data-failure="not_found"' not in body:
        problems.append(f"no not-found message (status {status})")
    if failure in UNAVAILABLE:
        problems += [f"lost what was typed: {text!r}" for text in case.kept if text not in body]
    if case.htmx and failure in {"403", "404"} and response.get("HX-Retarget") != "#messages":
        problems.append("the HTMX failure banner is not retargeted to #messages")
    return problems


def _calls_arthur_to_change(case: Case) -> bool:
    return case.name not in {"rule_add", "rule_draft_discard", "rule_draft_remove_new"}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_failure_class_has_its_designed_state(case: Case, local_arthur, sign_in, support_bot) -> None:
    ids = Ids(project=support_bot.project_id, model=support_bot.model_id)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": f"http://testserver{_task(ids)}/"} if case.htmx else {}
    problems: dict[str, list[str]] = {}
    for failure in FAILURES:
        client = sign_in("editor@example.com")  # a fresh token each time: a 401 signs the person out
        if case.prepare:
            case.prepare(client, ids)
        data = {"idempotency_key": f"{KEY}-{failure}", **case.data} if case.method == "POST" else case.data
        if case.name in {"task_create", "task_link"}:
            page = client.get(case.url(ids)).content.decode()
            data["connector_id"] = re.search(r'<option value="([0-9a-f-]{36})"', page).group(1)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_passthru(local_arthur)
            _fail_everything(mock, local_arthur, case.fail, failure)
            send = client.post if case.method == "POST" else client.get
            response = send(case.url(ids), data, **headers)
        if found := _problems(case, failure, response):
            problems[failure] = found
    assert not problems, problems


FAULTS_TRIED = len(CASES) * len(FAILURES)


def test_the_matrix_covers_every_dashboard_url() -> None:
    """A new page or action must be added to the table above (the count goes into issue 10's note)."""
    from tasks_ui.urls import urlpatterns

    covered = {case.name.removesuffix("_htmx").removesuffix("_form") for case in CASES}
    names = {pattern.name for pattern in urlpatterns}
    assert names <= covered, names - covered
    assert FAULTS_TRIED >= 200


def test_polling_backs_off_while_arthur_fails_and_recovers_by_itself(
    local_arthur, sign_in, support_bot, monkeypatch
) -> None:
    """A job poll during an outage answers a 200 fragment that polls again later; once Arthur is back
    the same poll shows the job's real state (no reload, no sign-in)."""
    # Each poll reads Arthur (a running job's read is otherwise shared for half a second).
    monkeypatch.setattr("tasks_ui.selectors.RUNNING_JOB_FRESH_SECONDS", 0)
    client = sign_in("editor@example.com")
    started = client.post(f"{_task(Ids(support_bot.project_id, support_bot.model_id))}/sync", {"idempotency_key": KEY})
    job_id = started["Location"].rsplit("job=", 1)[1]
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}
    running = client.get(f"/jobs/{job_id}/poll", **headers).content.decode()
    assert 'hx-trigger="load delay:1s"' in running  # a fresh job is polled every second
    for failure in ("dead", "timeout", "500"):
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_passthru(local_arthur)
            _fail_everything(mock, local_arthur, READS, failure)
            outage = client.get(f"/jobs/{job_id}/poll", **headers)
        body = outage.content.decode()
        assert outage.status_code == 200, failure
        assert 'hx-trigger="load delay:5s"' in body and f"/jobs/{job_id}/poll" in body, failure
    recovered = client.get(f"/jobs/{job_id}/poll", **headers).content.decode()
    assert 'hx-trigger="load delay:1s"' in recovered and 'data-job-state="queued"' in recovered


def test_try_it_never_calls_an_api_host_that_is_not_http(local_arthur, sign_in, support_bot, api_token) -> None:
    """Arthur stores any api_host; a ``javascript:`` one is a form error, not a 502 page echoing it."""
    url = f"{local_arthur}/api/v1/models/{support_bot.model_id}/task/connection_info"
    body = {"api_host": "javascript:alert(1)", "validation_key": {"id": "k", "name": "n", "key": "secret"}}
    stored = requests.put(url, json=body, headers={"Authorization": f"Bearer {api_token('admin@example.com')}"})
    assert stored.status_code == 200
    response = sign_in("editor@example.com").post(
        f"{_task(Ids(support_bot.project_id, support_bot.model_id))}/try", {"prompt": "kept"}
    )
    page = response.content.decode()
    assert response.status_code == 200 and "not an http(s) URL" in page and "\nkept</textarea>" in page
