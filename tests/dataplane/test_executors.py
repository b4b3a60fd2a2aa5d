"""The job executors against the real engine store and an in-memory control plane."""

from __future__ import annotations

import pytest

from arthur_api.errors import ArthurUnavailable
from dataplane.executors import EXECUTORS, JobFailed
from dataplane.models import AppliedJob, EngineApiKey, EngineRule, EngineTask
from dataplane.ports import ModelInfo
from dataplane.store import EngineRejected, EngineStore
from tests.dataplane.fakes import FakePort, ListLog

pytestmark = pytest.mark.django_db

KEYWORD_RULE = {
    "name": "Blocked words",
    "type": "KeywordRule",
    "apply_to_prompt": True,
    "apply_to_response": True,
    "config": {"keywords": ["classified"]},
}
INJECTION_RULE = {
    "name": "Injection",
    "type": "PromptInjectionRule",
    "apply_to_prompt": True,
    "apply_to_response": False,
}


@pytest.fixture
def store():
    return EngineStore(api_host="http://engine.test/engine")


@pytest.fixture
def port():
    return FakePort()


def run(kind, store, port, spec):
    log = ListLog()
    EXECUTORS[kind](store, port, spec, log)
    return log


def create(store, port, rules=(KEYWORD_RULE,), name="support-bot"):
    connector_id = port.add_connector()
    run(
        "create_model_task",
        store,
        port,
        {
            "job_type": "create_model_task",
            "connector_id": connector_id,
            "task_name": name,
            "onboarding_identifier": "onb-1",
            "initial_rules": list(rules),
        },
    )
    (model_id,) = port.models
    return model_id


def cached_rules(port, model_id):
    return {rule["name"]: rule for rule in port.caches[model_id]["task"]["rules"]}


def test_create_makes_task_with_default_rules_model_key_and_cache(store, port):
    default = store.add_default_rule(INJECTION_RULE)
    model_id = create(store, port)

    task = EngineTask.objects.get()
    cache = port.caches[model_id]["task"]
    assert cache["id"] == str(task.id) and cache["name"] == "support-bot"
    rules = cached_rules(port, model_id)
    assert rules["Blocked words"]["scope"] == "task" and rules["Blocked words"]["enabled"] is True
    assert rules["Injection"]["scope"] == "default" and rules["Injection"]["id"] == str(default.id)
    assert isinstance(cache["created_at"], int)
    (dataset,) = port.datasets.values()
    assert dataset.locator == {"task_id": str(task.id)}
    info = port.connection_info[model_id]
    assert info["api_host"] == "http://engine.test/engine"
    assert info["validation_key"]["name"] == f"Task Validation Key - {task.id}"
    assert store.authenticate_validation_key(task.id, info["validation_key"]["key"]) is not None


def test_create_rolls_everything_back_when_a_late_step_fails(store, port):
    port.broken = "put_task_cache"
    with pytest.raises(ArthurUnavailable):
        create(store, port)
    assert port.models == {} and port.datasets == {}
    assert EngineTask.objects.get().is_archived
    assert not EngineApiKey.objects.filter(is_active=True).exists()


def test_create_with_an_invalid_rule_fails_with_the_engine_message_and_leaves_no_task(store, port):
    # The task and its rules are one transaction: the refused rule takes the task back with it.
    bad = {**KEYWORD_RULE, "type": "RegexRule", "config": {"regex_patterns": ["(unclosed"]}}
    with pytest.raises(EngineRejected, match=r"^Invalid regex: \(unclosed$"):
        create(store, port, rules=(KEYWORD_RULE, bad))
    assert not EngineTask.objects.exists() and not EngineRule.objects.exists()
    assert port.models == {} and port.datasets == {}
    assert not AppliedJob.objects.exists()


def test_create_refuses_a_connector_that_is_not_an_engine_connector(store, port):
    connector_id = port.add_connector("S3")
    with pytest.raises(JobFailed, match="only works with Shield connectors"):
        run("create_model_task", store, port, {"connector_id": connector_id, "task_name": "t", "initial_rules": []})
    assert not EngineTask.objects.exists()


def test_patch_disables_adds_and_archives_then_uploads(store, port):
    store.add_default_rule(INJECTION_RULE)
    model_id = create(store, port)
    rules = cached_rules(port, model_id)
    new_regex = {
        **KEYWORD_RULE,
        "name": "SSN",
        "type": "RegexRule",
        "config": {"regex_patterns": [r"\d{3}-\d{2}-\d{4}"]},
    }
    log = run(
        "update_model_task_rules",
        store,
        port,
        {
            "scope_model_id": model_id,
            "rules_to_disable": [rules["Injection"]["id"]],
            "rules_to_add": [new_regex],
            "rules_to_archive": [rules["Blocked words"]["id"]],
        },
    )
    after = cached_rules(port, model_id)
    assert after["Injection"]["enabled"] is False
    assert after["SSN"]["enabled"] is True and after["SSN"]["config"] == {"regex_patterns": [r"\d{3}-\d{2}-\d{4}"]}
    assert "Blocked words" not in after
    assert "Disabled rule" in log.text() and "Archived rule" in log.text()


def test_patch_archiving_a_default_rule_is_logged_and_skipped(store, port):
    store.add_default_rule(INJECTION_RULE)
    model_id = create(store, port)
    injection_id = cached_rules(port, model_id)["Injection"]["id"]
    log = run("update_model_task_rules", store, port, {"scope_model_id": model_id, "rules_to_archive": [injection_id]})
    assert "Default rules cannot be deleted" in log.text()
    assert cached_rules(port, model_id)["Injection"]["enabled"] is True


def test_patch_with_a_bad_regex_fails_and_changes_nothing(store, port):
    model_id = create(store, port)
    before = port.caches[model_id]
    keyword_id = cached_rules(port, model_id)["Blocked words"]["id"]
    good = {**KEYWORD_RULE, "name": "Good", "config": {"keywords": ["x"]}}
    bad = {**KEYWORD_RULE, "name": "Bad", "type": "RegexRule", "config": {"regex_patterns": ["[a-"]}}
    log = ListLog()
    with pytest.raises(EngineRejected, match=r"^Invalid regex: \[a-$"):
        EXECUTORS["update_model_task_rules"](
            store,
            port,
            {"scope_model_id": model_id, "rules_to_add": [good, bad], "rules_to_disable": [keyword_id]},
            log,
        )
    assert "Rolling back: remove added rule" in log.text()
    assert port.caches[model_id] is before
    engine_now = store.task_response(before["task"]["id"])
    assert [rule["name"] for rule in engine_now["rules"]] == ["Blocked words"]
    assert engine_now["rules"][0]["enabled"] is True
    assert not EngineRule.objects.filter(name__in=["Good", "Bad"]).exists()


def test_sync_uploads_a_change_made_in_the_engine(store, port):
    model_id = create(store, port)
    task_id = port.caches[model_id]["task"]["id"]
    store.add_task_rule(task_id, {**KEYWORD_RULE, "name": "Added in the engine"})
    run("fetch_model_task", store, port, {"scope_model_id": model_id})
    assert "Added in the engine" in cached_rules(port, model_id)


def test_regenerate_replaces_the_key_and_deactivates_the_old_one(store, port):
    model_id = create(store, port)
    task_id = port.caches[model_id]["task"]["id"]
    old = port.connection_info[model_id]["validation_key"]
    run("regenerate_task_validation_key", store, port, {"scope_model_id": model_id})
    new = port.connection_info[model_id]["validation_key"]
    assert new["id"] != old["id"] and new["key"] != old["key"]
    assert store.authenticate_validation_key(task_id, old["key"]) is None
    assert store.authenticate_validation_key(task_id, new["key"]) is not None


def test_regenerate_keeps_the_old_key_when_storing_the_new_one_fails(store, port):
    model_id = create(store, port)
    task_id = port.caches[model_id]["task"]["id"]
    old = port.connection_info[model_id]["validation_key"]
    port.broken = "put_connection_info"
    with pytest.raises(ArthurUnavailable):
        run("regenerate_task_validation_key", store, port, {"scope_model_id": model_id})
    assert port.connection_info[model_id]["validation_key"] == old
    assert store.authenticate_validation_key(task_id, old["key"]) is not None
    assert EngineApiKey.objects.filter(is_active=True).count() == 1


def test_delete_removes_everything_and_is_idempotent(store, port):
    model_id = create(store, port)
    task_id = port.caches[model_id]["task"]["id"]
    key = port.connection_info[model_id]["validation_key"]["key"]
    run("delete_model_task", store, port, {"scope_model_id": model_id})
    assert port.models == {} and port.datasets == {} and port.connection_info == {} and port.caches == {}
    assert EngineTask.objects.get(id=task_id).is_archived
    assert store.authenticate_validation_key(task_id, key) is None
    log = run("delete_model_task", store, port, {"scope_model_id": model_id})
    assert "nothing left to delete" in log.text()


def test_link_gives_an_existing_task_a_model_without_touching_its_rules(store, port):
    task = store.create_task("existing")
    store.add_task_rule(task.id, KEYWORD_RULE)
    connector_id = port.add_connector()
    run("create_model_link_task", store, port, {"task_id": str(task.id), "connector_id": connector_id})
    (model_id,) = port.models
    assert cached_rules(port, model_id).keys() == {"Blocked words"}
    port.broken = "put_connection_info"
    with pytest.raises(ArthurUnavailable):
        run("create_model_link_task", store, port, {"task_id": str(task.id), "connector_id": connector_id})
    assert list(port.models) == [model_id]
    assert not EngineTask.objects.get(id=task.id).is_archived


def test_a_model_that_is_not_a_task_model_fails_the_lookup(store, port):
    port.models["m"] = ModelInfo("m", port.project_id, "tabular")
    with pytest.raises(JobFailed, match="not a task model"):
        run("fetch_model_task", store, port, {"scope_model_id": "m"})
