"""Changing tasks from the dashboard (issue 8), against Local Arthur over HTTP with the real agent.

Each change is a POST form; jobs are counted through the API, and their effect read back from the
task's cached state after the data-plane agent ran them.
"""

from __future__ import annotations

import re
import time

import pytest
from django.utils.html import escape

from tests.tasks_ui.arthur import client_for

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "k" * 20


@pytest.fixture
def engine(local_arthur):
    """The demo engine store (tasks, rules, keys), which seed_demo does not create yet."""
    from dataplane.seed import seed_engine

    seed_engine()


@pytest.fixture
def editor_api(local_arthur, api_token):
    return client_for(local_arthur, api_token("editor@example.com"))


def _task_url(task, suffix: str = "") -> str:
    return f"/projects/{task.project_id}/tasks/{task.model_id}/{suffix}"


def _wait_job(api, job_id: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get_job(job_id)
        if job.is_terminal:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def _job_id_from(response) -> str:
    match = re.search(r"job=([0-9a-f-]{36})", response["Location"])
    assert match, response["Location"]
    return match.group(1)


def _rule(api, model_id: str, name: str):
    task = api.get_task_state_cache(model_id).task
    return next(rule for rule in task.rules if rule.name == name)


def _jobs(api, project_id: str, kind: str) -> list:
    return api.get_jobs(project_id, kinds=[kind], page_size=100).records


def test_draft_review_submit_is_one_patch_job(sign_in, support_bot, editor_api, engine, dataplane_agent) -> None:
    client = sign_in("editor@example.com")
    ssn = _rule(editor_api, support_bot.model_id, "SSN Regex Rule")
    assert ssn.enabled

    response = client.post(_task_url(support_bot, "rules/draft"), {"toggle": f"disable:{ssn.id}"})
    assert response.status_code == 302
    response = client.post(
        _task_url(support_bot, "rules/new"),
        {"name": "No PINs", "type": "RegexRule", "apply_to_prompt": "on", "regex_patterns": "PIN \\d{4}\n\n"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    page = client.get(_task_url(support_bot)).content.decode()
    assert "2 pending changes" in page and 'data-pending="disable"' in page and 'data-pending="add"' in page
    assert not _jobs(editor_api, support_bot.project_id, "update_model_task_rules")  # a draft sends nothing

    review = client.get(_task_url(support_bot, "rules/review")).content.decode()
    assert "Disable “SSN Regex Rule”" in review and "Add “No PINs” (RegexRule)" in review
    key = re.search(r'name="idempotency_key" value="([^"]+)"', review).group(1)
    response = client.post(_task_url(support_bot, "rules/review"), {"idempotency_key": key})
    assert response.status_code == 302
    job_id = _job_id_from(response)
    # The same form again (a double click, a resubmit): the first job, not a second one.
    again = client.post(_task_url(support_bot, "rules/review"), {"idempotency_key": key})
    assert _job_id_from(again) == job_id
    assert [job.id for job in _jobs(editor_api, support_bot.project_id, "update_model_task_rules")] == [job_id]

    page = client.get(_task_url(support_bot) + f"?job={job_id}").content.decode()
    assert f'id="tracker-{job_id}"' in page and "pending change" not in page  # the draft is gone
    assert _wait_job(editor_api, job_id).state == "completed"
    assert _rule(editor_api, support_bot.model_id, "SSN Regex Rule").enabled is False
    added = _rule(editor_api, support_bot.model_id, "No PINs")
    assert added.config == {"regex_patterns": ["PIN \\d{4}"]} and added.apply_to_prompt and not added.apply_to_response


def test_invalid_regex_is_a_field_error_and_no_job(sign_in, support_bot, editor_api) -> None:
    client = sign_in("editor@example.com")
    response = client.post(
        _task_url(support_bot, "rules/new"),
        {"name": "Broken", "type": "RegexRule", "apply_to_prompt": "on", "regex_patterns": "ok\n(unclosed"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-error-for="regex_patterns">Invalid regex: (unclosed' in page
    assert "ok\n(unclosed</textarea>" in page  # what was typed is kept
    assert "pending change" not in client.get(_task_url(support_bot)).content.decode()
    assert not _jobs(editor_api, support_bot.project_id, "update_model_task_rules")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"type": "ToxicityRule", "apply_to_prompt": "on", "toxicity_threshold": "1.5"},
            "toxicity_threshold",
            '"threshold" must be between 0 and 1',
        ),
        (
            {"type": "ModelSensitiveDataRule", "apply_to_prompt": "on"},
            "examples",
            "Examples must be provided to onboard a ModelSensitiveDataRule",
        ),
        (
            {"type": "PromptInjectionRule", "apply_to_prompt": "on", "apply_to_response": "on"},
            "apply_to_response",
            "PromptInjectionRule can only be enabled for prompt.",
        ),
        (
            {"type": "PIIDataRule", "apply_to_prompt": "on"},
            "pii_entities",
            "Cannot disable all supported PII entities on PIIDataRule",
        ),
    ],
)
def test_rule_editor_uses_the_engine_messages(sign_in, support_bot, data, field, message) -> None:
    client = sign_in("editor@example.com")
    response = client.post(_task_url(support_bot, "rules/new"), {"name": "R", **data})
    assert response.status_code == 400
    assert f'data-error-for="{field}">{escape(message)}' in response.content.decode()


def test_pii_and_examples_become_engine_configs(sign_in, support_bot) -> None:
    from tasks_ui.forms import RuleForm

    form = RuleForm(
        {
            "name": "P",
            "type": "PIIDataRule",
            "apply_to_prompt": "on",
            "pii_entities": ["US_SSN", "EMAIL_ADDRESS"],
            "allow_list": "arthur.ai\n",
        }
    )
    assert form.is_valid(), form.errors
    config = form.rule_request()["config"]
    assert config["allow_list"] == ["arthur.ai"] and len(config["disabled_pii_entities"]) == 15
    form = RuleForm(
        {
            "name": "S",
            "type": "ModelSensitiveDataRule",
            "apply_to_prompt": "on",
            "example_0": "O negative",
            "result_0": "yes",
            "example_1": "most people",
            "result_1": "no",
            "hint": "blood types",
        }
    )
    assert form.is_valid(), form.errors
    assert form.rule_request()["config"] == {
        "examples": [{"example": "O negative", "result": True}, {"example": "most people", "result": False}],
        "hint": "blood types",
    }


def test_default_rules_cannot_be_archived(sign_in, support_bot, editor_api) -> None:
    client = sign_in("editor@example.com")
    page = client.get(_task_url(support_bot)).content.decode()
    assert "Default rules cannot be archived" in page
    default = _rule(editor_api, support_bot.model_id, "Default PII Rule")
    response = client.post(_task_url(support_bot, "rules/draft"), {"toggle": f"archive:{default.id}"}, follow=True)
    assert "Default rules cannot be deleted" in response.content.decode()
    assert "pending change" not in response.content.decode()


def test_viewer_sees_no_change_and_a_forged_post_names_the_permission(sign_in, support_bot, api_token, local_arthur):
    client = sign_in("viewer@example.com")
    page = client.get(_task_url(support_bot)).content.decode()
    for action in ("Add rule", "Regenerate key", "Delete task", ">Sync<", "Try it", 'data-toggle="disable"'):
        assert action not in page
    project = client.get(f"/projects/{support_bot.project_id}/").content.decode()
    assert "/tasks/new" not in project and "/tasks/link" not in project
    response = client.post(_task_url(support_bot, "sync"), {"idempotency_key": KEY})
    assert response.status_code == 403
    assert "model_task_sync" in response.content.decode()
    admin = client_for(local_arthur, api_token("admin@example.com"))
    assert not _jobs(admin, support_bot.project_id, "fetch_model_task")


def test_regenerate_key_then_sync(sign_in, support_bot, editor_api, engine, dataplane_agent) -> None:
    client = sign_in("editor@example.com")
    before = editor_api.get_task_connection_info(support_bot.model_id).validation_key
    response = client.post(
        _task_url(support_bot, "regenerate-key"), {"idempotency_key": KEY}, headers={"HX-Request": "true"}
    )
    assert response.status_code in (200, 286)
    page = response.content.decode()
    job_id = re.search(r'id="tracker-([0-9a-f-]{36})"', page).group(1)
    assert 'id="key-regenerate" hx-swap-oob="true"' in page  # the dialog's next submit is a new change
    assert _wait_job(editor_api, job_id).state == "completed"
    after = editor_api.get_task_connection_info(support_bot.model_id).validation_key
    assert after.id != before.id and after.key.get_secret_value() != before.key.get_secret_value()
    panel = client.get(_task_url(support_bot)).content.decode()
    assert after.key.get_secret_value()[-4:] in panel and after.key.get_secret_value() not in panel  # masked

    response = client.post(_task_url(support_bot, "sync"), {"idempotency_key": "s" * 20})
    assert _wait_job(editor_api, _job_id_from(response)).state == "completed"


def test_create_task_appears_by_onboarding_identifier(sign_in, support_bot, editor_api, engine, dataplane_agent):
    client = sign_in("editor@example.com")
    url = f"/projects/{support_bot.project_id}/tasks/new"
    page = client.get(url).content.decode()
    connector = re.search(r'<option value="([0-9a-f-]{36})"', page).group(1)
    typed = {
        "idempotency_key": KEY,
        "name": "returns-bot",
        "connector_id": connector,
        "onboarding_identifier": "returns-1",
    }
    # "Add a rule" twice, then "Remove" the first: editors come and go, nothing is sent, nothing is lost.
    page = client.post(url, {**typed, "rule_count": "0", "rule_action": "add"}).content.decode()
    assert 'id="id_rule-0-name"' in page and 'value="returns-bot"' in page and "field-error" not in page
    first = {"rule-0-name": "Dropped", "rule-0-type": "KeywordRule", "rule-0-keywords": "x"}
    page = client.post(url, {**typed, **first, "rule_count": "1", "rule_action": "add"}).content.decode()
    assert 'id="id_rule-1-name"' in page and 'value="Dropped"' in page
    second = {
        "rule-1-name": "No vouchers",
        "rule-1-type": "KeywordRule",
        "rule-1-apply_to_prompt": "on",
        "rule-1-keywords": "voucher\nfree gift",
    }
    page = client.post(url, {**typed, **first, **second, "rule_count": "2", "rule_action": "remove-0"}).content.decode()
    assert 'id="id_rule-1-name"' not in page and 'value="No vouchers"' in page and "Dropped" not in page
    assert all(
        job.job_spec["task_name"] != "returns-bot"
        for job in _jobs(editor_api, support_bot.project_id, "create_model_task")
    )

    moved = {key.replace("rule-1-", "rule-0-"): value for key, value in second.items()}
    response = client.post(url, {**typed, **moved, "rule_count": "1"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert "onboarding=returns-1" in response["Location"]
    assert _wait_job(editor_api, _job_id_from(response)).state == "completed"
    region = client.get(
        f"/projects/{support_bot.project_id}/models?onboarding=returns-1", headers={"HX-Request": "true"}
    )
    assert "The new task model is ready" in region.content.decode() and "returns-bot" in region.content.decode()
    model = editor_api.get_models(support_bot.project_id, onboarding_identifier="returns-1").records[0]
    rules = editor_api.get_task_state_cache(model.id).task.rules
    assert any(rule.name == "No vouchers" and rule.config == {"keywords": ["voucher", "free gift"]} for rule in rules)


def test_create_task_checks_each_initial_rule(sign_in, support_bot, editor_api) -> None:
    client = sign_in("editor@example.com")
    url = f"/projects/{support_bot.project_id}/tasks/new"
    connector = re.search(r'<option value="([0-9a-f-]{36})"', client.get(url).content.decode()).group(1)
    response = client.post(
        url,
        {
            "idempotency_key": KEY,
            "name": "t",
            "connector_id": connector,
            "rule_count": "1",
            "rule-0-name": "R",
            "rule-0-type": "RegexRule",
            "rule-0-apply_to_prompt": "on",
            "rule-0-regex_patterns": "[z-a]",
        },
    )
    assert response.status_code == 400
    assert 'data-error-for="regex_patterns">Invalid regex: [z-a]' in response.content.decode()
    assert len(_jobs(editor_api, support_bot.project_id, "create_model_task")) == 2  # the seeded ones only


def test_create_task_failure_keeps_what_was_typed(sign_in, support_bot) -> None:
    client = sign_in("editor@example.com")
    response = client.post(
        f"/projects/{support_bot.project_id}/tasks/new",
        {"idempotency_key": KEY, "name": "   ", "connector_id": "nope", "onboarding_identifier": "kept-id"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-error-for="name"' in page and 'data-error-for="connector_id"' in page and 'value="kept-id"' in page


def test_link_and_delete(sign_in, support_bot, editor_api, engine, dataplane_agent) -> None:
    client = sign_in("editor@example.com")
    task_id = editor_api.get_task_state_cache(support_bot.model_id).task.id
    page = client.get(f"/projects/{support_bot.project_id}/tasks/link").content.decode()
    connector = re.search(r'<option value="([0-9a-f-]{36})"', page).group(1)
    response = client.post(
        f"/projects/{support_bot.project_id}/tasks/link",
        {"idempotency_key": KEY, "task_id": task_id, "connector_id": connector, "onboarding_identifier": "linked-1"},
    )
    assert _wait_job(editor_api, _job_id_from(response)).state == "completed"
    linked = editor_api.get_models(support_bot.project_id, onboarding_identifier="linked-1").records[0]
    assert editor_api.get_task_state_cache(linked.id).task.id == task_id

    url = f"/projects/{support_bot.project_id}/tasks/{linked.id}/delete"
    page = client.get(url).content.decode()
    assert "removes the platform model too" in page
    wrong = client.post(url, {"idempotency_key": "d" * 20, "confirm_name": "support"})
    assert wrong.status_code == 400 and 'value="support"' in wrong.content.decode()
    response = client.post(url, {"idempotency_key": "d" * 20, "confirm_name": "support-bot"})
    assert response["Location"].startswith(f"/projects/{support_bot.project_id}/?job=")
    assert _wait_job(editor_api, _job_id_from(response)).state == "completed"
    assert not editor_api.get_models(support_bot.project_id, onboarding_identifier="linked-1").records


def test_connection_info_edit_and_delete(sign_in, support_bot, local_arthur, api_token) -> None:
    admin = client_for(local_arthur, api_token("admin@example.com"))
    client = sign_in("admin@example.com")
    url = _task_url(support_bot, "connection")
    page = client.get(url).content.decode()
    assert 'name="api_host"' in page and "/engine" in page
    bad = client.post(url, {"idempotency_key": KEY, "api_host": "ftp://x", "key_id": "k1", "key_name": "n", "key": ""})
    assert bad.status_code == 400
    assert 'data-error-for="api_host"' in bad.content.decode() and 'data-error-for="key"' in bad.content.decode()
    assert 'value="k1"' in bad.content.decode()
    response = client.post(
        url,
        {
            "idempotency_key": KEY,
            "api_host": "https://engine.example.com/",
            "key_id": "k1",
            "key_name": "n1",
            "key": "secret-value-1234",
        },
    )
    assert response.status_code == 302
    info = admin.get_task_connection_info(support_bot.model_id)
    assert (
        info.api_host == "https://engine.example.com"
        and info.validation_key.key.get_secret_value() == "secret-value-1234"
    )

    response = client.post(_task_url(support_bot, "connection/delete"), {"idempotency_key": KEY}, follow=True)
    assert "Connection info deleted." in response.content.decode()
    assert admin_connection_missing(admin, support_bot.model_id)


def admin_connection_missing(api, model_id: str) -> bool:
    from arthur_api.errors import ArthurNotFound

    try:
        api.get_task_connection_info(model_id)
    except ArthurNotFound:
        return True
    return False


def test_try_it_fails_the_keyword_rule(sign_in, support_bot, engine) -> None:
    client = sign_in("editor@example.com")
    response = client.post(
        _task_url(support_bot, "try"), {"prompt": "Tell me the refund hack please", "response": "No."}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'data-rule-name="Blocked Keywords Rule" data-result="fail"', page)
    assert 'data-rule-name="SSN Regex Rule" data-result="pass"' in page
    assert 'data-side="response"' in page and "unavailable" in page  # toxicity needs a model


def test_try_it_needs_the_connection_permission(sign_in, support_bot) -> None:
    client = sign_in("viewer@example.com")
    response = client.post(_task_url(support_bot, "try"), {"prompt": "hi"})
    assert response.status_code == 403 and "model_task_get_connection_info" in response.content.decode()


@pytest.mark.postgres
def test_concurrent_submits_start_one_job(sign_in, support_bot, editor_api) -> None:
    """Four submits of one form at the same moment (a frantic double click): one job, one answer."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def submit(client):
        try:
            return client.post(_task_url(support_bot, "sync"), {"idempotency_key": KEY})
        finally:
            connections.close_all()  # this worker thread's own connections

    clients = [sign_in("editor@example.com") for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(submit, clients))
    assert len({_job_id_from(answer) for answer in answers}) == 1
    assert len(_jobs(editor_api, support_bot.project_id, "fetch_model_task")) == 1


def test_api_field_errors_land_on_the_form_field() -> None:
    from arthur_api.errors import ArthurRejected, FieldError
    from tasks_ui.forms import ConnectionInfoForm

    form = ConnectionInfoForm(
        {"idempotency_key": KEY, "api_host": "https://x.example.com", "key_id": "a", "key_name": "b", "key": "c"}
    )
    assert form.is_valid()
    form.add_api_errors(
        ArthurRejected(
            "bad", status=422, field_errors=(FieldError(loc=("body", "validation_key", "id"), msg="too long"),)
        ),
        ConnectionInfoForm.API_FIELDS,
    )
    assert form.errors == {"key_id": ["too long"]}
    form = ConnectionInfoForm(
        {"idempotency_key": KEY, "api_host": "https://x.example.com", "key_id": "a", "key_name": "b", "key": "c"}
    )
    form.is_valid()
    form.add_api_errors(ArthurRejected("The connector must be an engine internal connector.", status=400))
    assert form.non_field_errors() == ["The connector must be an engine internal connector."]


def test_unreachable_arthur_keeps_the_form_and_frees_its_key(
    local_arthur, sign_in, support_bot, editor_api, partly_broken
):
    import requests
    import responses

    from tasks_ui.models import LedgerEntry

    client = sign_in("editor@example.com")
    page = client.get(f"/projects/{support_bot.project_id}/tasks/new").content.decode()
    connector = re.search(r'<option value="([0-9a-f-]{36})"', page).group(1)
    form = {
        "idempotency_key": KEY,
        "name": "typed-name",
        "connector_id": connector,
        "onboarding_identifier": "typed-id",
    }
    create_url = f"{local_arthur}/api/v1/projects/{support_bot.project_id}/tasks"
    partly_broken.add(responses.POST, create_url, body=requests.ConnectionError("connection refused"))
    response = client.post(f"/projects/{support_bot.project_id}/tasks/new", form)
    page = response.content.decode()
    assert response.status_code == 400
    assert "Arthur is unavailable" in page and 'value="typed-name"' in page and 'value="typed-id"' in page
    assert not LedgerEntry.objects.exists()  # nothing started, the key is free again

    partly_broken.remove(responses.POST, create_url)
    response = client.post(f"/projects/{support_bot.project_id}/tasks/new", form)
    assert response.status_code == 302
    assert [entry.job_id for entry in LedgerEntry.objects.all()] == [_job_id_from(response)]
    assert len(_jobs(editor_api, support_bot.project_id, "create_model_task")) == 3  # two seeded + this one


def test_confirm_pages_work_without_javascript(sign_in, support_bot) -> None:
    client = sign_in("editor@example.com")
    for suffix, button in (("sync", "Sync now"), ("regenerate-key", "Regenerate key")):
        page = client.get(_task_url(support_bot, suffix)).content.decode()
        assert f">{button}</button>" in page and 'name="idempotency_key"' in page and "hx-post" not in page
    page = client.get(_task_url(support_bot)).content.decode()
    # The dialogs' links lead to those pages when JavaScript does not open the dialog.
    assert f'href="{_task_url(support_bot, "sync")}" data-dialog="dialog-sync"' in page


def test_try_it_with_a_refused_key_says_so_and_keeps_the_person_signed_in(
    sign_in, support_bot, engine, local_arthur, api_token
) -> None:
    admin = client_for(local_arthur, api_token("admin@example.com"))
    info = admin.get_task_connection_info(support_bot.model_id)
    admin.put_task_connection_info(
        support_bot.model_id,
        {"api_host": info.api_host, "validation_key": {"id": "x", "name": "wrong", "key": "not-the-key"}},
    )
    client = sign_in("editor@example.com")
    response = client.post(_task_url(support_bot, "try"), {"prompt": "kept prompt text"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "The engine refused the task&#x27;s validation key" in page and "kept prompt text</textarea>" in page
    assert client.get(_task_url(support_bot)).status_code == 200  # still signed in


def test_engine_client_maps_the_refused_key(local_arthur, engine, api_token, support_bot) -> None:
    from arthur_api.engine import EngineClient, EngineKeyRefused

    admin = client_for(local_arthur, api_token("admin@example.com"))
    info = admin.get_task_connection_info(support_bot.model_id)
    task_id = admin.get_task_state_cache(support_bot.model_id).task.id
    good = EngineClient(info.api_host, info.validation_key.key.get_secret_value())
    result = good.validate_response(task_id, "call 555-12-3456 now")
    assert {rule.name: rule.result for rule in result.rule_results}["SSN Regex Rule"] == "Fail"
    with pytest.raises(EngineKeyRefused):
        EngineClient(info.api_host, "wrong").validate_prompt(task_id, "hello")


def test_a_forged_key_is_refused_before_anything_starts(sign_in, support_bot, editor_api) -> None:
    client = sign_in("editor@example.com")
    for key in ("short", "x" * 49, "not a key at all!!"):
        response = client.post(_task_url(support_bot, "sync"), {"idempotency_key": key})
        assert response.status_code == 400
    assert not _jobs(editor_api, support_bot.project_id, "fetch_model_task")
