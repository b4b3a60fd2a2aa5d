"""The engine store's own rules: default-rule linking, archiving, keys shown once and stored hashed."""

from __future__ import annotations

import pytest

from dataplane.models import EngineApiKey
from dataplane.store import EngineNotFound, EngineRejected, EngineStore

pytestmark = pytest.mark.django_db

KEYWORDS = {
    "name": "K",
    "type": "KeywordRule",
    "apply_to_prompt": True,
    "apply_to_response": False,
    "config": {"keywords": ["x"]},
}
TOXICITY = {"name": "T", "type": "ToxicityRule", "apply_to_prompt": True, "apply_to_response": True}


@pytest.fixture
def store():
    return EngineStore(api_host="http://engine.test/engine/")


def test_whitespace_task_names_are_refused(store):
    with pytest.raises(EngineRejected, match="^Task names cannot contain only white space characters$"):
        store.create_task("  \t")


def test_default_rules_link_to_tasks_created_after_them(store):
    before = store.create_task("before")
    default = store.add_default_rule(TOXICITY)
    after = store.create_task("after")
    assert store.task_response(before.id)["rules"] == []
    (rule,) = store.task_response(after.id)["rules"]
    assert rule["id"] == str(default.id) and rule["scope"] == "default" and rule["enabled"] is True
    assert rule["config"] == {"threshold": 0.5}


def test_disabling_a_default_rule_affects_one_task_only(store):
    default = store.add_default_rule(TOXICITY)
    first, second = store.create_task("a"), store.create_task("b")
    assert store.set_rule_enabled(first.id, default.id, False) is True
    assert store.task_response(first.id)["rules"][0]["enabled"] is False
    assert store.task_response(second.id)["rules"][0]["enabled"] is True
    assert store.set_rule_enabled(first.id, "not-a-rule", True) is False


def test_archive_rule_refusals_use_the_engine_messages(store):
    default = store.add_default_rule(TOXICITY)
    task, other = store.create_task("a"), store.create_task("b")
    foreign = store.add_task_rule(other.id, KEYWORDS)
    with pytest.raises(EngineRejected, match="^Default rules cannot be deleted"):
        store.archive_task_rule(task.id, default.id)
    with pytest.raises(EngineRejected, match="^This rule id is not associated with this task.$"):
        store.archive_task_rule(task.id, foreign.id)


def test_invalid_rules_are_refused_with_the_engine_message(store):
    task = store.create_task("a")
    with pytest.raises(EngineRejected, match="^This rule must be created with a config parameter$"):
        store.add_task_rule(task.id, {**KEYWORDS, "config": None})


def test_archiving_a_task_archives_its_rules(store):
    task = store.create_task("a")
    store.add_task_rule(task.id, KEYWORDS)
    store.archive_task(task.id)
    response = store.task_response(task.id)
    assert response["is_archived"] is True and response["rules"] == []
    with pytest.raises(EngineNotFound):
        store.archive_task("4dd1fae1-34b9-4aec-8abe-fe7bf12af31d")


def test_validation_keys_are_stored_hashed_and_deactivatable(store):
    task = store.create_task("a")
    key = store.create_validation_key(task.id)
    record = EngineApiKey.objects.get(id=key.id)
    assert key.key not in record.key_digest and record.roles == ["VALIDATION-USER"]
    assert record.description == f"Task Validation Key - {task.id}"
    assert store.authenticate_validation_key(task.id, key.key) == record
    store.deactivate_key(key.id)
    store.deactivate_key(key.id)  # again is fine
    assert store.authenticate_validation_key(task.id, key.key) is None
    with pytest.raises(EngineNotFound):
        store.deactivate_key("4dd1fae1-34b9-4aec-8abe-fe7bf12af31d")
    assert store.api_host == "http://engine.test/engine"
