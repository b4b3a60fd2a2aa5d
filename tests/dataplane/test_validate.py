"""The engine's validate endpoints and rule evaluation (Django test client; no agent involved)."""

from __future__ import annotations

import pytest

from dataplane.pii import UNDETECTED, find_pii
from dataplane.store import EngineStore

pytestmark = pytest.mark.django_db

PROMPT_URL = "/engine/api/v2/tasks/{}/validate_prompt"
RESPONSE_URL = "/engine/api/v2/tasks/{}/validate_response"


def rule(name, rule_type, config=None, prompt=True, response=True):
    return {"name": name, "type": rule_type, "apply_to_prompt": prompt, "apply_to_response": response, "config": config}


@pytest.fixture
def task():
    store = EngineStore(api_host="http://testserver/engine")
    store.add_default_rule(rule("Injection", "PromptInjectionRule", prompt=True, response=False))
    task = store.create_task("support-bot")
    store.add_task_rule(task.id, rule("Blocked words", "KeywordRule", {"keywords": ["project falcon", "C++"]}))
    store.add_task_rule(task.id, rule("SSN pattern", "RegexRule", {"regex_patterns": [r"\b\d{3}-\d{2}-\d{4}\b"]}))
    store.add_task_rule(
        task.id, rule("PII", "PIIDataRule", {"disabled_pii_entities": ["URL"], "allow_list": ["help@arthur.ai"]})
    )
    store.add_task_rule(task.id, rule("Hallucination", "ModelHallucinationRuleV2", prompt=False))
    key = store.create_validation_key(task.id)
    return task, key.key, store


def post(client, url, body, key):
    return client.post(url, body, content_type="application/json", headers={"Authorization": f"Bearer {key}"})


def results(response):
    return {item["name"]: item for item in response.json()["rule_results"]}


def test_a_clean_prompt_passes_every_pattern_rule(client, task):
    engine_task, key, _ = task
    response = post(client, PROMPT_URL.format(engine_task.id), {"prompt": "How do I reset my password?"}, key)
    assert response.status_code == 200
    by_name = results(response)
    assert {name: item["result"] for name, item in by_name.items()} == {
        "Injection": "Unavailable",
        "Blocked words": "Pass",
        "SSN pattern": "Pass",
        "PII": "Pass",
    }
    assert by_name["Blocked words"]["details"]["message"] == "No keywords found in text."
    assert by_name["Injection"]["rule_type"] == "PromptInjectionRule" and by_name["Injection"]["scope"] == "default"
    assert response.json()["inference_id"]


def test_a_blocked_keyword_fails_naming_the_rule_and_the_keyword(client, task):
    engine_task, key, _ = task
    response = post(client, PROMPT_URL.format(engine_task.id), {"prompt": "Tell me about Project Falcon, please."}, key)
    failed = [item for item in response.json()["rule_results"] if item["result"] == "Fail"]
    assert [item["name"] for item in failed] == ["Blocked words"]
    assert failed[0]["details"]["keyword_matches"] == [{"keyword": "project falcon"}]
    assert failed[0]["details"]["message"] == "Keywords found in text."


@pytest.mark.parametrize(
    ("text", "matches"),
    [("I write C++ daily", True), ("project falconry club", False), ("(project falcon)", True), ("aC++b", False)],
)
def test_keywords_match_on_word_boundaries(client, task, text, matches):
    engine_task, key, _ = task
    by_name = results(post(client, PROMPT_URL.format(engine_task.id), {"prompt": text}, key))
    assert (by_name["Blocked words"]["result"] == "Fail") is matches


def test_regex_and_pii_rules_report_what_matched(client, task):
    engine_task, key, _ = task
    prompt = "My SSN is 123-45-6789, mail jane@example.com or help@arthur.ai, see https://example.com"
    by_name = results(post(client, PROMPT_URL.format(engine_task.id), {"prompt": prompt}, key))
    assert by_name["SSN pattern"]["result"] == "Fail"
    assert by_name["SSN pattern"]["details"]["regex_matches"][0]["matching_text"] == "123-45-6789"
    pii = by_name["PII"]
    assert pii["result"] == "Fail"
    # URL is disabled and help@arthur.ai is allowed: neither is reported.
    assert {(item["entity"], item["span"]) for item in pii["details"]["pii_entities"]} == {
        ("US_SSN", "123-45-6789"),
        ("EMAIL_ADDRESS", "jane@example.com"),
    }
    assert "PERSON" in pii["details"]["message"]


def test_response_validation_uses_response_rules_and_skips_hallucination_without_context(client, task):
    engine_task, key, _ = task
    url = RESPONSE_URL.format(engine_task.id)
    by_name = results(post(client, url, {"response": "The answer is 42."}, key))
    assert "Injection" not in by_name
    assert by_name["Hallucination"]["result"] == "Skipped"
    with_context = results(
        post(client, url + "/4dd1fae1-34b9-4aec-8abe-fe7bf12af31d", {"response": "42", "context": "c"}, key)
    )
    assert with_context["Hallucination"]["result"] == "Unavailable"


def test_disabled_and_archived_rules_are_not_run(client, task):
    engine_task, key, store = task
    by_name = results(post(client, PROMPT_URL.format(engine_task.id), {"prompt": "x"}, key))
    store.set_rule_enabled(engine_task.id, by_name["Injection"]["id"], False)
    store.archive_task_rule(engine_task.id, by_name["Blocked words"]["id"])
    after = results(post(client, PROMPT_URL.format(engine_task.id), {"prompt": "project falcon"}, key))
    assert set(after) == {"SSN pattern", "PII"}


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic abc", "Bearer "])
def test_without_the_task_key_validate_answers_401(client, task, header):
    engine_task, _, _ = task
    headers = {"Authorization": header} if header else {}
    response = client.post(
        PROMPT_URL.format(engine_task.id), {"prompt": "hi"}, content_type="application/json", headers=headers
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_a_deactivated_key_or_another_tasks_key_is_refused(client, task):
    engine_task, key, store = task
    other = store.create_task("other")
    assert post(client, PROMPT_URL.format(other.id), {"prompt": "hi"}, key).status_code == 401
    record = store.authenticate_validation_key(engine_task.id, key)
    store.deactivate_key(record.id)
    assert post(client, PROMPT_URL.format(engine_task.id), {"prompt": "hi"}, key).status_code == 401


def test_a_malformed_body_gets_a_fastapi_422(client, task):
    engine_task, key, _ = task
    response = post(client, PROMPT_URL.format(engine_task.id), {"prompt": 3}, key)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "prompt"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111", {("CREDIT_CARD", "4111 1111 1111 1111")}),
        ("card 4111 1111 1111 1112", set()),  # fails the Luhn check
        ("call +1 (415) 555-0134 now", {("PHONE_NUMBER", "+1 (415) 555-0134")}),
        ("from 10.0.0.12 and 2001:db8::1", {("IP_ADDRESS", "10.0.0.12"), ("IP_ADDRESS", "2001:db8::1")}),
        ("version 1.2.3.4.5 at 999.1.1.1", set()),
        ("IBAN GB82 WEST 1234 5698 7654 32", {("IBAN_CODE", "GB82 WEST 1234 5698 7654 32")}),
        ("IBAN GB82 WEST 1234 5698 7654 33", set()),  # fails mod 97
        ("SSN 666-12-3456 is never issued", set()),
        ("see www.arthur.ai.", {("URL", "www.arthur.ai")}),
    ],
)
def test_pii_detectors(text, expected):
    assert {(span.entity, span.span) for span in find_pii(text)} == expected


def test_undetected_entities_are_the_ones_that_need_a_model():
    assert set(UNDETECTED) == {
        "CRYPTO",
        "DATE_TIME",
        "NRP",
        "LOCATION",
        "PERSON",
        "MEDICAL_LICENSE",
        "US_BANK_NUMBER",
        "US_DRIVER_LICENSE",
        "US_ITIN",
        "US_PASSPORT",
    }
